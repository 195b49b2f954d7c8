package report

import (
	"iter"
	"runtime"
	"sync"

	"github.com/chaperone-ci/chaperone/attest"

	"github.com/chaperone-ci/chaperone/attest/verify"
)

// Build reads and verifies each bundle file named by paths with v
// (opts.Workers at once), Adds it in the order paths yields it, and
// Finishes the report. A file that cannot be read is rejected, like a
// bundle that does not verify.
//
// Memory stays bounded by the workers, not the input: paths is read as
// the workers need it, a bundle's bytes are dropped once it is verified,
// and at most a few verified results per worker wait to be added in
// order. What grows with the input is the report's per-job summaries
// (names, times, scopes), never a bundle. The report is the same for any
// number of workers.
func Build(v *verify.Verifier, paths iter.Seq[string], opts Options) *Report {
	return BuildFrom(v, Files(paths), opts)
}

// An Input is one bundle to report on: Name says where it is (a file, a
// registry tag), Read fetches it when a worker gets to it.
type Input struct {
	Name string
	Read func() ([]byte, error)
}

// Files is the bundle files named by paths, as Inputs.
func Files(paths iter.Seq[string]) iter.Seq[Input] {
	return func(yield func(Input) bool) {
		for p := range paths {
			if !yield(Input{Name: p, Read: func() ([]byte, error) { return attest.ReadBundleFile(p) }}) {
				return
			}
		}
	}
}

// BuildFrom is Build over any bundles, such as those an attestation
// repository holds: each Input is read, verified and added as Build does
// with files.
func BuildFrom(v *verify.Verifier, inputs iter.Seq[Input], opts Options) *Report {
	r := New(opts)
	workers := r.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type item struct {
		seq int
		in  Input
		res *verify.Result
		err error
	}
	// window bounds how far the workers run ahead of the oldest bundle
	// not yet added: results wait in pending only that long.
	window := make(chan struct{}, 4*workers)
	work := make(chan item)
	results := make(chan item, 4*workers)
	go func() {
		defer close(work)
		seq := 0
		for in := range inputs {
			window <- struct{}{} // released once the bundle is added
			work <- item{seq: seq, in: in}
			seq++
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range work {
				data, err := it.in.Read()
				it.in.Read = nil // the closure may hold what it read
				if err == nil {
					it.res, it.err = v.Verify(data)
				} else {
					it.err = err
				}
				results <- it
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	pending := map[int]item{}
	next := 0
	for it := range results {
		pending[it.seq] = it
		for {
			p, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			r.Add(p.in.Name, p.res, p.err)
			next++
			<-window
		}
	}
	r.Finish()
	return r
}
