package devstack

import (
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Token verification failures, wrapped by tokenVerifier.verify; each
// stand-in maps them onto its own service's error vocabulary. Time failures
// are go-jose's jwt.ErrExpired, jwt.ErrNotValidYet and
// jwt.ErrIssuedInTheFuture.
var (
	errTokenMalformed = errors.New("malformed jwt")
	errTokenIssuer    = errors.New("untrusted issuer") // matches every *issuerError
	errTokenSignature = errors.New("failed to verify id token signature")
)

// issuerError names the issuer of a token from an issuer the relying party
// does not trust; AWS puts it in its refusal.
type issuerError struct{ issuer string }

func (e *issuerError) Error() string        { return fmt.Sprintf("untrusted issuer %q", e.issuer) }
func (e *issuerError) Is(target error) bool { return target == errTokenIssuer }

// tokenVerifier checks job tokens the way the real relying parties do:
// RS256 only, issuer exact, signature by a published key, exp/nbf/iat.
// Audience and bound claims are checked by each stand-in against its own
// role or trust policy.
type tokenVerifier struct {
	issuer string
	keys   jose.JSONWebKeySet
}

// verifiedToken is a token whose signature, issuer and times hold.
type verifiedToken struct {
	claims   map[string]any
	issuer   string
	subject  string
	audience []string
	expiry   time.Time
}

// verify returns the token's claims if it is valid at now. leeway is the
// clock skew the relying party forgives (Vault's default is a minute;
// octo-sts and STS forgive none).
func (v *tokenVerifier) verify(raw string, now time.Time, leeway time.Duration) (*verifiedToken, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTokenMalformed, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", errTokenMalformed)
	}
	// Relying parties pick the trust configuration by the (unverified)
	// issuer before they fetch keys, so an unknown issuer is reported as
	// such rather than as a bad signature.
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fmt.Errorf("%w: %v", errTokenMalformed, err)
	}
	if unverified.Issuer != v.issuer {
		return nil, &issuerError{issuer: unverified.Issuer}
	}
	keys := v.keys.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: unknown key id %q", errTokenSignature, tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(keys[0].Key, &std, &all); err != nil {
		return nil, errTokenSignature
	}
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp claim", errTokenMalformed)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, Time: now}, leeway); err != nil {
		return nil, err
	}
	return &verifiedToken{
		claims:   all,
		issuer:   std.Issuer,
		subject:  std.Subject,
		audience: std.Audience,
		expiry:   std.Expiry.Time(),
	}, nil
}
