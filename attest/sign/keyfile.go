package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/chaperone-ci/chaperone/attest/internal/keys"
	"github.com/chaperone-ci/chaperone/attest/internal/regularfile"
)

// maxKeyFileSize bounds how much of a key file is read.
const maxKeyFileSize = 1 << 20

// PEM block types of private keys.
const (
	pemPKCS8             = "PRIVATE KEY"
	pemSEC1              = "EC PRIVATE KEY"
	pemPKCS1             = "RSA PRIVATE KEY"
	pemEncryptedPKCS8    = "ENCRYPTED PRIVATE KEY"
	pemSigstoreEncrypted = "ENCRYPTED SIGSTORE PRIVATE KEY" // cosign generate-key-pair (v2.x+)
	pemCosignEncrypted   = "ENCRYPTED COSIGN PRIVATE KEY"   // older cosign
	pemOpenSSH           = "OPENSSH PRIVATE KEY"
	pemECParameters      = "EC PARAMETERS"
)

// LoadKeypair reads a PEM private key file and returns a sigstore-go
// sign.Keypair (a *Keypair) for Statement. Accepted encodings:
//
//   - "PRIVATE KEY" (PKCS#8): ECDSA P-256/P-384/P-521, RSA 2048/3072/4096, Ed25519
//   - "EC PRIVATE KEY" (SEC 1) and "RSA PRIVATE KEY" (PKCS#1)
//   - "ENCRYPTED SIGSTORE PRIVATE KEY" / "ENCRYPTED COSIGN PRIVATE KEY":
//     cosign's scrypt + secretbox format (cosign generate-key-pair); a nil
//     password is the empty password, as with COSIGN_PASSWORD=""
//   - "ENCRYPTED PRIVATE KEY" (PKCS#8 PBES2, e.g. openssl genpkey -aes256)
//
// password is only used for encrypted keys. Errors name the file and what
// was wrong with it, never any key material.
func LoadKeypair(path string, password []byte) (sgsign.Keypair, error) {
	data, err := regularfile.ReadFile(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	kp, err := KeypairFromPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return kp, nil
}

// KeypairFromPEM is LoadKeypair for key bytes already in memory.
func KeypairFromPEM(data, password []byte) (*Keypair, error) {
	priv, err := ParsePrivateKeyPEM(data, password)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadDefaultSignerVerifier(priv)
	if err != nil {
		return nil, fmt.Errorf("%s is not usable for signing: %w", keys.Describe(priv.Public()), err)
	}
	return NewKeypair(sv)
}

// ParsePrivateKeyPEM decodes the single private key in PEM data (see
// LoadKeypair for the accepted encodings). "EC PARAMETERS" blocks, as
// written by openssl ecparam -genkey, are skipped.
func ParsePrivateKeyPEM(data, password []byte) (crypto.Signer, error) {
	var (
		key   *pem.Block
		other []string
		rest  = data
	)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case pemPKCS8, pemSEC1, pemPKCS1, pemEncryptedPKCS8, pemSigstoreEncrypted, pemCosignEncrypted, pemOpenSSH:
			if key != nil {
				return nil, errors.New("more than one private key in the PEM data; keep exactly one")
			}
			key = block
		case pemECParameters:
		default:
			other = append(other, block.Type)
		}
	}
	if key == nil {
		if len(other) > 0 {
			return nil, fmt.Errorf("no private key in the PEM data (found %s); a PEM private key block is expected", strings.Join(other, ", "))
		}
		return nil, errors.New("not PEM: no \"-----BEGIN ... PRIVATE KEY-----\" block found")
	}
	if _, ok := key.Headers["Proc-Type"]; ok {
		return nil, fmt.Errorf("%q block uses legacy OpenSSL PEM encryption, which is not supported; convert it with: openssl pkcs8 -topk8 -in OLD -out NEW", key.Type)
	}

	var (
		priv any
		err  error
	)
	switch key.Type {
	case pemPKCS8:
		priv, err = x509.ParsePKCS8PrivateKey(key.Bytes)
	case pemSEC1:
		priv, err = x509.ParseECPrivateKey(key.Bytes)
	case pemPKCS1:
		priv, err = x509.ParsePKCS1PrivateKey(key.Bytes)
	case pemSigstoreEncrypted, pemCosignEncrypted:
		if password == nil {
			password = []byte{}
		}
		der, derr := encrypted.Decrypt(key.Bytes, password)
		if derr != nil {
			return nil, fmt.Errorf("decrypting the %q block failed (wrong password, or the key is damaged)", key.Type)
		}
		priv, err = x509.ParsePKCS8PrivateKey(der)
	case pemEncryptedPKCS8:
		if len(password) == 0 {
			return nil, errors.New("the key is encrypted (ENCRYPTED PRIVATE KEY) but no password was given")
		}
		priv, err = cryptoutils.UnmarshalPEMToPrivateKey(pem.EncodeToMemory(key), cryptoutils.StaticPasswordFunc(password))
		if err != nil {
			return nil, errors.New("decrypting the \"ENCRYPTED PRIVATE KEY\" block failed (wrong password, or an unsupported cipher)")
		}
	case pemOpenSSH:
		return nil, errors.New("OpenSSH private keys are not supported; convert with: ssh-keygen -p -m PKCS8 -f KEY")
	}
	if err != nil {
		return nil, fmt.Errorf("the %q block does not hold a valid key: %w", key.Type, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the %q block holds a %T, which cannot sign", key.Type, priv)
	}
	switch pub := signer.Public().(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	case *rsa.PublicKey:
		if pub.Size()*8 < 2048 {
			return nil, fmt.Errorf("%s is too small; use at least 2048 bits", keys.Describe(pub))
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T; use ECDSA P-256, RSA or Ed25519", pub)
	}
	return signer, nil
}
