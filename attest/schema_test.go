package attest_test

// This file carries a small validator for exactly the draft 2020-12
// keywords the predicate's schema uses (internal/scan's tests validate
// SARIF with santhosh-tekuri/jsonschema; attest keeps its own so that the
// library package imports nothing of the sort). It fails on any keyword it
// does not implement, so the schema cannot silently outgrow it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
)

const schemaPath = "../schema/job-v1.schema.json"
const docPath = "../docs/predicate.md"

func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding JSON: %v", err)
	}
	return v
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := decodeJSON(t, data).(map[string]any)
	if !ok {
		t.Fatal("schema is not an object")
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema = %v, want draft 2020-12", s["$schema"])
	}
	return s
}

type miniValidator struct {
	root        map[string]any
	unsupported []string
}

var annotationKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$defs": true,
	"title": true, "description": true, "examples": true,
}

func (v *miniValidator) resolve(ref string) any {
	const prefix = "#/$defs/"
	if !strings.HasPrefix(ref, prefix) {
		v.unsupported = append(v.unsupported, "$ref "+ref)
		return true
	}
	def, ok := v.root["$defs"].(map[string]any)[strings.TrimPrefix(ref, prefix)]
	if !ok {
		v.unsupported = append(v.unsupported, "dangling $ref "+ref)
		return true
	}
	return def
}

// validate returns the instance's violations of schema, each prefixed with
// a JSON path.
func (v *miniValidator) validate(schema, inst any, path string) []string {
	if b, ok := schema.(bool); ok {
		if b {
			return nil
		}
		return []string{path + ": not allowed"}
	}
	s := schema.(map[string]any)
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	obj, isObj := inst.(map[string]any)
	arr, isArr := inst.([]any)
	str, isStr := inst.(string)
	num, isNum := inst.(json.Number)

	for kw, val := range s {
		switch {
		case annotationKeywords[kw]:
		case kw == "$ref":
			errs = append(errs, v.validate(v.resolve(val.(string)), inst, path)...)
		case kw == "type":
			types := []string{}
			switch tv := val.(type) {
			case string:
				types = append(types, tv)
			case []any:
				for _, x := range tv {
					types = append(types, x.(string))
				}
			}
			if !slices.ContainsFunc(types, func(typ string) bool { return hasType(inst, typ) }) {
				bad("is %T, want %v", inst, types)
			}
		case kw == "enum":
			if !slices.ContainsFunc(val.([]any), func(x any) bool { return reflect.DeepEqual(x, inst) }) {
				bad("%v is not one of %v", inst, val)
			}
		case kw == "const":
			if !reflect.DeepEqual(val, inst) {
				bad("%v is not %v", inst, val)
			}
		case kw == "required":
			if isObj {
				for _, r := range val.([]any) {
					if _, ok := obj[r.(string)]; !ok {
						bad("missing required %q", r)
					}
				}
			}
		case kw == "properties":
			if isObj {
				for name, sub := range val.(map[string]any) {
					if x, ok := obj[name]; ok {
						errs = append(errs, v.validate(sub, x, path+"."+name)...)
					}
				}
			}
		case kw == "additionalProperties":
			if isObj {
				props, _ := s["properties"].(map[string]any)
				for name, x := range obj {
					if _, declared := props[name]; !declared {
						errs = append(errs, v.validate(val, x, path+"."+name)...)
					}
				}
			}
		case kw == "items":
			if isArr {
				for i, x := range arr {
					errs = append(errs, v.validate(val, x, fmt.Sprintf("%s[%d]", path, i))...)
				}
			}
		case kw == "minItems":
			if n, _ := val.(json.Number).Int64(); isArr && int64(len(arr)) < n {
				bad("has %d items, want at least %d", len(arr), n)
			}
		case kw == "minLength":
			if n, _ := val.(json.Number).Int64(); isStr && int64(utf8.RuneCountInString(str)) < n {
				bad("is shorter than %d", n)
			}
		case kw == "pattern":
			if isStr && !regexp.MustCompile(val.(string)).MatchString(str) {
				bad("%q does not match %s", str, val)
			}
		case kw == "minimum":
			if isNum {
				x, _ := num.Float64()
				m, _ := val.(json.Number).Float64()
				if x < m {
					bad("%v is less than %v", x, m)
				}
			}
		case kw == "format":
			if val == "date-time" && isStr {
				if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
					bad("%q is not an RFC 3339 date-time", str)
				}
			} else if val != "date-time" {
				v.unsupported = append(v.unsupported, "format "+fmt.Sprint(val))
			}
		case kw == "allOf":
			for _, sub := range val.([]any) {
				errs = append(errs, v.validate(sub, inst, path)...)
			}
		case kw == "if":
			if len(v.validate(val, inst, path)) == 0 {
				if then, ok := s["then"]; ok {
					errs = append(errs, v.validate(then, inst, path)...)
				}
			} else if els, ok := s["else"]; ok {
				errs = append(errs, v.validate(els, inst, path)...)
			}
		case kw == "then" || kw == "else":
			// handled with "if"
		default:
			v.unsupported = append(v.unsupported, "keyword "+kw+" at "+path)
		}
	}
	return errs
}

