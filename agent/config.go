package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest/oci"
	"github.com/chaperone-ci/chaperone/internal/regularfile"
	"github.com/chaperone-ci/chaperone/masking"
	"gopkg.in/yaml.v3"
)

// MaxConfigBytes bounds the config file (it may come from a CI variable).
const MaxConfigBytes = 1 << 20

// DefaultConfigPath is read when neither --config nor CHAPERONE_CONFIG is set.
const DefaultConfigPath = ".chaperone.yml"

// Config is the decoded .chaperone.yml.
type Config struct {
	Version  int            `mapstructure:"version"`
	Identity IdentityConfig `mapstructure:"identity"`
	Scopes   []Scope        `mapstructure:"scopes"`
	Attest   AttestConfig   `mapstructure:"attest"`
	Mask     MaskConfig     `mapstructure:"mask"`
	Timeouts TimeoutConfig  `mapstructure:"timeouts"`
	// KeepEnv names variables chaperone consumes (see consumedEnv) that the
	// job's commands still get; by default they are removed.
	KeepEnv []string `mapstructure:"keep-env"`

	source string // file name or "CHAPERONE_CONFIG", for messages
	raw    []byte // the document, persisted with a started Session
	lines  *yaml.Node
}

// IdentityConfig says where the job's OIDC token comes from.
type IdentityConfig struct {
	Source string `mapstructure:"source"` // auto | github | gitlab | file | env
	File   string `mapstructure:"file"`   // source: file
	Env    string `mapstructure:"env"`    // source: env; default CHAPERONE_ID_TOKEN
	// ExposeRequestToken passes ACTIONS_ID_TOKEN_REQUEST_* on to the job.
	// Off by default: a step that can read them can mint tokens for any
	// audience.
	ExposeRequestToken bool `mapstructure:"expose-request-token"`
}

// Scope is one declared credential scope. Provider-specific keys are kept
// in Settings and decoded by that provider's Config type.
type Scope struct {
	Name       string `mapstructure:"name"`
	Provider   string `mapstructure:"provider"`
	Deliver    string `mapstructure:"deliver"`      // env (default) | file | endpoint
	IDTokenVar string `mapstructure:"id-token-var"` // GitLab: variable holding this scope's token
	// Registries and GitHosts are what deliver: endpoint serves the scope's
	// token to, through the docker and git credential helpers (github
	// scopes default to ghcr.io and github.com). RegistryUsername is the
	// user name docker presents with it.
	Registries       []string `mapstructure:"registries"`
	RegistryUsername string   `mapstructure:"registry-username"`
	GitHosts         []string `mapstructure:"git-hosts"`
	// Optional: when the owner's policy refuses the scope, the job runs
	// without it. By default a refused scope fails the run before anything
	// is issued.
	Optional bool           `mapstructure:"optional"`
	Settings map[string]any `mapstructure:",remain"`
}

// AttestConfig is the attest: block, whose keys are fixed.
type AttestConfig struct {
	Signer    string          `mapstructure:"signer"` // keyless | key:PATH | kms:URI | none
	FulcioURL string          `mapstructure:"fulcio-url"`
	TSAURL    string          `mapstructure:"tsa-url"`
	RekorURL  string          `mapstructure:"rekor-url"`
	Output    string          `mapstructure:"output"`
	OCI       string          `mapstructure:"oci"` // "referrers": attach the bundle to every image subject; REGISTRY/REPO: store it there
	Subjects  []SubjectConfig `mapstructure:"subjects"`
	// TrustedRootOutput, when set, is where the trusted root that verifies
	// the bundle (private Fulcio/TSA) is written.
	TrustedRootOutput string `mapstructure:"trusted-root-output"`
	// IDTokenVar names the variable holding a token with audience sigstore
	// for keyless signing where tokens cannot be minted (GitLab:
	// id_tokens). Default SIGSTORE_ID_TOKEN.
	IDTokenVar string `mapstructure:"id-token-var"`
}

// SubjectConfig declares an artifact the attestation is about.
type SubjectConfig struct {
	Path  string `mapstructure:"path"`  // glob of files, hashed with sha256
	Image string `mapstructure:"image"` // image reference, resolved to a digest
}

// MaskConfig tunes the log masker.
type MaskConfig struct {
	MinLength int `mapstructure:"min-length"`
	// Detectors picks the detectors for secrets nobody registered:
	// "default" (all), "none", or a comma-separated list of rule ids.
	Detectors     string   `mapstructure:"detectors"`
	Token         string   `mapstructure:"token"`
	TokenPrefixes []string `mapstructure:"token-prefixes"`
}

// options are the masker settings the config asks for.
func (m MaskConfig) options() masking.Options {
	return masking.Options{Mask: m.Token, MinLength: m.MinLength, TokenPrefixes: m.TokenPrefixes, Detectors: MaskDetectors(m.Detectors)}
}

