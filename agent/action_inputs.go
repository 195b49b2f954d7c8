package agent

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// actionInputs are the GitHub Action's inputs (action.yml documents each
// one), read from INPUT_* as the runner passes them.
type actionInputs struct {
	Config    string   // path of the config, or the config itself as inline YAML
	Scopes    []string // the config's scopes to issue; none: all of them
	Attest    bool     // false: no attestation (attest.signer none)
	Signer    string   // overrides attest.signer
	FulcioURL string   // overrides attest.fulcio-url
	TSAURL    string   // overrides attest.tsa-url
	Subjects  []SubjectConfig
	Policy    string // the platform owner's policy: path or inline YAML
}

// readActionInputs reads the inputs through input (go-githubactions'
// GetInput: INPUT_<NAME>, trimmed).
func readActionInputs(input func(string) string) (actionInputs, error) {
	in := actionInputs{
		Config:    input("config"),
		Scopes:    splitList(input("scopes")),
		Signer:    input("signer"),
		FulcioURL: input("fulcio-url"),
		TSAURL:    input("tsa-url"),
		Policy:    input("policy"),
	}
	attest, err := parseBoolInput("attest", input("attest"), true)
	if err != nil {
		return in, err
	}
	in.Attest = attest
	if !attest && in.Signer != "" {
		return in, configErrorf("input signer %q is set but attest is false", in.Signer)
	}
	for _, line := range strings.Split(input("subjects"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "image:"):
			in.Subjects = append(in.Subjects, SubjectConfig{Image: strings.TrimSpace(strings.TrimPrefix(line, "image:"))})
		default:
			in.Subjects = append(in.Subjects, SubjectConfig{Path: strings.TrimSpace(strings.TrimPrefix(line, "path:"))})
		}
	}
	return in, nil
}

// parseBoolInput reads a boolean input as the Actions toolkit does (YAML
// 1.2 core: true, True, TRUE, false, False, FALSE); empty is def.
func parseBoolInput(name, v string, def bool) (bool, error) {
	switch v {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	return false, configErrorf("input %s: %q is not true or false", name, v)
}

// splitList splits a comma- or newline-separated input.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// actionConfig loads the config the inputs name and applies the inputs
// that override it, in the document itself: the Session persists the
// document, so what post resumes is what main started with.
func actionConfig(in actionInputs) (*Config, error) {
	cfg, err := LoadConfig(in.Config)
	if err != nil {
		return nil, err
	}
	if len(in.Scopes) == 0 && in.Attest && in.Signer == "" && in.FulcioURL == "" && in.TSAURL == "" && len(in.Subjects) == 0 {
		return cfg, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(cfg.raw, &doc); err != nil || len(doc.Content) == 0 {
		return nil, configErrorf("config %s: cannot apply the action's inputs", cfg.source)
	}
	root := doc.Content[0]
	if len(in.Scopes) > 0 {
		if err := selectScopes(cfg, root, in.Scopes); err != nil {
			return nil, err
		}
	}
	attest := mappingEntry(root, "attest", yaml.MappingNode)
	set := func(key, value string) {
		if value != "" {
			*mappingEntry(attest, key, yaml.ScalarNode) = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
		}
	}
	if !in.Attest {
		set("signer", "none")
	}
	set("signer", in.Signer)
	set("fulcio-url", in.FulcioURL)
	set("tsa-url", in.TSAURL)
	if len(in.Subjects) > 0 {
		seq := mappingEntry(attest, "subjects", yaml.SequenceNode)
		for _, sc := range in.Subjects {
			key, value := "path", sc.Path
			if sc.Image != "" {
				key, value = "image", sc.Image
			}
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Value: key},
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: value},
			}})
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, configErrorf("config %s: cannot apply the action's inputs: %v", cfg.source, err)
	}
	return ParseConfig(out, cfg.source+" (with the action's inputs)")
}

// selectScopes keeps, in the scopes sequence of root, the scopes named.
func selectScopes(cfg *Config, root *yaml.Node, names []string) error {
	declared := make([]string, len(cfg.Scopes))
	for i, sc := range cfg.Scopes {
		declared[i] = sc.Name
	}
	for _, n := range names {
		if !slices.Contains(declared, n) {
			return configErrorf("input scopes: %q is not a scope of config %s (it declares %s)", n, cfg.source, strings.Join(declared, ", "))
		}
	}
	seq := mappingEntry(root, "scopes", yaml.SequenceNode)
	if len(seq.Content) != len(declared) {
		return configErrorf("config %s: cannot select scopes in it", cfg.source)
	}
	kept := seq.Content[:0]
	for i, item := range seq.Content {
		if slices.Contains(names, declared[i]) {
			kept = append(kept, item)
		}
	}
	seq.Content = kept
	return nil
}

// mappingEntry returns the value node of key in the mapping m, adding an
// empty node of kind when the key is missing or null.
func mappingEntry(m *yaml.Node, key string, kind yaml.Kind) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				*v = yaml.Node{Kind: kind}
			}
			return v
		}
	}
	v := &yaml.Node{Kind: kind}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return v
}