func hasType(inst any, typ string) bool {
	switch typ {
	case "object":
		_, ok := inst.(map[string]any)
		return ok
	case "array":
		_, ok := inst.([]any)
		return ok
	case "string":
		_, ok := inst.(string)
		return ok
	case "boolean":
		_, ok := inst.(bool)
		return ok
	case "null":
		return inst == nil
	case "number":
		_, ok := inst.(json.Number)
		return ok
	case "integer":
		n, ok := inst.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

// validatePredicate validates predicate JSON against the schema.
func validatePredicate(t *testing.T, schema map[string]any, predicate []byte) []string {
	t.Helper()
	v := &miniValidator{root: schema}
	errs := v.validate(schema, decodeJSON(t, predicate), "predicate")
	if len(v.unsupported) > 0 {
		t.Fatalf("the schema uses what this test's validator does not implement: %v", v.unsupported)
	}
	sort.Strings(errs)
	return errs
}

func TestStatementValidatesAgainstSchema(t *testing.T) {
	schema := loadSchema(t)
	raw, _ := attesttest.Statement(t)
	st, err := attest.ParseStatement(raw)
	if err != nil {
		t.Fatal(err)
	}
	if errs := validatePredicate(t, schema, st.Predicate); len(errs) > 0 {
		t.Fatalf("the example predicate does not validate:\n%s", strings.Join(errs, "\n"))
	}

	// A minimal predicate (empty lists, no optional fields) validates too.
	minimal := &attest.JobPredicate{
		Agent:    attest.Agent{Name: "chaperone", Version: "dev"},
		Platform: "local",
		Job:      attest.Job{RunURI: "local://run/1"},
		Outcome:  attest.OutcomeAgentError,
	}
	raw, err = attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(minimal.Job.RunURI)}, minimal)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = attest.ParseStatement(raw)
	if errs := validatePredicate(t, schema, st.Predicate); len(errs) > 0 {
		t.Fatalf("the minimal predicate does not validate:\n%s", strings.Join(errs, "\n"))
	}
}

