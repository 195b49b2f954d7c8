package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as aligned text: each identity, then a row
// per grant.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, id := range r.Identities {
		fmt.Fprintf(tw, "identity %s\t(issuer %s)\n", printable(id.Subject), printable(id.Issuer))
		fmt.Fprintf(tw, "  jobs %d\t%s\tfirst %s\tlast %s\tanomalies %d\n", id.Jobs, counts(id.Outcomes), id.FirstJob.Format("2006-01-02T15:04Z07:00"), id.LastJob.Format("2006-01-02T15:04Z07:00"), len(id.Anomalies))
		for _, a := range id.Anomalies {
			fmt.Fprintf(tw, "  ! %s\t%s\t%s\t%s\n", a.Kind, a.At.UTC().Format("2006-01-02T15:04Z"), printable(a.Bundle), printable(a.Detail))
		}
		fmt.Fprintf(tw, "  scope\tprovider\tprincipal\tissued\trevoked\texpiry-bound\tfailed\tmax lifetime\tunbounded\n")
		for _, g := range id.Grants {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\n", printable(g.Scope), printable(g.Provider), printable(g.Principal), g.Issued, g.Revoked, g.Expired, g.Failed, g.MaxLifetime, g.Unbounded)
		}
		if len(id.Refused) > 0 {
			fmt.Fprintf(tw, "  refused\t%s\n", counts(id.Refused))
		}
		fmt.Fprintf(tw, "  masked\t%d redactions\t%s\n", id.Redactions, counts(id.DetectorHits))
	}
	for _, b := range r.Rejected {
		fmt.Fprintf(tw, "rejected %s\t%s\n", printable(b.Name), printable(b.Reason))
	}
	return tw.Flush()
}

// printable quotes a string holding control characters (a line break, a
// tab, a terminal escape), which would otherwise forge table lines.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// counts writes a map of counts as "k n, k n" in key order.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", printable(k), m[k])
	}
	return strings.Join(parts, ", ")
}

// reportPage is the HTML report; html/template escapes every value. Each
// identity has a timeline: an inline SVG with a dot per job over the
// report's span, the jobs that show an anomaly larger and red, each with
// a tooltip (its <title>). No script, no external asset.
var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{"counts": counts, "timeline": (*Report).timeline}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chaperone: non-human identities</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}.bad{color:#b00}
svg.timeline{display:block;width:100%;max-width:60em;height:2.4em;background:#f6f6f6;border:1px solid #ddd}
svg.timeline .axis{stroke:#999;stroke-width:1}svg.timeline .job{fill:#4a7ab0;fill-opacity:.55}svg.timeline .anomaly{fill:#d00;stroke:#600;stroke-width:1}
.span{color:#666;font-size:.85em;margin:.1em 0 .8em}</style>
</head><body>
<h1>Non-human identities</h1>
<table class="identities"><tr><th>identity</th><th>issuer</th><th>jobs</th><th>anomalies</th></tr>
{{range .Identities}}<tr><td>{{.Subject}}</td><td>{{.Issuer}}</td><td>{{.Jobs}}</td><td{{if .Anomalies}} class="bad"{{end}}>{{len .Anomalies}}</td></tr>
{{end}}</table>
{{range .Identities}}<section class="identity"><h2>{{.Subject}}</h2>
<p>Issuer {{.Issuer}}; {{.Jobs}} job(s) ({{counts .Outcomes}}), from {{.FirstJob.Format "2006-01-02 15:04 MST"}} to {{.LastJob.Format "2006-01-02 15:04 MST"}}; {{.Redactions}} redaction(s){{if .DetectorHits}} ({{counts .DetectorHits}}){{end}}.</p>
{{with timeline $ .}}<svg class="timeline" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img" aria-label="jobs over time"><line class="axis" x1="0" y1="12" x2="1000" y2="12"/>
{{range .Jobs}}<circle class="job" cx="{{.X}}" cy="12" r="3"><title>{{.Title}}</title></circle>{{end}}
{{range .Anomalous}}<circle class="anomaly" cx="{{.X}}" cy="12" r="6"><title>{{.Title}}</title></circle>{{end}}
</svg><p class="span">{{.From}} — {{.To}}</p>{{end}}
{{if .Anomalies}}<table class="anomalies"><tr><th>anomaly</th><th>job started</th><th>bundle</th><th>detail</th></tr>
{{range .Anomalies}}<tr class="bad"><td>{{.Kind}}</td><td>{{.At.UTC.Format "2006-01-02 15:04 MST"}}</td><td>{{.Bundle}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{end}}
<table><tr><th>scope</th><th>provider</th><th>principal</th><th>issued</th><th>revoked</th><th>expiry-bound</th><th>revocation failed</th><th>refreshes</th><th>endpoint fetches</th><th>longest lifetime</th><th>no expiry, not revoked</th></tr>
{{range .Grants}}<tr><td>{{.Scope}}</td><td>{{.Provider}}</td><td>{{.Principal}}</td><td>{{.Issued}}</td><td>{{.Revoked}}</td><td>{{.Expired}}</td><td{{if .Failed}} class="bad"{{end}}>{{.Failed}}</td><td>{{.Refreshes}}</td><td>{{.Fetches}}</td><td>{{.MaxLifetime}}</td><td{{if .Unbounded}} class="bad"{{end}}>{{.Unbounded}}</td></tr>
{{end}}</table>
{{if .Refused}}<p class="bad">Refused: {{counts .Refused}}</p>{{end}}
</section>
{{end}}{{if .Rejected}}<h2 class="bad">Rejected bundles</h2><ul>{{range .Rejected}}<li>{{.Name}}: {{.Reason}}</li>{{end}}</ul>{{end}}
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error { return reportPage.Execute(w, r) }

// timeline is one identity's jobs placed on the report's span.
type timeline struct {
	From, To  string
	Jobs      []dot // jobs without an anomaly
	Anomalous []dot // drawn last, on top
}

type dot struct {
	X     string // 0 to 1000, the SVG's width
	Title string
}

func (r *Report) timeline(id *Identity) timeline {
	from, to := r.span[0], r.span[1]
	tl := timeline{From: from.UTC().Format("2006-01-02"), To: to.UTC().Format("2006-01-02")}
	kinds := map[string][]string{}
	for _, a := range id.Anomalies {
		kinds[a.Bundle] = append(kinds[a.Bundle], a.Kind)
	}
	for _, j := range id.history {
		x := 500.0
		if span := to.Sub(from); span > 0 {
			x = 6 + 988*float64(j.started.Sub(from))/float64(span)
		}
		d := dot{X: strconv.FormatFloat(x, 'f', 1, 64), Title: j.started.UTC().Format("2006-01-02 15:04 UTC") + " " + j.name}
		if j.flagged {
			d.Title += ": " + strings.Join(kinds[j.name], ", ")
			tl.Anomalous = append(tl.Anomalous, d)
		} else {
			tl.Jobs = append(tl.Jobs, d)
		}
	}
	return tl
}
