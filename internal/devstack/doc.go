// Package devstack runs local stand-ins for the cloud services chaperone
// talks to, in-process and on 127.0.0.1 only, each on its own listener:
//
//   - an OIDC issuer with discovery and JWKS, plus a GitHub Actions style
//     ID-token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL);
//   - Vault: JWT login with bound audiences and bound claims, KV v2 reads
//     under ACL policies, child tokens with a subset of their parent's
//     policies (auth/token/create), token lookup-self and revoke-self
//     (which revokes the children too), and, with the root token
//     (Stack.VaultRootToken), the writes that configure it: JWT roles,
//     the JWT mount's issuer and ACL policies, as the vault CLI sends them;
//   - an octo-sts compatible GitHub token exchange, whose trust policies
//     can be replaced (PUT <URL>/devstack/octo-sts/trust-policy, or
//     Stack.SetGitHubTrustPolicy) and whose requests may narrow a token's
//     permissions and repositories, never widen them; together with the
//     part of the GitHub API that revokes and uses installation tokens;
//   - AWS STS AssumeRoleWithWebIdentity and GetCallerIdentity (SigV4);
//   - Google STS token exchange (workload identity federation with an
//     attribute condition), IAM Credentials generateAccessToken
//     (impersonation) and tokeninfo;
//   - a generic OAuth 2.0 server: RFC 8693 token exchange, RFC 7009
//     revocation, and a protected resource that accepts only live tokens;
//   - Entra ID's client-credentials grant with a federated client assertion
//     (issuer, subject and audience matched exactly), plus Azure Resource
//     Manager's GET /subscriptions;
//   - an OCI registry (go-containerregistry's pkg/registry).
//
// The stand-ins speak the real wire formats and refuse bad tokens the way
// the real services do: RS256 signature, issuer, audience, exp/nbf and the
// bound claims of the role or trust policy. They are the far side of the
// wire for chaperone's providers, so this package imports nothing else from
// the repository and shares none of the client's assumptions.
//
// Every credential a stand-in issues is recorded in a ledger (provider, id,
// SHA-256 fingerprint, issue and expiry time, revocation, and what
// narrowed it below its role or trust policy) that is served at
// GET <URL>/devstack/credentials: the server-side proof that revocation
// happened. The ledger never holds a credential value.
//
// Tests can make any service answer its next requests with chosen error
// statuses (Stack.FailNext), mint tokens that trust policies must refuse
// (Stack.MintTokenWith), and cap credential lifetimes to exercise renewal
// (Options.CredentialTTL).
//
// A Stack is used by `chaperone demo`, by tests and by `chaperone devstack`.
// It is a development tool: anyone on the machine who can reach the
// loopback ports can mint tokens through POST <URL>/devstack/token.
package devstack
