package devstack

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Session policies are checked as STS checks them and recorded with the
// session they narrow.
func TestSTSSessionPolicies(t *testing.T) {
	s := startStack(t, Options{})
	tok, _ := s.MintToken("", Audience)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	form := assumeForm(AWSRoleARN, "narrowed", tok)
	form.Set("Policy", policy)
	form.Set("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	if status, body := assumeRole(t, s, form); status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	creds := s.Credentials()
	r := creds[len(creds)-1].Restrictions
	if r["policy"] != policy || !slices.Equal(r["policyArns"].([]string), []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}) {
		t.Errorf("ledger restrictions %v", r)
	}
	if status, _ := assumeRole(t, s, assumeForm(AWSRoleARN, "plain", tok)); status != http.StatusOK || s.Credentials()[len(s.Credentials())-1].Restrictions != nil {
		t.Errorf("a session without policies is recorded as narrowed")
	}
	for _, c := range []struct{ key, value, code string }{
		{"Policy", "{not json", "MalformedPolicyDocument"},
		{"Policy", `{"Version":"2012-10-17"}`, "MalformedPolicyDocument"},
		{"Policy", `{"Statement":[],"x":"` + strings.Repeat("a", 2048) + `"}`, "ValidationError"},
		{"PolicyArns.member.1.arn", "ReadOnlyAccess", "ValidationError"},
	} {
		form := assumeForm(AWSRoleARN, "refused", tok)
		form.Set(c.key, c.value)
		before := len(s.Credentials())
		status, body := assumeRole(t, s, form)
		if status != http.StatusBadRequest || stsErrorOf(t, body).Code != c.code || len(s.Credentials()) != before {
			t.Errorf("%s=%.20q: %d %s, want %s and nothing issued", c.key, c.value, status, body, c.code)
		}
	}
}
