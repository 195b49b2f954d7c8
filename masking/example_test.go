package masking_test

import (
	"fmt"
	"os"

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
