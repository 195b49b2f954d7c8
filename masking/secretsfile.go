package masking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Bounds on what ParseSecretsFile accepts.
const (
	MaxSecretsFileSize = 16 << 20 // bytes
	MaxSecretsInFile   = 100_000
)

// ParseSecretsFile parses the file given to `chaperone mask --secrets-file`.
// If its first byte other than white space (after an optional UTF-8 byte
// order mark) is '[', the file is a JSON array of strings (null elements
// are skipped). Otherwise it holds one secret per line: lines end with LF,
// a CR before it is removed, nothing else is trimmed, and empty lines are
// skipped. Values are returned byte for byte; Set.Add judges them.
//
// Files larger than MaxSecretsFileSize or with more than MaxSecretsInFile
// secrets are rejected. Errors never quote the file's contents.
func ParseSecretsFile(data []byte) ([]string, error) {
	if len(data) > MaxSecretsFileSize {
		return nil, fmt.Errorf("masking: secrets file is larger than %d bytes", MaxSecretsFileSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return parseJSONSecrets(data)
	}
	var out []string
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if len(out) == MaxSecretsInFile {
			return nil, fmt.Errorf("masking: secrets file holds more than %d secrets", MaxSecretsInFile)
		}
		out = append(out, string(line))
	}
	return out, nil
}

func parseJSONSecrets(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '['
		return nil, jsonError(err)
	}
	var out []string
	for dec.More() {
		if len(out) == MaxSecretsInFile {
			return nil, fmt.Errorf("masking: secrets file holds more than %d secrets", MaxSecretsInFile)
		}
		var v *string
		if err := dec.Decode(&v); err != nil {
			return nil, jsonError(err)
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("masking: secrets file: data after the JSON array")
	}
	return out, nil
}

// jsonError describes a JSON error without the text it was about: the
// encoding/json messages can quote a byte of a secret.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("masking: secrets file: invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("masking: secrets file: element at byte %d is a JSON %s, not a string", typ.Offset, typ.Value)
	default:
		return errors.New("masking: secrets file: invalid JSON array of strings")
	}
}

// ReadSecretsFile reads and parses a secrets file (see ParseSecretsFile),
// refusing one larger than MaxSecretsFileSize before reading it all.
func ReadSecretsFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretsFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseSecretsFile(data)
}
