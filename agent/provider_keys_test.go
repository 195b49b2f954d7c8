package agent

import (
	"errors"
	"strings"
	"testing"
)

// TestProviderErrorsNameTheKeyLine: a provider's refusal of one setting
// points at that setting's line, not only at its scope's.
func TestProviderErrorsNameTheKeyLine(t *testing.T) {
	const doc = `version: 1
scopes:
  - name: deploy
    provider: aws
    region: us-east-1
    endpoint: http://127.0.0.1:9000
    role-arn: %s
`
	cases := []struct {
		name, arn string
		want      string // "" when the config is fine
	}{
		{"aws role", "arn:aws:iam::123456789012:role/deploy", ""},
		{"aws role with a path", "arn:aws:iam::123456789012:role/ci/deploy", ""},
		{"aws china", "arn:aws-cn:iam::123456789012:role/deploy", ""},
		{"minio role mode", "arn:minio:iam:::role/dRh2Q0pNRcxQk2a2mVVN3CHEquQ", ""},
		{"minio role with its region", "arn:minio:iam:us-east-1::role/dRh2Q0pNRcxQk2a2mVVN3CHEquQ", ""},
		{"no account", "arn:aws:iam:::role/deploy", `test.yml:7: scope "deploy" (aws): role-arn "arn:aws:iam:::role/deploy" is not an IAM role ARN`},
		{"a user, not a role", "arn:aws:iam::123456789012:user/deploy", "test.yml:7:"},
		{"minio with an account", "arn:minio:iam::123456789012:role/x", "test.yml:7:"},
		{"minio policy", "arn:minio:iam:::policy/x", "test.yml:7:"},
		{"unknown partition", "arn:acme:iam::123456789012:role/x", "test.yml:7:"},
		{"not an ARN", "deploy", "test.yml:7:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(strings.Replace(doc, "%s", tc.arn, 1)), "test.yml")
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "role-arn") {
				t.Errorf("error %v; want a config error naming role-arn with %q", err, tc.want)
			}
		})
	}
}
