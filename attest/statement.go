package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PayloadTypeInToto is the DSSE payload type of an in-toto statement.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// StatementTypeV1 is the in-toto Statement v1 type URI (the "_type" field).
const StatementTypeV1 = intoto.StatementTypeUri

// MaxSubjects is the largest number of subjects a statement may carry
// (sigstore-go and actions/attest refuse more).
const MaxSubjects = 1024

// Subject is one in-toto subject (a ResourceDescriptor reduced to the
// fields chaperone uses). Subjects are matched by digest only.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// Statement is a decoded in-toto Statement v1. Predicate is kept as raw
// JSON; a verifier decodes it into a JobPredicate when the type matches.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// JobSubject is the subject every job attestation carries, so that a job
// which builds nothing still has a verifiable subject: the name is the run
// URI and the digest is the SHA-256 of the run URI string.
func JobSubject(runURI string) Subject {
	return Subject{Name: runURI, Digest: map[string]string{"sha256": JobSubjectDigest(runURI).Hex}}
}

// JobSubjectDigest is the digest of JobSubject(runURI), for verification.
func JobSubjectDigest(runURI string) Digest {
	sum := sha256.Sum256([]byte(runURI))
	return Digest{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// FileSubjects returns one subject per regular file matched by the glob
// patterns (filepath.Match syntax), named by the path as matched (with
// forward slashes) and digested with SHA-256. Files matched by several
// patterns appear once; the result is sorted by name. A pattern that
// matches no regular file is an error: a declared artifact that is
// missing must not silently drop out of the attestation.
func FileSubjects(patterns ...string) ([]Subject, error) {
	seen := map[string]bool{}
	var out []Subject
	for _, pattern := range patterns {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("subject pattern %q: %w", pattern, err)
		}
		found := 0
		for _, path := range matches {
			info, err := os.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("subject %s: %w", path, err)
			}
			if !info.Mode().IsRegular() {
				continue
			}
			found++
			name := filepath.ToSlash(path)
			if seen[name] {
				continue
			}
			seen[name] = true
			d, err := fileSHA256(path)
			if err != nil {
				return nil, err
			}
			out = append(out, Subject{Name: name, Digest: map[string]string{"sha256": d}})
		}
		if found == 0 {
			return nil, fmt.Errorf("subject pattern %q matched no regular file", pattern)
		}
	}
	slices.SortFunc(out, func(a, b Subject) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("subject %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("subject %s: reading: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// NewStatement builds an in-toto Statement v1 and returns its JSON
// encoding (compact, the bytes to sign). The predicate is any value that
// encodes to a JSON object. When it is a JobPredicate (or a pointer to
// one) the predicate type must be PredicateTypeJob and the predicate must
// pass JobPredicate.Validate. The statement is validated with the in-toto
// library: at least one subject, each with a digest whose encoding and
// length fit its algorithm.
func NewStatement(predicateType string, subjects []Subject, predicate any) ([]byte, error) {
	switch p := predicate.(type) {
	case JobPredicate:
		if err := checkJobPredicate(predicateType, &p); err != nil {
			return nil, err
		}
	case *JobPredicate:
		if p == nil {
			return nil, errors.New("statement: predicate is nil")
		}
		if err := checkJobPredicate(predicateType, p); err != nil {
			return nil, err
		}
	}
	if len(subjects) > MaxSubjects {
		return nil, fmt.Errorf("statement: %d subjects, at most %d are allowed", len(subjects), MaxSubjects)
	}
	predJSON, err := json.Marshal(predicate)
	if err != nil {
		return nil, fmt.Errorf("statement: encoding predicate: %w", err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, pred); err != nil {
		return nil, fmt.Errorf("statement: predicate must encode to a JSON object: %w", err)
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		PredicateType: predicateType,
		Predicate:     pred,
	}
	for i, s := range subjects {
		if len(s.Digest) == 0 {
			return nil, fmt.Errorf("statement: subject %d (%q) has no digest", i, s.Name)
		}
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: s.Name, Digest: s.Digest})
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("statement: invalid in-toto statement: %w", err)
	}
	out, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("statement: encoding: %w", err)
	}
	// protojson deliberately varies its whitespace; compact it so the same
	// statement always yields the same bytes.
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return nil, fmt.Errorf("statement: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

func checkJobPredicate(predicateType string, p *JobPredicate) error {
	if predicateType != PredicateTypeJob {
		return fmt.Errorf("statement: a JobPredicate needs predicate type %s, not %q", PredicateTypeJob, predicateType)
	}
	return p.Validate()
}

// SubjectDigests lists the digests of the statement's subjects, each
// subject's in algorithm order, that use a supported algorithm (sha256,
// sha384, sha512): the digests a verifier can check. A supported digest
// that is not hex of the algorithm's size is an error.
func (st *Statement) SubjectDigests() ([]Digest, error) {
	var out []Digest
	for _, s := range st.Subject {
		for _, alg := range slices.Sorted(maps.Keys(s.Digest)) {
			size, ok := digestSizes[alg]
			if !ok {
				continue
			}
			raw, err := hex.DecodeString(s.Digest[alg])
			if err != nil || len(raw) != size {
				return nil, fmt.Errorf("subject %q: %s digest is not %d bytes of hex", s.Name, alg, size)
			}
			out = append(out, Digest{Algorithm: alg, Hex: hex.EncodeToString(raw)})
		}
	}
	return out, nil
}

// ParseStatement decodes and checks an in-toto Statement v1: the type must
// be StatementTypeV1, there must be a predicate type, and between 1 and
// MaxSubjects subjects, each with at least one digest.
func ParseStatement(data []byte) (*Statement, error) {
	var st Statement
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("statement: not valid JSON: %w", err)
	}
	if st.Type != StatementTypeV1 {
		return nil, fmt.Errorf("statement: _type is %q, want %s", st.Type, StatementTypeV1)
	}
	if st.PredicateType == "" {
		return nil, errors.New("statement: predicateType is missing")
	}
	if len(st.Subject) == 0 {
		return nil, errors.New("statement: no subject")
	}
	if len(st.Subject) > MaxSubjects {
		return nil, fmt.Errorf("statement: %d subjects, at most %d are allowed", len(st.Subject), MaxSubjects)
	}
	for i, s := range st.Subject {
		if len(s.Digest) == 0 {
			return nil, fmt.Errorf("statement: subject %d (%q) has no digest", i, s.Name)
		}
	}
	if len(st.Predicate) == 0 || bytes.Equal(st.Predicate, []byte("null")) {
		return nil, errors.New("statement: predicate is missing")
	}
	return &st, nil
}
