package agent

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/chaperone-ci/chaperone/attest"
)

// isTerminal reports whether r is a terminal: a command reading one must
// stay in chaperone's process group.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// signalJob sends sig to the command's process group, or to the command
// alone when it has none of its own.
func signalJob(pid int, group bool, sig syscall.Signal) error {
	if group {
		return syscall.Kill(-pid, sig)
	}
	return syscall.Kill(pid, sig)
}

// endGroup ends every process still in process group pgid: SIGTERM, then
// SIGKILL for those alive after grace. It returns what it ended, by pid.
func endGroup(pgid int, grace time.Duration) []attest.EndedProcess {
	members, listed := groupMembers(pgid)
	if !groupAlive(pgid, members, listed) {
		return nil
	}
	ended := map[int]*attest.EndedProcess{}
	note := func(members map[int]string, signal string) {
		for pid, exe := range members {
			if e, ok := ended[pid]; ok {
				e.Signal = signal
				continue
			}
			ended[pid] = &attest.EndedProcess{PID: pid, Executable: exe, Signal: signal}
		}
	}
	note(members, "SIGTERM")
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for {
		members, listed = groupMembers(pgid)
		if !groupAlive(pgid, members, listed) {
			break
		}
		if time.Now().After(deadline) {
			note(members, "SIGKILL")
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			waitGone(pgid, killWait)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := make([]attest.EndedProcess, 0, len(ended))
	for _, e := range ended {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b attest.EndedProcess) int { return a.PID - b.PID })
	return out
}

// killWait bounds the wait for SIGKILLed processes to be gone (the kernel
// tears them down; it cannot be refused).
const killWait = 2 * time.Second

// waitGone waits up to d for the group's processes to be gone.
func waitGone(pgid int, d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if members, listed := groupMembers(pgid); !groupAlive(pgid, members, listed) {
			return
		}
	}
}

// groupAlive reports whether any process of the group is alive. Where
// /proc lists the group, zombies (exited, waiting for their parent) do not
// count; elsewhere the kernel is asked.
func groupAlive(pgid int, members map[int]string, listed bool) bool {
	if listed {
		return len(members) > 0
	}
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// groupMembers lists the live processes of a process group with their
// executables, from /proc. listed is false where /proc is not there.
func groupMembers(pgid int) (members map[int]string, listed bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	members = map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone already
		}
		state, group, ok := parseStat(string(stat))
		if !ok || group != pgid || state == "Z" || state == "X" {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			exe = commName(string(stat))
		}
		members[pid] = exe
	}
	return members, true
}

// parseStat reads the state and process group from /proc/PID/stat:
// "pid (comm) state ppid pgrp ...", where comm may hold spaces and
// parentheses.
func parseStat(stat string) (state string, pgrp int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 3 {
		return "", 0, false
	}
	pgrp, err := strconv.Atoi(f[2])
	return f[0], pgrp, err == nil
}

func commName(stat string) string {
	i, j := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return ""
	}
	return stat[i+1 : j]
}
