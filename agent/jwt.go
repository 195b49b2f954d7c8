package agent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxTokenBytes bounds an OIDC token read from the environment or a server.
const MaxTokenBytes = 64 << 10

// token is an OIDC JWT as the agent sees it: the agent does not verify the
// signature (the services it presents the token to do), it only reads the
// claims to record them and to route the token.
type token struct {
	raw      string
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	Claims   map[string]any
}

// parseToken decodes the payload of a compact JWS. Errors never contain
// the token.
func parseToken(raw string) (*token, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("token is empty")
	}
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("token is larger than %d bytes", MaxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("token is not a JWT (%d dot-separated parts, want 3)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("token payload is not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, errors.New("token payload is not a JSON object")
	}
	t := &token{raw: raw, Claims: claims}
	t.Issuer, _ = claims["iss"].(string)
	t.Subject, _ = claims["sub"].(string)
	switch aud := claims["aud"].(type) {
	case string:
		t.Audience = []string{aud}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok {
				t.Audience = append(t.Audience, s)
			}
		}
	}
	if exp, ok := claims["exp"].(float64); ok {
		t.Expiry = time.Unix(int64(exp), 0).UTC()
	}
	if t.Issuer == "" {
		return nil, errors.New("token has no iss claim")
	}
	return t, nil
}

func (t *token) hasAudience(aud string) bool {
	for _, a := range t.Audience {
		if a == aud {
			return true
		}
	}
	return false
}

// sha256 is the token's fingerprint, the only form of it that is recorded.
func (t *token) sha256() string {
	sum := sha256.Sum256([]byte(t.raw))
	return hex.EncodeToString(sum[:])
}

// stringClaims returns the identity claims worth recording: every scalar
// claim except the per-token ones (times, nonce, audience).
func (t *token) stringClaims() map[string]string {
	out := map[string]string{}
	for k, v := range t.Claims {
		switch k {
		case "exp", "iat", "nbf", "jti", "aud", "iss", "sub", "auth_time", "nonce":
			continue
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64:
			out[k] = strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".")
		case bool:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}
