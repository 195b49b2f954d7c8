package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// deliver prepares how a grant's values reach the job. env needs nothing
// beyond Environ; file writes each value to a 0600 file in a private 0700
// directory, and the job's variable holds the path (as GitLab's file
// variables do).
func (s *Session) deliver(g *grantState) error {
	if g.Delivery != "file" {
		return nil
	}
	dir, err := s.privateDir(filepath.Join("files", g.Scope))
	if err != nil {
		return fmt.Errorf("file delivery for scope %q: %w", g.Scope, err)
	}
	g.Files = map[string]string{}
	for _, v := range g.Grant.Values {
		path := filepath.Join(dir, v.Name)
		if err := os.WriteFile(path, []byte(v.Secret), 0o600); err != nil {
			return fmt.Errorf("file delivery for scope %q: %w", g.Scope, err)
		}
		g.Files[v.Name] = path
	}
	return nil
}

// DeliveredEnv lists NAME=value for every live env or file grant (for file
// delivery the value is the file's path) and every grant's public settings,
// sorted so the job's environment is stable. Endpoint grants' credentials
// never enter the environment.
func (s *Session) DeliveredEnv() []string {
	var out []string
	for _, g := range s.st.Grants {
		if g.Revocation != nil {
			continue
		}
		for _, v := range g.Public {
			out = append(out, v.Name+"="+v.Secret)
		}
		if g.Delivery == "endpoint" {
			continue
		}
		for _, v := range g.Grant.Values {
			val := v.Secret
			if g.Delivery == "file" {
				val = g.Files[v.Name]
			}
			out = append(out, v.Name+"="+val)
		}
	}
	sort.Strings(out)
	return out
}

// undeliver removes delivered files; it is safe to call more than once.
func (s *Session) undeliver() error {
	if s.st.FileDir == "" {
		return nil
	}
	// The path comes from the state file: remove only a private directory
	// this user created for delivered files, never what a planted state
	// names.
	fi, err := os.Lstat(s.st.FileDir)
	if errors.Is(err, os.ErrNotExist) {
		s.st.FileDir = ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing delivered files: %w", err)
	}
	if !strings.HasPrefix(filepath.Base(s.st.FileDir), privateDirPrefix) || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		return fmt.Errorf("removing delivered files: %s is not a directory chaperone created; left in place", s.st.FileDir)
	}
	if err := ownedByMe(s.st.FileDir, fi); err != nil {
		return fmt.Errorf("removing delivered files: %w; left in place", err)
	}
	if err := os.RemoveAll(s.st.FileDir); err != nil {
		return fmt.Errorf("removing delivered files: %w", err)
	}
	s.st.FileDir = ""
	return nil
}