// MaskDetectors maps a detectors setting ("default", "none", or a
// comma-separated list of rule ids) onto masking.Options.Detectors.
func MaskDetectors(spec string) []string {
	switch strings.TrimSpace(spec) {
	case "", "default", "all":
		return nil
	case "none":
		return []string{}
	}
	var ids []string
	for _, id := range strings.Split(spec, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// ConfigError is a problem with the configuration or the command line;
// the CLI exits 2 on it.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// LoadConfig reads the config that --config or CHAPERONE_CONFIG names:
// inline YAML (GitLab variables hold the document itself), a path, or, when
// empty, DefaultConfigPath. A path must name a regular file.
func LoadConfig(pathOrYAML string) (*Config, error) {
	if strings.Contains(pathOrYAML, "\n") || strings.HasPrefix(strings.TrimSpace(pathOrYAML), "version:") {
		return ParseConfig([]byte(pathOrYAML), "(inline)")
	}
	path := pathOrYAML
	if path == "" {
		path = DefaultConfigPath
	}
	f, err := regularfile.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, configErrorf("config %s: file not found (set --config or CHAPERONE_CONFIG)", path)
		}
		return nil, configErrorf("config %s: %v", path, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxConfigBytes+1)); err != nil {
		return nil, configErrorf("config %s: %v", path, err)
	}
	return ParseConfig(buf.Bytes(), path)
}

// ParseConfig decodes and validates YAML config bytes. source names them in
// errors. Unknown keys are rejected with their name and line.
func ParseConfig(data []byte, source string) (*Config, error) {
	if len(data) > MaxConfigBytes {
		return nil, configErrorf("config %s: larger than %d bytes", source, MaxConfigBytes)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, configErrorf("config %s: %s", source, oneLine(err.Error()))
	}
	var raw map[string]any
	if err := doc.Decode(&raw); err != nil {
		return nil, configErrorf("config %s: top level must be a mapping: %s", source, oneLine(err.Error()))
	}
	if raw == nil {
		return nil, configErrorf("config %s: empty", source)
	}
	c := &Config{source: source, raw: append([]byte(nil), data...), lines: &doc}
	if err := c.decode(raw, c, "", ""); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode maps raw onto out, rejecting keys out does not have. prefix is the
// key path of raw inside the document ("scopes[0]"). Errors name a key by
// its path and line; label, when set (`scope "db"`), names instead what
// raw belongs to in messages about a key's value.
func (c *Config) decode(raw any, out any, prefix, label string) error {
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:     out,
		Metadata:   &md,
		DecodeHook: durationHook,
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(raw); err != nil {
		msg, field := decodeMessage(err)
		full := joinPath(prefix, field)
		key := full
		if label != "" {
			key = label + ": " + field
		}
		return configErrorf("config %s%s: %s: %s", c.source, c.lineSuffix(full), key, msg)
	}
	if len(md.Unused) > 0 {
		key := md.Unused[0]
		full := joinPath(prefix, key)
		return configErrorf("config %s%s: unknown key %q", c.source, c.lineSuffix(full), full)
	}
	return nil
}

func (c *Config) validate() error {
	if c.Version != 1 {
		return configErrorf("config %s%s: version must be 1 (got %d)", c.source, c.lineSuffix("version"), c.Version)
	}
	switch c.Identity.Source {
	case "":
		c.Identity.Source = "auto"
	case "auto", "github", "gitlab", "env":
	case "file":
		if c.Identity.File == "" {
			return c.errAt("identity.file", "identity.file is required when identity.source is file")
		}
	default:
		return c.errAt("identity.source", fmt.Sprintf("identity.source %q is not one of auto, github, gitlab, file, env", c.Identity.Source))
	}
	if len(c.Scopes) == 0 {
		return configErrorf("config %s: no scopes declared", c.source)
	}
	seen := map[string]bool{}
	providers := make([]provider.Provider, 0, len(c.Scopes))
	for i := range c.Scopes {
		s := &c.Scopes[i]
		at := fmt.Sprintf("scopes[%d]", i)
		if !scopeName.MatchString(s.Name) {
			return c.errAt(at+".name", fmt.Sprintf("%s.name %q must match %s", at, s.Name, scopeName))
		}
		if seen[s.Name] {
			return c.errAt(at+".name", fmt.Sprintf("scope name %q is declared twice", s.Name))
		}
		seen[s.Name] = true
		switch s.Deliver {
		case "":
			s.Deliver = "env"
		case "env", "file":
		case "endpoint":
			if s.Provider == "github" && s.Registries == nil && s.GitHosts == nil {
				s.Registries, s.GitHosts = []string{"ghcr.io"}, []string{"github.com"}
			}
		default:
			return c.errAt(at+".deliver", fmt.Sprintf("scope %q: deliver %q is not one of env, file, endpoint", s.Name, s.Deliver))
		}
		p, err := buildProvider(c, i, nil)
		if err != nil {
			return err
		}
		providers = append(providers, p)
	}
	if err := c.checkSharedVariables(providers); err != nil {
		return err
	}
	if c.Attest.Signer == "" {
		c.Attest.Signer = "keyless"
	}
	if err := c.checkKeepEnv(); err != nil {
		return err
	}
	switch {
	case c.Attest.Signer == "none", c.Attest.Signer == "keyless":
	case strings.HasPrefix(c.Attest.Signer, "key:") && len(c.Attest.Signer) > len("key:"):
	case strings.HasPrefix(c.Attest.Signer, "kms:") && len(c.Attest.Signer) > len("kms:"):
	default:
		return c.errAt("attest.signer", fmt.Sprintf("attest.signer %q is not one of keyless, key:PATH, kms:URI, none", c.Attest.Signer))
	}
	if c.Attest.Output == "" {
		c.Attest.Output = "chaperone.sigstore.json"
	}
	for i, s := range c.Attest.Subjects {
		if (s.Path == "") == (s.Image == "") {
			return c.errAt(fmt.Sprintf("attest.subjects[%d]", i), fmt.Sprintf("attest.subjects[%d]: set exactly one of path, image", i))
		}
	}
	switch c.Attest.OCI {
	case "", "referrers":
	default:
		if _, err := oci.ParseRepository(c.Attest.OCI); err != nil {
			return c.errAt("attest.oci", "attest.oci: "+err.Error()+"; or referrers, to attach to each image in its own repository")
		}
	}
	if key, ok := c.Timeouts.validate(); !ok {
		return c.errAt(key, key+" must not be negative")
	}
	c.Timeouts = c.Timeouts.withDefaults()
	if c.Mask.MinLength < 0 {
		return c.errAt("mask.min-length", "mask.min-length must not be negative")
	}
	if err := c.Mask.options().Validate(); err != nil {
		return c.errAt("mask", "mask: "+err.Error())
	}
	return nil
}

var scopeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (c *Config) errAt(path, msg string) error {
	return configErrorf("config %s%s: %s", c.source, c.lineSuffix(path), msg)
}

// lineSuffix returns ":LINE" for a key path like "scopes[1].secrets[0].env",
// or "" when the path is not in the document.
func (c *Config) lineSuffix(path string) string {
	if c.lines == nil || len(c.lines.Content) == 0 {
		return ""
	}
	n := c.lines.Content[0]
	line := n.Line
	for _, part := range splitPath(path) {
		var next *yaml.Node
		if idx, err := strconv.Atoi(part); err == nil {
			if n.Kind == yaml.SequenceNode && idx < len(n.Content) {
				next = n.Content[idx]
			}
		} else if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			break
		}
		n = next
		if n.Kind != yaml.ScalarNode {
			line = max(line, n.Line)
		}
	}
	if line == 0 {
		return ""
	}
	return ":" + strconv.Itoa(line)
}

