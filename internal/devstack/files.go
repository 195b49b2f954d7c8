package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

// Names of the files a Stack writes into its directory.
const (
	signingKeyFile = "signing-key.pem"
	publicKeyFile  = "signing-key.pub"
	configFile     = "chaperone.yml"
)

// writeSigningKey writes a fresh ECDSA P-256 key as PEM PKCS#8 (0600) and
// its PEM PKIX public key next to it. The generated config signs
// attestations with it; verifiers are handed the public half.
func writeSigningKey(privPath, pubPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("encoding public key: %w", err)
	}
	if err := atomicfile.Write(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
}

// generatedConfig is the chaperone config (.chaperone.yml) using the
// providers the stack serves: vault and github, plus aws, gcp,
// token-exchange and azure when all is set. Every scope presents the
// audience Audience, so the config works on a GitLab stack too, whose
// environment holds one ID token with that audience. The github scope
// names the API with api: for the same reason (GitLab sets no
// GITHUB_API_URL).
func (s *Stack) generatedConfig(all bool) []byte {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("version: 1")
	line("identity: {source: auto}")
	line("scopes:")
	line("  - name: db")
	line("    provider: vault")
	line("    address: %s", yamlScalar(s.VaultAddr))
	line("    role: %s", VaultRole)
	line("    audience: %s", Audience)
	line("    secrets:")
	line("      - {path: secret/data/ci/db, field: password, env: DB_PASSWORD}")
	line("      - {path: secret/data/ci/db, field: username, env: DB_USERNAME}")
	line("      - {path: secret/data/ci/api, field: token, env: API_TOKEN}")
	line("  - name: repo")
	line("    provider: github")
	line("    address: %s", yamlScalar(s.GitHubSTSURL))
	line("    api: %s", yamlScalar(s.GitHubAPIURL))
	line("    audience: %s", Audience)
	line("    scope: %s", Repository)
	line("    identity: %s", GitHubIdentity)
	line("    env: GITHUB_TOKEN")
	if all {
		line("  - name: deploy")
		line("    provider: aws")
		line("    role-arn: %s", yamlScalar(AWSRoleARN))
		line("    region: us-east-1")
		line("    endpoint: %s", yamlScalar(s.STSURL))
		line("    audience: %s", Audience)
		line("    duration: 15m")
		line("  - name: gcloud")
		line("    provider: gcp")
		line("    workload-identity-provider: %s", yamlScalar(GCPWorkloadIdentityProvider))
		line("    audience: %s", Audience)
		line("    service-account: %s", yamlScalar(GCPServiceAccount))
		line("    project-id: %s", GCPProjectID)
		line("    lifetime: 15m")
		line("    sts-url: %s", yamlScalar(s.GCPSTSURL))
		line("    iamcredentials-url: %s", yamlScalar(s.GCPIAMURL))
		line("  - name: api")
		line("    provider: token-exchange")
		line("    token-url: %s", yamlScalar(s.TokenExchangeURL))
		line("    revocation-url: %s", yamlScalar(s.TokenRevocationURL))
		line("    audience: %s", Audience)
		line("    target-audience: %s", TokenExchangeTarget)
		line("    scopes: [read]")
		line("    env: API_ACCESS_TOKEN")
		line("  - name: azure")
		line("    provider: azure")
		line("    tenant-id: %s", AzureTenantID)
		line("    client-id: %s", AzureClientID)
		line("    authority: %s", yamlScalar(s.AzureAuthorityURL))
		line("    audience: %s", Audience)
	}
	line("attest:")
	line("  signer: %s", yamlScalar("key:"+s.SigningKeyPath))
	line("  output: chaperone.sigstore.json")
	return []byte(b.String())
}

// plainYAML matches values that YAML reads back as the same plain string.
var plainYAML = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*$`)

// yamlScalar returns s as a plain scalar when that is unambiguous and as a
// double-quoted scalar otherwise (a temp dir with a space, say).
func yamlScalar(s string) string {
	if plainYAML.MatchString(s) && !strings.Contains(s, ": ") {
		return s
	}
	return strconv.Quote(s)
}
