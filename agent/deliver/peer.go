package deliver

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// peer is the client socket of a loopback connection to the endpoint, as
// /proc/net/tcp shows it.
type peer struct {
	uid   int    // the user that created the socket
	inode string // its inode, to find the process holding it
}

// lookupPeer finds the client socket of the connection from remote (the
// client's address) to local (ours) in /proc/net/tcp or tcp6. Both ends
// must match exactly, and the socket must still be held by a process
// (sockets in TIME_WAIT or orphaned show inode 0 and uid 0). It reports
// false where /proc does not tell (other systems, no such socket).
func lookupPeer(remote, local string) (peer, bool) {
	client, err := net.ResolveTCPAddr("tcp", remote)
	if err != nil {
		return peer{}, false
	}
	server, err := net.ResolveTCPAddr("tcp", local)
	if err != nil {
		return peer{}, false
	}
	table := "/proc/net/tcp"
	if client.IP.To4() == nil {
		table = "/proc/net/tcp6"
	}
	f, err := os.Open(table)
	if err != nil {
		return peer{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[9] == "0" {
			continue
		}
		if !sameAddr(fields[1], client) || !sameAddr(fields[2], server) {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return peer{}, false
		}
		return peer{uid: uid, inode: fields[9]}, true
	}
	return peer{}, false
}

// sameAddr reports whether a /proc/net/tcp address ("0100007F:1F90")
// is a.
func sameAddr(field string, a *net.TCPAddr) bool {
	ip, port, err := parseProcAddr(field)
	return err == nil && port == a.Port && ip.Equal(a.IP)
}

// parseProcAddr decodes a /proc/net/tcp{,6} address: the IP as 32-bit
// words, each printed in hex from the kernel's native byte order, then
// ":" and the port in hex.
func parseProcAddr(field string) (net.IP, int, error) {
	h, p, ok := strings.Cut(field, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return nil, 0, errors.New("not a /proc/net/tcp address")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, err
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, 0, err
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return ip, int(port), nil
}

// process returns the pid and executable of the process holding the
// socket, scanning /proc/*/fd. It returns 0 when no visible process holds
// it (e.g. /proc is mounted with hidepid).
func (p peer) process() (int, string) {
	target := "socket:[" + p.inode + "]"
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
