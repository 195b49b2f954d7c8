package devstack

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestFailNext(t *testing.T) {
	s := startStack(t, Options{})
	if err := s.FailNext("nope", 500); err == nil {
		t.Error("FailNext accepted an unknown service")
	}
	if err := s.FailNext(ServiceAzure, 200); err == nil {
		t.Error("FailNext accepted a success status")
	}

	// Two faults, then the service again; the devstack API is never faulted.
	if err := s.FailNext(ServiceIssuer, 503, 500); err != nil {
		t.Fatal(err)
	}
	if status, _ := call(t, http.MethodGet, s.URL+"/devstack/credentials", nil, ""); status != http.StatusOK {
		t.Errorf("/devstack/credentials faulted: %d", status)
	}
	for _, want := range []int{503, 500, 200} {
		status, body := call(t, http.MethodGet, s.IssuerURL+discoveryPath, nil, "")
		if status != want {
			t.Errorf("discovery: %d %s, want %d", status, body, want)
		}
	}

	// Each service answers in its own error format.
	if err := s.InjectFaults(ServiceAWS, Fault{Status: 403, Message: "denied by the test"}); err != nil {
		t.Fatal(err)
	}
	status, body := call(t, http.MethodPost, s.STSURL+"/", formHeader, "Action=GetCallerIdentity")
	if e := stsErrorOf(t, body); status != 403 || e.Code != "AccessDenied" || e.Message != "denied by the test" {
		t.Errorf("aws fault: %d %+v", status, e)
	}
	formats := map[string]struct {
		url, want string
	}{
		ServiceVault:         {s.VaultAddr + "/v1/sys/health", `"errors":[`},
		ServiceGitHub:        {s.GitHubAPIURL + "/installation/repositories", `"message":`},
		ServiceGCPSTS:        {s.GCPSTSURL + "/v1/token", `"error":"temporarily_unavailable"`},
		ServiceGCPIAM:        {s.GCPIAMURL + "/v1/x", `"status":"UNAVAILABLE"`},
		ServiceTokenExchange: {s.TokenExchangeURL, `"error":"temporarily_unavailable"`},
		ServiceAzure:         {s.AzureAuthorityURL + "/t/oauth2/v2.0/token", `AADSTS90033:`},
	}
	for svc, f := range formats {
		if err := s.FailNext(svc, 503); err != nil {
			t.Fatal(err)
		}
		status, body := call(t, http.MethodPost, f.url, nil, "")
		if status != 503 || !strings.Contains(string(body), f.want) || !strings.Contains(string(body), "injected fault") {
			t.Errorf("%s fault: %d %s, want %s", svc, status, body, f.want)
		}
	}
}

func TestGeneratedConfigAllProviders(t *testing.T) {
	s := startStack(t, Options{AllProviders: true})
	data, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Scopes []map[string]any `yaml:"scopes"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("config: %v\n%s", err, data)
	}
	want := map[string]map[string]any{
		"deploy": {"provider": "aws", "role-arn": AWSRoleARN, "region": "us-east-1", "endpoint": s.STSURL, "audience": Audience, "duration": "15m"},
		"gcloud": {"provider": "gcp", "workload-identity-provider": GCPWorkloadIdentityProvider, "audience": Audience,
			"service-account": GCPServiceAccount, "project-id": GCPProjectID, "lifetime": "15m", "sts-url": s.GCPSTSURL, "iamcredentials-url": s.GCPIAMURL},
		"api": {"provider": "token-exchange", "token-url": s.TokenExchangeURL, "revocation-url": s.TokenRevocationURL, "audience": Audience,
			"target-audience": TokenExchangeTarget, "env": "API_ACCESS_TOKEN"},
		"azure": {"provider": "azure", "tenant-id": AzureTenantID, "client-id": AzureClientID, "authority": s.AzureAuthorityURL, "audience": Audience},
	}
	names := []string{}
	for _, sc := range cfg.Scopes {
		name, _ := sc["name"].(string)
		names = append(names, name)
		w, ok := want[name]
		if !ok {
			continue
		}
		for k, v := range w {
			if sc[k] != v {
				t.Errorf("scope %s: %s = %v, want %v", name, k, sc[k], v)
			}
		}
	}
	if strings.Join(names, ",") != "db,repo,deploy,gcloud,api,azure" {
		t.Errorf("scopes %v", names)
	}
	// Without the option the config stays vault + github.
	if cfg := readConfig(t, startStack(t, Options{}).ConfigPath); len(cfg.Scopes) != 2 {
		t.Errorf("default config has %d scopes, want 2", len(cfg.Scopes))
	}
}
