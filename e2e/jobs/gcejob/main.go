// Command gcejob is a CI job using Google's metadata client, as Google
// Cloud libraries do on GCE: it asks the metadata server for the service
// account's token and checks it at the token-info endpoint.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"cloud.google.com/go/compute/metadata"
)

func main() {
	ctx := context.Background()
	if !metadata.OnGCE() {
		fail("not on GCE: GCE_METADATA_HOST is unset")
	}
	email, err := metadata.EmailWithContext(ctx, "default")
	if err != nil {
		fail(err.Error())
	}
	raw, err := metadata.GetWithContext(ctx, "instance/service-accounts/default/token")
	if err != nil {
		fail(err.Error())
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(raw), &tok); err != nil {
		fail(err.Error())
	}
	resp, err := http.Get(os.Getenv("CHAPERONE_DEVSTACK_GCP_STS_URL") + "/tokeninfo?access_token=" + url.QueryEscape(tok.AccessToken))
	if err != nil {
		fail(err.Error())
	}
	resp.Body.Close()
	fmt.Printf("email %s token expires_in>0 %v tokeninfo %d\n", email, tok.ExpiresIn > 0, resp.StatusCode)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gcejob:", msg)
	os.Exit(1)
}
