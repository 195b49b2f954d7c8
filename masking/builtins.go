package masking

import (
	"slices"
	"strings"
)

// Tails every Set has; custom rules add more.
const (
	tailNone = iota
	tailBase64
	tailBase64URL
)

// A detectorSet is a Set's compiled detectors: the same for all its
// matchers.
type detectorSet struct {
	rules    []rule
	triggers []trigger
	tails    []tailSpec
	prefixes []pattern // masked prefixes, with their run tails
}

// compileDetectors compiles the built-in detectors that ids selects (all of
// them if ids is nil) and the custom rules (token prefixes included) into
// rules, triggers, tails and the patterns of masked prefixes. hit assigns
// the hit counter of a rule id.
func compileDetectors(ids []string, custom []Rule, hit func(id string) int) detectorSet {
	var d detectorSet
	d.tails = []tailSpec{
		tailNone: {},
		// The base64 character that holds the secret's last bits, and
		// padding.
		tailBase64:    {c1: newClass("A-Za-z0-9+/"), n1: 1, c2: newClass("="), n2: 2},
		tailBase64URL: {c1: newClass("A-Za-z0-9_-"), n1: 1, c2: newClass("="), n2: 2},
	}
	on := func(id string) bool { return ids == nil || slices.Contains(ids, id) }
	add := func(id string, kind ruleKind, body *class) int {
		d.rules = append(d.rules, rule{id: id, kind: kind, body: body, hit: hit(id)})
		return len(d.rules) - 1
	}
	pre := func(r int, c *class) { d.rules[r].pre = c }
	trig := func(r int, lit string, fold bool, next ...*class) {
		d.triggers = append(d.triggers, trigger{lit: lit, fold: fold, next: next, rule: r})
	}
	run := func(id string, body *class, prefixes ...string) {
		if !on(id) {
			return
		}
		r := add(id, kindRun, body)
		for _, p := range prefixes {
			trig(r, p, false, body)
		}
	}
	run(DetectGitLabToken, newClass("0-9A-Za-z._=-"), "glpat-", "gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-",
		"glptt-", "glft-", "glimt-", "glagent-", "glsoat-", "glffct-", "gltok-", "_gitlab_session=")
	run(DetectGitHubToken, newClass("0-9A-Za-z_"), "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_")
	var slack []string
	for c := 'a'; c <= 'z'; c++ {
		slack = append(slack, "xox"+string(c)+"-")
	}
	run(DetectSlackToken, newClass("0-9A-Za-z-"), append(slack, "xapp-")...)
	run(DetectNPMToken, newClass("0-9A-Za-z"), "npm_")
	run(DetectVaultToken, newClass("0-9A-Za-z_-"), "hvs.", "hvb.", "hvr.")
	if on(DetectAWSKeyID) {
		r := add(DetectAWSKeyID, kindAWS, newClass("0-9A-Za-z"))
		key := newClass("A-Z2-7")
		pre(r, key)
		trig(r, "AKIA", false, key)
		trig(r, "ASIA", false, key)
	}
	if on(DetectJWT) {
		// A JWT's header and payload are base64url JSON objects, `{"` and
		// a lower-case name, so each starts with "eyJ" and one of [h-z0-6].
		// The shape is the end of the header, '.', and the payload's start;
		// the header and "eyJ" stay visible (they are not secret), the
		// payload and signature are masked.
		r := add(DetectJWT, kindRun, newClass("0-9A-Za-z_=+/.-"))
		d.triggers = append(d.triggers, trigger{lead: newClass("0-9A-Za-z_-"), lit: ".eyJ",
			next: []*class{newClass("h-z0-6")}, rule: r})
	}
	if on(DetectPrivateKey) {
		r := add(DetectPrivateKey, kindPEM, nil)
		pre(r, newClass("A-Z0-9 _-"))
		trig(r, "-----BEGIN ", false)
	}
	if on(DetectURLCredential) {
		// The value runs to the next parameter, white space, a control
		// character, or a byte that cannot appear unescaped in a URL.
		body := allBut("?&\"'<>`\\", true)
		r := add(DetectURLCredential, kindRun, body)
		for _, name := range urlCredentialParams() {
			for _, sep := range []string{"?", "&", `\u0026`} {
				trig(r, sep+name+"=", true, body)
			}
		}
	}
	if on(DetectURLPassword) {
		// The last letter or digit of a scheme, "://", a user name byte.
		r := add(DetectURLPassword, kindUserinfo, userinfoPassword())
		user := userinfoUser()
		pre(r, user)
		d.triggers = append(d.triggers, trigger{lead: newClass("a-zA-Z0-9"), lit: "://", next: []*class{user}, rule: r})
	}
	for _, cr := range custom {
		if cr.validate() != nil {
			continue
		}
		body := bodyClass(cr.Body)
		if !cr.MaskPrefix {
			lit := cr.Prefix
			if cr.IgnoreCase {
				lit = strings.ToLower(lit)
			}
			r := add(cr.id(), kindRun, body)
			trig(r, lit, cr.IgnoreCase, body)
			continue
		}
		d.tails = append(d.tails, tailSpec{c1: body})
		tail := uint8(len(d.tails) - 1)
		h := hit(cr.id())
		for _, v := range caseVariants(cr.Prefix, cr.IgnoreCase) {
			d.prefixes = append(d.prefixes, pattern{s: v, hit: uint16(h), tail: tail})
		}
	}
	return d
}

// userinfoUser is the class of the bytes of a URL's user name.
func userinfoUser() *class { return allBut(":@/?#", true) }

// userinfoPassword is the class of the bytes of a URL's password.
func userinfoPassword() *class { return allBut("@/", true) }

func countLetters(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c >= 'a' && c <= 'z' {
			n++
		}
	}
	return n
}

// caseVariants returns s, or, if fold is set, every ASCII case variant of s.
func caseVariants(s string, fold bool) []string {
	out := []string{s}
	if !fold {
		return out
	}
	out = []string{""}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lc := c | 0x20
		if lc < 'a' || lc > 'z' {
			for j := range out {
				out[j] += string(c)
			}
			continue
		}
		n := len(out)
		for j := 0; j < n; j++ {
			out = append(out, out[j]+string(lc-('a'-'A')))
			out[j] += string(lc)
		}
	}
	return out
}
