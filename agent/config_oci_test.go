package agent

import (
	"errors"
	"strings"
	"testing"
)

// TestParseConfigAttestOCI: attest.oci is referrers or a REGISTRY/REPO;
// anything else is a one-line error at the key's line.
func TestParseConfigAttestOCI(t *testing.T) {
	const head = "version: 1\nscopes:\n  - name: kv\n    provider: vault\n    address: https://vault.example.com\n    role: ci\n    token-env: VAULT_TOKEN\nattest:\n  signer: none\n  oci: "
	for _, ok := range []string{"referrers", "registry.example.com/org/attestations", "127.0.0.1:5000/attestations"} {
		c, err := ParseConfig([]byte(head+ok+"\n"), "test.yml")
		if err != nil {
			t.Errorf("attest.oci %s: %v", ok, err)
		} else if c.Attest.OCI != ok {
			t.Errorf("attest.oci %s read as %q", ok, c.Attest.OCI)
		}
	}
	for _, bad := range []string{"attestations", "org/attestations", "registry.example.com/org/att:v1", "registry.example.com", "Referrers"} {
		_, err := ParseConfig([]byte(head+bad+"\n"), "test.yml")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "test.yml:10: attest.oci: ") || !strings.Contains(err.Error(), "referrers") || strings.Contains(err.Error(), "\n") {
			t.Errorf("attest.oci %s: error %v; want a one-line config error at test.yml:10", bad, err)
		}
	}
}
