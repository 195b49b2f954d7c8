package agent

import (
	"errors"
	"strings"
	"testing"
)

// TestTokenExchangeParametersInConfig: parameters decode from YAML, and a
// refused one is reported at its own line.
func TestTokenExchangeParametersInConfig(t *testing.T) {
	const doc = `version: 1
scopes:
  - name: dex
    provider: token-exchange
    token-url: https://dex.example.com/token
    subject-token-type: id_token
    parameters:
      connector_id: ci
      %s
`
	if _, err := ParseConfig([]byte(strings.Replace(doc, "%s", "tenant: acme", 1)), "test.yml"); err != nil {
		t.Fatalf("refused: %v", err)
	}
	_, err := ParseConfig([]byte(strings.Replace(doc, "%s", "client_secret: hunter2", 1)), "test.yml")
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "test.yml:9:") || !strings.Contains(err.Error(), "client-secret-env") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v; want line 9, pointing at client-secret-env, without the value", err)
	}
}
