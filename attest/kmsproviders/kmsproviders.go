// Package kmsproviders links the sigstore/sigstore KMS providers into a
// program, so that sign.NewSigner("kms:URI") and the key references
// verify.LoadKey reads, such as awskms://…, work. Import it for its side
// effect:
//
//	import _ "github.com/chaperone-ci/chaperone/attest/kmsproviders"
//
// Schemes: awskms://[ENDPOINT]/{KEY-ID|alias/NAME|ARN},
// gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V],
// azurekms://VAULT.vault.azure.net/KEY, hashivault://KEY (VAULT_ADDR,
// VAULT_TOKEN). Each provider reads its credentials the way its cloud SDK
// does (environment, instance metadata, config files).
//
// attest/sign and attest/verify do not import this themselves: the cloud
// SDKs are large, and a program that only verifies with public keys has no
// use for them.
package kmsproviders

import (
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"        // awskms://
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"      // azurekms://
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"        // gcpkms://
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault" // hashivault://
)
