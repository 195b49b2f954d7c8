package masking

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// A generated GKE deployment's credentials: a kubeconfig and a service
// account key, with the names and addresses around them.
type cloudCreds struct {
	project, region, cluster, context, user, server, email, clientID string
	caData, token, clientKeyData, keyID, privateKey                  string
	kubeconfig, serviceAccount                                       string
}

func genCloudCreds(r *rand.Rand) cloudCreds {
	const lower, alnum = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	word := func(chars string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	pem := func(kind string, n int) string {
		body := base64.StdEncoding.EncodeToString(random(n))
		var b strings.Builder
		b.WriteString("-----BEGIN " + kind + "-----\n")
		for len(body) > 64 {
			b.WriteString(body[:64] + "\n")
			body = body[64:]
		}
		b.WriteString(body + "\n-----END " + kind + "-----\n")
		return b.String()
	}
	var c cloudCreds
	c.project = fmt.Sprintf("%s-prod-%d", word(lower, 4+r.IntN(4)), 1000+r.IntN(9000))
	c.region = []string{"europe-west1", "us-central1", "asia-east1"}[r.IntN(3)]
	c.cluster = "prod-" + word(lower, 5)
	c.context = fmt.Sprintf("gke_%s_%s_%s", c.project, c.region, c.cluster)
	c.user = "ci-deployer"
	c.server = fmt.Sprintf("https://34.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))
	c.email = c.user + "@" + c.project + ".iam.gserviceaccount.com"
	c.clientID = fmt.Sprintf("1%019d%d", r.Uint64()%10000000000000000000, r.IntN(10))
	c.caData = base64.StdEncoding.EncodeToString([]byte(pem("CERTIFICATE", 600)))
	c.token = "ya29." + word(alnum+"-_", 150)
	c.clientKeyData = base64.StdEncoding.EncodeToString([]byte(pem("RSA PRIVATE KEY", 900)))
	c.keyID = hex.EncodeToString(random(20))
	c.privateKey = pem("PRIVATE KEY", 1200)
	c.kubeconfig = fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: %s
contexts:
- context:
    cluster: %s
    namespace: prod
    user: %s
  name: %s
current-context: %s
kind: Config
preferences: {}
users:
- name: %s
  user:
    token: %s
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
`, c.caData, c.server, c.context, c.context, c.user, c.context, c.context, c.user, c.token, c.caData, c.clientKeyData)
	type key struct {
		Type                    string `json:"type"`
		ProjectID               string `json:"project_id"`
		PrivateKeyID            string `json:"private_key_id"`
		PrivateKey              string `json:"private_key"`
		ClientEmail             string `json:"client_email"`
		ClientID                string `json:"client_id"`
		AuthURI                 string `json:"auth_uri"`
		TokenURI                string `json:"token_uri"`
		AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
		ClientX509CertURL       string `json:"client_x509_cert_url"`
		UniverseDomain          string `json:"universe_domain"`
	}
	doc, _ := json.MarshalIndent(key{"service_account", c.project, c.keyID, c.privateKey, c.email, c.clientID,
		"https://accounts.google.com/o/oauth2/auth", "https://oauth2.googleapis.com/token",
		"https://www.googleapis.com/oauth2/v1/certs",
		"https://www.googleapis.com/robot/v1/metadata/x509/" + strings.ReplaceAll(c.email, "@", "%40"),
		"googleapis.com"}, "", "  ")
	c.serviceAccount = string(doc) + "\n"
	return c
}

// genCloudLog returns the log of a deployment job that uses the
// credentials without printing them: gcloud, kubectl and terraform output
// full of the names, addresses and structure around them.
func genCloudLog(r *rand.Rand, c cloudCreds) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pod := func() string { return fmt.Sprintf("web-%x-%x", r.Uint32()&0xfffffff, r.Uint32()&0xfffff) }
	p("$ gcloud auth activate-service-account --key-file=/tmp/sa.json\n")
	p("Activated service account credentials for: [%s]\n", c.email)
	p("$ gcloud config set project %s\nUpdated property [core/project].\n", c.project)
	p("$ gcloud auth list\n                  Credentialed Accounts\nACTIVE  ACCOUNT\n*       %s\n\n", c.email)
	p("To set the active account, run:\n    $ gcloud config set account `ACCOUNT`\n\n")
	p("$ gcloud iam service-accounts describe %s\ndisplayName: CI deployer\nemail: %s\netag: MDEwMjE5MjA=\n", c.email, c.email)
	p("name: projects/%s/serviceAccounts/%s\noauth2ClientId: '%s'\nprojectId: %s\nuniqueId: '%s'\n", c.project, c.email, c.clientID, c.project, c.clientID)
	p("$ gcloud container clusters get-credentials %s --region %s --project %s\n", c.cluster, c.region, c.project)
	p("Fetching cluster endpoint and auth data.\nkubeconfig entry generated for %s.\n", c.cluster)
	p("$ gcloud container clusters describe %s --region %s --format=yaml\n", c.cluster, c.region)
	p("endpoint: %s\nmasterAuth:\n  clusterCaCertificate: %s\nname: %s\nselfLink: https://container.googleapis.com/v1/projects/%s/locations/%s/clusters/%s\nstatus: RUNNING\n",
		strings.TrimPrefix(c.server, "https://"), c.caData, c.cluster, c.project, c.region, c.cluster)
	p("$ kubectl config current-context\n%s\n", c.context)
	p("$ kubectl config view\napiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: DATA+OMITTED\n    server: %s\n  name: %s\n", c.server, c.context)
	p("contexts:\n- context:\n    cluster: %s\n    namespace: prod\n    user: %s\n  name: %s\ncurrent-context: %s\nkind: Config\npreferences: {}\n", c.context, c.user, c.context, c.context)
	p("users:\n- name: %s\n  user:\n    token: REDACTED\n- name: admin\n  user:\n    client-certificate-data: DATA+OMITTED\n    client-key-data: DATA+OMITTED\n", c.user)
	p("$ kubectl cluster-info\nKubernetes control plane is running at %s\nGLBCDefaultBackend is running at %s/api/v1/namespaces/kube-system/services/default-http-backend:http/proxy\n", c.server, c.server)
	p("$ kubectl get nodes\nNAME                                   STATUS   ROLES    AGE   VERSION\n")
	for i := range 3 {
		p("gke-%s-default-pool-%08x-%04x   Ready    <none>   %dd   v1.29.%d-gke.1060000\n", c.cluster, r.Uint32(), i, 3+r.IntN(40), r.IntN(9))
	}
	p("$ kubectl apply -f k8s/\ndeployment.apps/web configured\nservice/web unchanged\ningress.networking.k8s.io/web unchanged\n")
	p("$ kubectl rollout status deployment/web -n prod\n")
	for i := range 3 {
		p("Waiting for deployment \"web\" rollout to finish: %d of 3 updated replicas are available...\n", i)
	}
	p("deployment \"web\" successfully rolled out\n$ kubectl get pods -n prod -o wide\n")
	for range 3 {
		p("%s   1/1     Running   0          %ds   10.%d.%d.%d   gke-%s-default-pool-%08x-%04x\n", pod(), r.IntN(90), r.IntN(256), r.IntN(256), r.IntN(256), c.cluster, r.Uint32(), r.IntN(65536))
	}
	p("$ kubectl get deployment web -n prod -o yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    deployment.kubernetes.io/revision: \"%d\"\n", 2+r.IntN(50))
	p("  name: web\n  namespace: prod\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - image: %s-docker.pkg.dev/%s/web/web:%x\n        name: web\n", c.region, c.project, r.Uint64())
	p("      serviceAccountName: web\nstatus:\n  availableReplicas: 3\n")
	p("$ terraform apply -auto-approve\ngoogle_service_account.ci: Refreshing state... [id=projects/%s/serviceAccounts/%s]\n", c.project, c.email)
	p("google_container_cluster.prod: Refreshing state... [id=projects/%s/locations/%s/clusters/%s]\n\n", c.project, c.region, c.cluster)
	p("Terraform will perform the following actions:\n\n  # google_project_iam_member.deployer will be updated in-place\n  ~ resource \"google_project_iam_member\" \"deployer\" {\n")
	p("        id      = \"%s/roles/container.developer/serviceAccount:%s\"\n      ~ member  = \"serviceAccount:old@%s.iam.gserviceaccount.com\" -> \"serviceAccount:%s\"\n", c.project, c.email, c.project, c.email)
	p("        project = \"%s\"\n        role    = \"roles/container.developer\"\n    }\n\nPlan: 0 to add, 1 to change, 0 to destroy.\n", c.project)
	p("google_project_iam_member.deployer: Modifying... [id=%s/roles/container.developer]\n", c.project)
	p("google_project_iam_member.deployer: Modifications complete after 2s\n\nApply complete! Resources: 0 added, 1 changed, 0 destroyed.\n\nOutputs:\n\n")
	p("cluster_endpoint = \"%s\"\nservice_account_email = \"%s\"\ntype = \"service_account\"\ntoken_uri = \"https://oauth2.googleapis.com/token\"\nuniverse_domain = \"googleapis.com\"\n",
		strings.TrimPrefix(c.server, "https://"), c.email)
	p("$ gcloud iam service-accounts keys list --iam-account=%s\nKEY_ID                                    CREATED_AT            EXPIRES_AT            DISABLED\n%s  2026-01-01T00:00:00Z  9999-12-31T23:59:59Z\n", c.email, c.keyID)
	return b.String()
}

// maskSplits masks input whole, one byte per write, and split at every
// offset, and fails unless each gives want.
func maskSplits(t *testing.T, set *Set, input, want string) {
	t.Helper()
	run := func(cuts ...int) string {
		var out bytes.Buffer
		w := set.NewWriter(&out)
		prev := 0
		for _, c := range append(cuts, len(input)) {
			if _, err := io.WriteString(w, input[prev:c]); err != nil {
				t.Fatal(err)
			}
			prev = c
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if got := run(); got != want {
		t.Fatalf("whole: got\n%s\nwant\n%s", got, want)
	}
	bytewise := make([]int, len(input))
	for i := range bytewise {
		bytewise[i] = i
	}
	if got := run(bytewise...); got != want {
		t.Fatalf("byte by byte: got\n%s\nwant\n%s", got, want)
	}
	for i := 1; i < len(input); i++ {
		if got := run(i); got != want {
			t.Fatalf("split at %d: got\n%s\nwant\n%s", i, got, want)
		}
	}
}

// Registering a kubeconfig and a service account key masks their secret
// material, not their structure: a deployment job's gcloud, kubectl and
// terraform output, full of the project, cluster, context and user names,
// the e-mail address, the key id, the API addresses and the cluster's CA
// certificate, comes out unchanged, whole, byte by byte and at every
// split, while every secret in them is masked when printed.
func TestStructuredSecretsMaskMaterialNotStructure(t *testing.T) {
	for seed := range 3 {
		r := rand.New(rand.NewPCG(21, uint64(seed)))
		c := genCloudCreds(r)
		set := newSet(t, Options{}, c.kubeconfig, c.serviceAccount)
		if w := set.Warnings(); len(w) != 0 {
			t.Fatalf("warnings: %v", w)
		}
		log := genCloudLog(r, c)
		maskSplits(t, set, log, log)
		if n := set.Redactions(); n != 0 {
			t.Fatalf("%d masks in a log that prints no secret", n)
		}

		// The secret material is masked, printed on its own or in the
		// documents.
		material := []string{c.token, c.clientKeyData, c.privateKey}
		for _, l := range strings.Split(c.privateKey, "\n") {
			if len(l) == 64 {
				material = append(material, l)
			}
		}
		leaks := []string{
			"token=" + c.token + "\n",
			"$ kubectl config view --raw\n" + c.kubeconfig,
			"$ cat /tmp/sa.json\n" + c.serviceAccount,
			"$ jq -r .private_key /tmp/sa.json\n" + c.privateKey,
			"$ echo " + strings.Join(strings.Fields(strings.ReplaceAll(c.serviceAccount, `"`, "")), " ") + "\n",
			"+ kubectl --token " + c.token + " get pods\n",
			"client-key-data: " + c.clientKeyData + "\n",
			"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2accesstoken:"+c.token)) + "\n",
		}
		for _, in := range leaks {
			got := set.MaskString(in)
			for _, m := range material {
				if strings.Contains(got, m) {
					t.Fatalf("secret material %.40q… survives in %.60q…", m, got)
				}
			}
		}
		// A kubeconfig line, a private key line: whole, byte by byte and
		// at every split.
		short := "user:\n    token: " + c.token + "\n" + strings.Split(c.privateKey, "\n")[3] + "\n"
		want := set.MaskString(short)
		if strings.Contains(want, c.token) || strings.Count(want, DefaultMask) != 2 {
			t.Fatalf("got %q", want)
		}
		maskSplits(t, set, short, want)
	}
}