// TestSchemaRejects shows the schema (and the validator) has teeth: each
// broken predicate must fail, and JobPredicate.Validate must agree.
func TestSchemaRejects(t *testing.T) {
	schema := loadSchema(t)
	base, err := json.Marshal(attesttest.JobPredicate())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"missing outcome", func(m map[string]any) { delete(m, "outcome") }, `missing required "outcome"`},
		{"unknown outcome", func(m map[string]any) { m["outcome"] = "ok" }, "predicate.outcome"},
		{"unknown field", func(m map[string]any) { m["logs"] = "raw log text" }, "predicate.logs"},
		{"grants null", func(m map[string]any) { m["grants"] = nil }, "predicate.grants"},
		{"bad delivery", func(m map[string]any) { grant(m, 0)["delivery"] = "clipboard" }, "predicate.grants[0].delivery"},
		{"bad revocation outcome", func(m map[string]any) { revocation(m, 0)["outcome"] = "gone" }, "predicate.grants[0].revocation.outcome"},
		{"revoked without at", func(m map[string]any) { delete(revocation(m, 0), "at") }, `missing required "at"`},
		{"expiry without expiresAt", func(m map[string]any) { delete(revocation(m, 1), "expiresAt") }, `missing required "expiresAt"`},
		{"failed without error", func(m map[string]any) { delete(revocation(m, 2), "error") }, `missing required "error"`},
		{"fingerprint not hex", func(m map[string]any) { grant(m, 0)["credentialSHA256"] = "hvs.secret" }, "credentialSHA256"},
		{"token digest uppercase", func(m map[string]any) {
			id := m["identity"].(map[string]any)
			id["tokenSHA256"] = []any{strings.ToUpper(attesttest.HexSHA256("t"))}
		}, "tokenSHA256[0]"},
		{"bad time", func(m map[string]any) { m["startedAt"] = "yesterday" }, "predicate.startedAt"},
		{"negative redactions", func(m map[string]any) {
			m["masking"].(map[string]any)["redactions"] = json.Number("-1")
		}, "predicate.masking.redactions"},
		{"fractional exit code", func(m map[string]any) {
			m["steps"].([]any)[0].(map[string]any)["exitCode"] = json.Number("1.5")
		}, "predicate.steps[0].exitCode"},
		{"unknown restriction", func(m map[string]any) { grant(m, 0)["restrictions"] = map[string]any{"token": "hvs.secret"} }, "predicate.grants[0].restrictions"},
		{"bad permission level", func(m map[string]any) {
			grant(m, 0)["restrictions"] = map[string]any{"permissions": map[string]any{"contents": "all"}}
		}, "predicate.grants[0].restrictions.permissions"},
		{"empty command", func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["command"] = []any{} }, "predicate.steps[0].command"},
		{"empty runURI", func(m map[string]any) { m["job"].(map[string]any)["runURI"] = "" }, "predicate.job.runURI"},
		{"claims not strings", func(m map[string]any) {
			m["identity"].(map[string]any)["claims"] = map[string]any{"n": json.Number("1")}
		}, "predicate.identity.claims.n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := decodeJSON(t, base).(map[string]any)
			c.edit(m)
			edited, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			errs := validatePredicate(t, schema, edited)
			if len(errs) == 0 {
				t.Fatal("the schema accepted it")
			}
			if !strings.Contains(strings.Join(errs, "\n"), c.want) {
				t.Errorf("violations %v do not mention %q", errs, c.want)
			}
			// JobPredicate.Validate agrees wherever the Go types can hold
			// the broken value (unknown fields, null lists and values of
			// the wrong JSON type do not survive decoding into Go).
			if goExpressible[c.name] {
				var p attest.JobPredicate
				if err := json.Unmarshal(edited, &p); err != nil {
					t.Fatal(err)
				}
				if err := p.Validate(); err == nil {
					t.Errorf("JobPredicate.Validate accepted what the schema refuses")
				}
			}
		})
	}
}

var goExpressible = map[string]bool{
	"missing outcome": true, "unknown outcome": true, "bad delivery": true,
	"bad revocation outcome": true, "revoked without at": true,
	"expiry without expiresAt": true, "failed without error": true,
	"fingerprint not hex": true, "token digest uppercase": true,
	"negative redactions": true, "empty command": true, "empty runURI": true,
}

func grant(m map[string]any, i int) map[string]any {
	return m["grants"].([]any)[i].(map[string]any)
}

func revocation(m map[string]any, i int) map[string]any {
	return grant(m, i)["revocation"].(map[string]any)
}

