package attest

import "encoding/json"

// MarshalJSON encodes the predicate with every list present: a nil slice
// becomes [] rather than null, so consumers (and the JSON Schema in
// schema/job-v1.schema.json) can rely on grants, steps, refused,
// identity.audiences, identity.tokenSHA256 and steps[].command being arrays.
func (p JobPredicate) MarshalJSON() ([]byte, error) {
	type plain JobPredicate // no methods: avoids recursing into MarshalJSON
	q := plain(p)
	q.Identity.Audiences = orEmpty(q.Identity.Audiences)
	q.Identity.TokenSHA256 = orEmpty(q.Identity.TokenSHA256)
	q.Grants = orEmpty(q.Grants)
	q.Refused = orEmpty(q.Refused)
	steps := make([]Step, len(p.Steps))
	copy(steps, p.Steps)
	for i := range steps {
		steps[i].Command = orEmpty(steps[i].Command)
	}
	q.Steps = steps
	return json.Marshal(q)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
