package scan

import (
	"encoding/json"
	"net/url"
)

// SARIF encodes findings as a SARIF 2.1.0 log, which code scanning
// services (GitHub's among them) read.
func SARIF(findings []Finding, version string) ([]byte, error) {
	type text struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID               string `json:"id"`
		ShortDescription text   `json:"shortDescription"`
	}
	type region struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn"`
	}
	type artifact struct {
		URI string `json:"uri"`
	}
	type physical struct {
		ArtifactLocation artifact `json:"artifactLocation"`
		Region           region   `json:"region"`
	}
	type location struct {
		PhysicalLocation physical `json:"physicalLocation"`
	}
	type result struct {
		RuleID    string     `json:"ruleId"`
		Level     string     `json:"level"`
		Message   text       `json:"message"`
		Locations []location `json:"locations"`
	}
	var rules []rule
	for _, r := range Rules() {
		rules = append(rules, rule{r.ID, text{r.Description}})
	}
	results := []result{}
	for _, f := range findings {
		level := "warning"
		if f.Rule == RuleCredential {
			level = "error"
		}
		results = append(results, result{RuleID: f.Rule, Level: level, Message: text{f.Message},
			Locations: []location{{physical{artifact{(&url.URL{Path: f.Path}).EscapedPath()}, region{f.Line, f.Column}}}}})
	}
	log := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name":           "chaperone",
				"version":        version,
				"informationUri": "https://github.com/chaperone-ci/chaperone",
				"rules":          rules,
			}},
			"results":    results,
			"columnKind": "unicodeCodePoints",
		}},
	}
	return json.MarshalIndent(log, "", "  ")
}
