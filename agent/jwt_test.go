package agent

import (
	"encoding/base64"
	"strings"
	"testing"
)

func fakeJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("sig"))
}

func TestParseToken(t *testing.T) {
	tok, err := parseToken(fakeJWT(`{"iss":"https://issuer","sub":"repo:o/r:ref:refs/heads/main","aud":["a","b"],"exp":2000000000,"repository":"o/r","run_id":"42","n":7}`))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Issuer != "https://issuer" || tok.Subject != "repo:o/r:ref:refs/heads/main" {
		t.Errorf("iss/sub = %q %q", tok.Issuer, tok.Subject)
	}
	if !tok.hasAudience("b") || tok.hasAudience("c") {
		t.Errorf("audiences = %v", tok.Audience)
	}
	if tok.Expiry.Unix() != 2000000000 {
		t.Errorf("exp = %v", tok.Expiry)
	}
	claims := tok.stringClaims()
	if claims["repository"] != "o/r" || claims["n"] != "7" {
		t.Errorf("claims = %v", claims)
	}
	if _, ok := claims["exp"]; ok {
		t.Error("per-token claim exp recorded")
	}
	if len(tok.sha256()) != 64 {
		t.Errorf("fingerprint %q", tok.sha256())
	}
}

func TestParseTokenErrorsNeverEchoToken(t *testing.T) {
	secretish := "c2VjcmV0LXRva2VuLXZhbHVl"
	for _, raw := range []string{
		"", secretish, secretish + "." + secretish, "a." + "!!!" + ".c",
		fakeJWT(`[1,2]`), fakeJWT(`{"sub":"x"}`), strings.Repeat("a", MaxTokenBytes+1),
	} {
		_, err := parseToken(raw)
		if err == nil {
			t.Errorf("parseToken(%.20q) succeeded", raw)
			continue
		}
		if raw != "" && strings.Contains(err.Error(), raw[:min(len(raw), 16)]) {
			t.Errorf("error echoes the token: %v", err)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(fakeJWT(`{"iss":"i","aud":"a","exp":1}`))
	f.Add("a.b.c")
	f.Add(fakeJWT(`{"iss":"i","aud":[1,"x",null]}`))
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseToken(raw)
		if err != nil {
			if len(raw) >= 24 && strings.Contains(err.Error(), raw) {
				t.Fatalf("error contains the token")
			}
			return
		}
		if tok.Issuer == "" {
			t.Fatal("accepted a token without iss")
		}
		_ = tok.stringClaims()
	})
}