// TestSchemaMatchesGoTypes checks that every JSON field of the Go types is
// in the schema and vice versa, that fields without omitempty/omitzero are
// exactly the schema's required ones, and that the enums agree.
func TestSchemaMatchesGoTypes(t *testing.T) {
	schema := loadSchema(t)
	v := &miniValidator{root: schema}
	compareType(t, v, reflect.TypeFor[attest.JobPredicate](), schema, "predicate")
	if len(v.unsupported) > 0 {
		t.Fatal(v.unsupported)
	}

	enum := func(node any) []string {
		var out []string
		for _, x := range node.(map[string]any)["enum"].([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	props := schema["properties"].(map[string]any)
	defs := schema["$defs"].(map[string]any)
	checkEnum := func(name string, got, want []string) {
		if !slices.Equal(got, want) {
			t.Errorf("%s enum: schema %v, Go %v", name, got, want)
		}
	}
	checkEnum("outcome", enum(props["outcome"]), attest.Outcomes)
	checkEnum("delivery", enum(defs["grant"].(map[string]any)["properties"].(map[string]any)["delivery"]), attest.Deliveries)
	checkEnum("revocation.outcome", enum(defs["revocation"].(map[string]any)["properties"].(map[string]any)["outcome"]), attest.RevocationOutcomes)
}

var timeType = reflect.TypeFor[time.Time]()

func compareType(t *testing.T, v *miniValidator, typ reflect.Type, node any, path string) {
	t.Helper()
	n := node.(map[string]any)
	if ref, ok := n["$ref"].(string); ok {
		compareType(t, v, typ, v.resolve(ref), path)
		return
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == timeType:
		if n["format"] != "date-time" {
			t.Errorf("%s: Go time.Time, schema %v", path, n)
		}
	case typ.Kind() == reflect.Struct:
		if n["type"] != "object" || n["additionalProperties"] != false {
			t.Errorf("%s: want a closed object in the schema", path)
		}
		props, _ := n["properties"].(map[string]any)
		var required []string
		for _, r := range n["required"].([]any) {
			required = append(required, r.(string))
		}
		goFields := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				t.Errorf("%s.%s has no json name", path, f.Name)
				continue
			}
			goFields[name] = true
			sub, ok := props[name]
			if !ok {
				t.Errorf("%s.%s (Go %s.%s) is not in the schema", path, name, typ.Name(), f.Name)
				continue
			}
			optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
			if isRequired := slices.Contains(required, name); isRequired == optional {
				t.Errorf("%s.%s: required in schema = %v, but the Go field omitempty/omitzero = %v", path, name, isRequired, optional)
			}
			compareType(t, v, f.Type, sub, path+"."+name)
		}
		for name := range props {
			if !goFields[name] {
				t.Errorf("%s.%s is in the schema but not in Go type %s", path, name, typ.Name())
			}
		}
	case typ.Kind() == reflect.Slice:
		if n["type"] != "array" {
			t.Errorf("%s: Go slice, schema type %v", path, n["type"])
			return
		}
		compareType(t, v, typ.Elem(), n["items"], path+"[]")
	case typ.Kind() == reflect.Map:
		if n["type"] != "object" {
			t.Errorf("%s: Go map, schema type %v", path, n["type"])
			return
		}
		compareType(t, v, typ.Elem(), n["additionalProperties"], path+"{}")
	case typ.Kind() == reflect.String:
		if n["type"] != "string" && n["enum"] == nil {
			t.Errorf("%s: Go string, schema %v", path, n)
		}
	case typ.Kind() == reflect.Int:
		if n["type"] != "integer" {
			t.Errorf("%s: Go int, schema type %v", path, n["type"])
		}
	case typ.Kind() == reflect.Bool:
		if n["type"] != "boolean" {
			t.Errorf("%s: Go bool, schema type %v", path, n["type"])
		}
	default:
		t.Errorf("%s: Go kind %v not handled by this test", path, typ.Kind())
	}
}

// TestDocExample checks the example statement in docs/predicate.md: it is
// an in-toto Statement v1 of the job predicate type whose predicate
// validates against the schema, decodes into JobPredicate without unknown
// fields and passes Validate, and whose job subject digest is right.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var example []byte
	for _, block := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1) {
		if bytes.Contains(block[1], []byte(`"_type"`)) {
			example = block[1]
			break
		}
	}
	if example == nil {
		t.Fatal("no example statement (a ```json block with \"_type\") in docs/predicate.md")
	}
	st, err := attest.ParseStatement(example)
	if err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != attest.PredicateTypeJob {
		t.Errorf("predicateType = %q", st.PredicateType)
	}
	if errs := validatePredicate(t, loadSchema(t), st.Predicate); len(errs) > 0 {
		t.Errorf("doc example does not validate:\n%s", strings.Join(errs, "\n"))
	}
	dec := json.NewDecoder(bytes.NewReader(st.Predicate))
	dec.DisallowUnknownFields()
	var p attest.JobPredicate
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("doc example predicate: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	if !slices.ContainsFunc(st.Subject, func(s attest.Subject) bool { return reflect.DeepEqual(s, attest.JobSubject(p.Job.RunURI)) }) {
		t.Errorf("doc example lacks the job subject %+v", attest.JobSubject(p.Job.RunURI))
	}
	// Every field of the schema appears in the doc.
	for _, name := range schemaFieldNames(loadSchema(t)) {
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("docs/predicate.md does not document `%s`", name)
		}
	}
}

func schemaFieldNames(schema map[string]any) []string {
	seen := map[string]bool{}
	var walk func(n any)
	walk = func(n any) {
		m, ok := n.(map[string]any)
		if !ok {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, sub := range props {
				seen[name] = true
				walk(sub)
			}
		}
		for _, k := range []string{"items", "additionalProperties"} {
			walk(m[k])
		}
		if defs, ok := m["$defs"].(map[string]any); ok {
			for _, d := range defs {
				walk(d)
			}
		}
	}
	walk(schema)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
