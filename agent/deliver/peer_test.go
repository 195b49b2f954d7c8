package deliver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// peerClientEnv, when set, makes the test binary act as a client of the
// endpoint at that URL (with the token in peerTokenEnv) instead of running
// tests: it fetches every route and prints one JSON line per route.
const (
	peerClientEnv = "DELIVER_TEST_PEER_CLIENT_URL"
	peerTokenEnv  = "DELIVER_TEST_PEER_CLIENT_TOKEN"
)

// nobody is the uid and gid the other-user client runs as.
const nobody = 65534

func TestMain(m *testing.M) {
	if url := os.Getenv(peerClientEnv); url != "" {
		os.Exit(peerClient(url, os.Getenv(peerTokenEnv)))
	}
	os.Exit(m.Run())
}

// peerAnswer is what the client got from one route.
type peerAnswer struct {
	Route  string
	Status int
	Body   string
}

// peerClient asks every route of the endpoint at base for a credential,
// presenting the right token, and prints the answers.
func peerClient(base, token string) int {
	routes := []struct{ name, path, header, value string }{
		{"aws", "/aws/deploy", "Authorization", token},
		{"gce", "/computeMetadata/v1/instance/service-accounts/default/token", "Metadata-Flavor", "Google"},
		{"docker", "/docker?server=ghcr.io", "Authorization", "Bearer " + token},
		{"git", "/git?host=github.com", "Authorization", "Bearer " + token},
	}
	enc := json.NewEncoder(os.Stdout)
	for _, rt := range routes {
		req, _ := http.NewRequest(http.MethodGet, base+rt.path, nil)
		req.Header.Set(rt.header, rt.value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = enc.Encode(peerAnswer{Route: rt.name, Status: resp.StatusCode, Body: string(body)})
	}
	return 0
}

// runPeerClient runs this test binary as a client of ep, as the user
// cred names (nil: this process's user), and returns its answers by route.
func runPeerClient(t *testing.T, ep *Endpoint, cred *syscall.Credential) map[string]peerAnswer {
	t.Helper()
	// The binary must be reachable by the other user: copy it into a
	// directory everyone may enter.
	dir, err := os.MkdirTemp("", "deliver-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{peerClientEnv + "=" + ep.URL, peerTokenEnv + "=" + ep.Token()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client process: %v: %s", err, stderr.String())
	}
	answers := map[string]peerAnswer{}
	dec := json.NewDecoder(&stdout)
	for {
		var a peerAnswer
		if err := dec.Decode(&a); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("client output: %v", err)
		}
		answers[a.Route] = a
	}
	if len(answers) != 4 {
		t.Fatalf("client answered %d routes, want 4: %s", len(answers), stdout.String())
	}
	return answers
}

// TestEndpointRefusesOtherUsers connects, with the job's bearer token,
// from a process of another user: every route must refuse it with 403,
// disclose no credential and record no fetch. The same client run as the
// job's user is served, so the refusal is the user's doing.
func TestEndpointRefusesOtherUsers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the endpoint tells the client's user from /proc/net/tcp, which only Linux has")
	}
	if os.Getuid() != 0 {
		t.Skip("connecting as another user needs root (the client process is started with uid 65534)")
	}
	ep, fetches := startTestEndpoint(t)
	secrets := []string{"ASIAEXAMPLE", "secret-key", "session", "ya29.token", "ghs_token"}

	same := runPeerClient(t, ep, nil)
	for route, a := range same {
		if a.Status != http.StatusOK {
			t.Errorf("job's user, %s route: HTTP %d %s", route, a.Status, a.Body)
		}
	}
	served := len(*fetches)
	if served != 4 {
		t.Fatalf("job's user: %d fetches recorded, want 4", served)
	}

	other := runPeerClient(t, ep, &syscall.Credential{Uid: nobody, Gid: nobody})
	for route, a := range other {
		for _, s := range secrets {
			if strings.Contains(a.Body, s) {
				t.Errorf("uid %d, %s route: the answer discloses a credential", nobody, route)
			}
		}
		if a.Status != http.StatusForbidden {
			t.Errorf("uid %d, %s route: HTTP %d, want 403", nobody, route, a.Status)
			continue
		}
		if !strings.Contains(a.Body, fmt.Sprintf("uid %d", nobody)) {
			t.Errorf("uid %d, %s route: refusal %q does not name the client's uid", nobody, route, a.Body)
		}
	}
	if len(*fetches) != served {
		t.Errorf("refused requests recorded %d fetches", len(*fetches)-served)
	}
}

// TestLookupPeer finds this process's own loopback connection: its uid,
// and through the inode its pid.
func TestLookupPeer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/net/tcp is Linux's")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	p, ok := lookupPeer(server.RemoteAddr().String(), server.LocalAddr().String())
	if !ok || p.uid != os.Getuid() {
		t.Fatalf("lookupPeer = %+v, %v; want uid %d", p, ok, os.Getuid())
	}
	if pid, _ := p.process(); pid != os.Getpid() {
		t.Errorf("process() pid %d, want %d", pid, os.Getpid())
	}
	// Ports alone do not match: the server's own socket, asked for with
	// another client address, is not found.
	_, clientPort, _ := net.SplitHostPort(server.RemoteAddr().String())
	if p, ok := lookupPeer(server.LocalAddr().String(), net.JoinHostPort("127.0.0.2", clientPort)); ok {
		t.Errorf("matched a socket of another address: %+v", p)
	}
}

func TestParseProcAddr(t *testing.T) {
	word := func(ip net.IP) string { return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(ip)) }
	ip, port, err := parseProcAddr(word(net.IPv4(127, 0, 0, 1).To4()) + ":1F90")
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != 8080 {
		t.Errorf("IPv4 loopback: %v, %d, %v", ip, port, err)
	}
	ip, port, err = parseProcAddr(strings.Repeat("0", 24) + word(net.IP{0, 0, 0, 1}) + ":0050")
	if err != nil || !ip.Equal(net.IPv6loopback) || port != 80 {
		t.Errorf("IPv6 loopback: %v, %d, %v", ip, port, err)
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "01007F:0050", "0100007G:0050", "0100007F:10000"} {
		if _, _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) accepted", bad)
		}
	}
}
