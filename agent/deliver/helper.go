package deliver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Names the chaperone binary answers to as a credential helper (the
// endpoint links them into a directory on the job's PATH).
const (
	DockerHelperName = "docker-credential-chaperone"
	GitHelperName    = "git-credential-chaperone"
)

// maxHelperInput bounds what a helper reads from docker or git.
const maxHelperInput = 64 << 10

// helperGet asks the endpoint named by CHAPERONE_ENDPOINT for a credential.
func helperGet(getenv func(string) string, path string, query url.Values, out any) (found bool, err error) {
	base, token := getenv("CHAPERONE_ENDPOINT"), getenv("CHAPERONE_ENDPOINT_TOKEN")
	if base == "" || token == "" {
		return false, fmt.Errorf("CHAPERONE_ENDPOINT is not set: run this inside `chaperone run` with deliver: endpoint")
	}
	req, err := http.NewRequest(http.MethodGet, base+path+"?"+query.Encode(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("chaperone endpoint: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		var e struct{ Message string }
		_ = json.Unmarshal(body, &e)
		return false, fmt.Errorf("chaperone endpoint: HTTP %d: %s", resp.StatusCode, e.Message)
	}
	return true, json.Unmarshal(body, out)
}

// RunDockerHelper implements the docker credential helper protocol
// (get, store, erase, list, version) and returns the exit status.
func RunDockerHelper(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "usage: %s get|store|erase|list|version\n", DockerHelperName)
		return 2
	}
	input, _ := io.ReadAll(io.LimitReader(stdin, maxHelperInput))
	switch args[0] {
	case "get":
		server := strings.TrimSpace(string(input))
		var cred map[string]string
		found, err := helperGet(getenv, "/docker", url.Values{"server": {server}}, &cred)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if !found {
			fmt.Fprintln(stdout, "credentials not found in native keychain")
			return 1
		}
		_ = json.NewEncoder(stdout).Encode(cred)
		return 0
	case "store", "erase":
		return 0 // credentials are the agent's to manage
	case "list":
		fmt.Fprintln(stdout, "{}")
		return 0
	case "version":
		fmt.Fprintln(stdout, DockerHelperName+" (chaperone)")
		return 0
	}
	fmt.Fprintf(stderr, "%s: unknown action %q\n", DockerHelperName, args[0])
	return 2
}

// RunGitHelper implements the git credential helper protocol (get, store,
// erase). A host no scope serves gets no answer, so git falls through to
// its other helpers.
func RunGitHelper(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "usage: %s get|store|erase\n", GitHelperName)
		return 2
	}
	attrs := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(stdin, maxHelperInput))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			attrs[k] = v
		}
	}
	if args[0] != "get" {
		return 0
	}
	var cred struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Expiry   int64  `json:"password_expiry_utc"`
	}
	found, err := helperGet(getenv, "/git", url.Values{"host": {attrs["host"]}}, &cred)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if !found {
		return 0
	}
	fmt.Fprintf(stdout, "username=%s\npassword=%s\n", cred.Username, cred.Password)
	if cred.Expiry > 0 {
		fmt.Fprintf(stdout, "password_expiry_utc=%d\n", cred.Expiry)
	}
	return 0
}
