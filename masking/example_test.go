package masking_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/chaperone-ci/chaperone/masking"
)

func Example() {
	set := masking.NewSet(masking.Options{})
	set.Add("hunter2-token", "abc") // "abc" is too short to mask
	for _, w := range set.Warnings() {
		fmt.Println(w)
	}

	stdout := set.NewWriter(os.Stdout)
	fmt.Fprint(stdout, "login with hunter2-")
	fmt.Fprint(stdout, "token\n") // split across writes: still masked
	set.Add("late-secret")        // applies from here on
	fmt.Fprint(stdout, "then late-secret\n")
	stdout.Close()
	fmt.Println(stdout.Redactions(), "redactions")
	// Output:
	// secret #1 not masked: shorter than the minimum length (4 bytes)
	// login with ***
	// then ***
	// 2 redactions
}

// Encoded forms of a secret, detectors for secrets nobody registered, and
// per-rule hit counts for the attestation.
func ExampleSet_Hits() {
	set := masking.NewSet(masking.Options{Mask: "[MASKED]", TokenPrefixes: []string{"acme_"}})
	set.Add("Password123!")
	fmt.Println(set.MaskString(strings.Join([]string{
		"Authorization: Basic Y2k6UGFzc3dvcmQxMjMh", // base64 of "ci:Password123!"
		"curl https://ci:Password123%21@example.com/",
		"GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx API_KEY=acme_s3cr3t",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
	}, "\n")))
	hits := set.Hits()
	for _, id := range []string{"secret-base64", "secret-url", "url-password", "gitlab-token", "token-prefix", "aws-access-key-id"} {
		fmt.Println(id, hits[id])
	}
	// Output:
	// Authorization: Basic Y2k6[MASKED]
	// curl https://ci:[MASKED]@example.com/
	// GITLAB_TOKEN=glpat-[MASKED] API_KEY=acme_[MASKED]
	// AWS_ACCESS_KEY_ID=AKIA[MASKED]
	// secret-base64 1
	// secret-url 1
	// url-password 1
	// gitlab-token 1
	// token-prefix 1
	// aws-access-key-id 1
}

// On GitHub Actions, lines a job prints to register secrets reach the
// runner unchanged, and the value is masked from then on.
func ExampleWithAddMask() {
	set := masking.NewSet(masking.Options{})
	stdout := set.NewWriter(os.Stdout, masking.WithAddMask(masking.AddMaskForward))
	fmt.Fprint(stdout, "::add-mask::derived-s3cret\nusing derived-s3cret\n")
	stdout.Close()
	// Output:
	// ::add-mask::derived-s3cret
	// using ***
}