// splitPath turns "a.b[2].c" into ["a" "b" "2" "c"].
func splitPath(path string) []string {
	path = strings.NewReplacer("[", ".", "]", "").Replace(path)
	var out []string
	for _, p := range strings.Split(path, ".") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// durationHook decodes every time.Duration key (the config's own and the
// providers' settings) from a string ("15m"), with an error that shows the
// value and the expected form. A number is refused: YAML reads
// `duration: 3600` as an integer, which would otherwise become 3600ns.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		d, err := time.ParseDuration(data.(string))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q (write e.g. 15m, 1h30m)", data)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return nil, fmt.Errorf("%v is a number, not a duration (write %s)", data, secondsHint(reflect.ValueOf(data).Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return nil, fmt.Errorf("%v is a number, not a duration (write it with a unit, e.g. 90s or 15m)", data)
	}
	return data, nil
}

// secondsHint spells a number of seconds as durations: "3600s or 1h",
// "900s or 15m", "90s".
func secondsHint(secs int64) string {
	hint := fmt.Sprintf("%ds", secs)
	switch h, m := secs/3600, secs%3600/60; {
	case secs <= 0 || secs%60 != 0:
	case m == 0:
		hint += fmt.Sprintf(" or %dh", h)
	case h == 0:
		hint += fmt.Sprintf(" or %dm", m)
	default:
		hint += fmt.Sprintf(" or %dh%dm", h, m)
	}
	return hint
}

// mapstructureField finds the key path mapstructure names in its errors.
var mapstructureField = regexp.MustCompile(`'([^']*)'`)

// decodeMessage flattens mapstructure's multi-line error into one line and
// returns the key path it names, for the line lookup.
func decodeMessage(err error) (msg, field string) {
	msg = oneLine(err.Error())
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s): ")
	if m := mapstructureField.FindStringSubmatchIndex(msg); m != nil && m[0] == 0 {
		field = msg[m[2]:m[3]]
		msg = strings.TrimSpace(msg[m[1]:])
	}
	return msg, field
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// EndpointScopes names the scopes delivered through the local endpoint,
// which lives only as long as the process that started it.
func (c *Config) EndpointScopes() []string {
	var out []string
	for _, s := range c.Scopes {
		if s.Deliver == "endpoint" {
			out = append(out, s.Name)
		}
	}
	return out
}
