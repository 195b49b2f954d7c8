package deliver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// peer is the local process on the other end of a loopback connection.
type peer struct {
	pid      int
	exe      string
	sameUser bool
}

// peerProcess finds the process owning the client side of a connection
// from remote (the client's address) to local (ours), using /proc. It
// reports false where /proc does not tell (other systems, hidepid).
func peerProcess(remote, local string) (peer, bool) {
	rHost, rPort, err := splitHostPort(remote)
	if err != nil {
		return peer{}, false
	}
	_, lPort, err := splitHostPort(local)
	if err != nil {
		return peer{}, false
	}
	table := "/proc/net/tcp"
	if rHost.To4() == nil {
		table = "/proc/net/tcp6"
	}
	inode, uid, ok := socketInode(table, rPort, lPort)
	if !ok {
		return peer{}, false
	}
	p := peer{sameUser: uid == os.Getuid()}
	p.pid, p.exe = socketOwner(inode)
	return p, true
}

func splitHostPort(addr string) (net.IP, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, 0, err
	}
	return net.ParseIP(h), port, nil
}

// socketInode finds the socket whose local port is the client's and whose
// remote port is ours, returning its inode and owner uid.
func socketInode(table string, clientPort, serverPort int) (inode string, uid int, ok bool) {
	f, err := os.Open(table)
	if err != nil {
		return "", 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	want := fmt.Sprintf(":%04X", clientPort)
	wantRemote := fmt.Sprintf(":%04X", serverPort)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if strings.HasSuffix(fields[1], want) && strings.HasSuffix(fields[2], wantRemote) {
			u, err := strconv.Atoi(fields[7])
			if err != nil {
				return "", 0, false
			}
			return fields[9], u, true
		}
	}
	return "", 0, false
}

// socketOwner scans /proc/*/fd for the socket inode. It returns 0 when no
// visible process holds it (e.g. it belongs to another user).
func socketOwner(inode string) (int, string) {
	target := "socket:[" + inode + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, ""
	}
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && link == target {
				exe, _ := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
				return pid, exe
			}
		}
	}
	return 0, ""
}
