package masking

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks. Throughput is input bytes per second (b.SetBytes); run them
// on one core (-cpu 1). scripts/bench-masking.sh runs them and prints a
// table; docs/benchmarks.md records one.
//
// The workload: n generated secrets with all encodings (genSecrets), and a
// generated build log (genLog) with one leaked secret (raw or encoded)
// every 4 KiB, written in chunks of a given size.

// benchCorpus caches generated workloads: generating 64 MiB of log takes
// a while and several benchmarks share it.
type benchCorpus struct {
	mu      sync.Mutex
	secrets map[int][]string
	logs    map[[2]int][]byte
}

func (c *benchCorpus) get(nSecrets, size int) ([]string, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets == nil {
		c.secrets, c.logs = make(map[int][]string), make(map[[2]int][]byte)
	}
	s, ok := c.secrets[nSecrets]
	if !ok {
		s = genSecrets(rand.New(rand.NewPCG(1, uint64(nSecrets))), nSecrets)
		c.secrets[nSecrets] = s
	}
	key := [2]int{nSecrets, size}
	l, ok := c.logs[key]
	if !ok {
		l = genLog(rand.New(rand.NewPCG(2, uint64(nSecrets))), size, 4<<10, s)
		c.logs[key] = l
	}
	return s, l
}

// corpus is the benchmarks' shared cache (written only under its lock).
var corpus benchCorpus

// benchSize is the log size: 64 MiB, or MASKING_BENCH_MIB.
func benchSize(b *testing.B) int {
	v := os.Getenv("MASKING_BENCH_MIB")
	if v == "" {
		return 64 << 20
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("MASKING_BENCH_MIB=%q", v)
	}
	return n << 20
}

func newBenchSet(secrets []string) *Set {
	set := NewSet(Options{})
	set.Add(secrets...)
	return set
}

// writeAll streams log through w in chunks of size n, b.N times over
// (round robin), counting n bytes per iteration.
func writeChunks(b *testing.B, w io.Writer, log []byte, n int) {
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	off := 0
	for range b.N {
		if off+n > len(log) {
			off = 0
		}
		if _, err := w.Write(log[off : off+n]); err != nil {
			b.Fatal(err)
		}
		off += n
	}
}

// BenchmarkMask is the masker: secrets × write size.
func BenchmarkMask(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000, 10000} {
		for _, chunk := range []int{16, 512, 4 << 10, 64 << 10, 256 << 10} {
			b.Run("secrets="+strconv.Itoa(n)+"/write="+sizeName(chunk), func(b *testing.B) {
				secrets, log := corpus.get(n, benchSize(b))
				set := newBenchSet(secrets)
				w := set.NewWriter(io.Discard)
				_, _ = w.Write(log[:chunk]) // build the matcher outside the timing
				writeChunks(b, w, log, chunk)
			})
		}
	}
}

// BenchmarkMaskConfig is the masker for 1,000 secrets in 64 KiB writes in
// other configurations: without the detectors, without escape sequences
// in the log, and both.
func BenchmarkMaskConfig(b *testing.B) {
	for _, c := range []struct {
		name    string
		opts    Options
		noColor bool
		wopts   []WriterOption
	}{
		{"no-detectors", Options{Detectors: []string{}}, false, nil},
		{"no-escapes-in-log", Options{}, true, nil},
		{"no-detectors/no-escapes-in-log", Options{Detectors: []string{}}, true, nil},
		{"add-mask-redact", Options{}, false, []WriterOption{WithAddMask(AddMaskRedact)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			secrets, log := corpus.get(1000, benchSize(b))
			if c.noColor {
				log = []byte(lexInput(string(log), true).clean)
			}
			set := NewSet(c.opts)
			set.Add(secrets...)
			w := set.NewWriter(io.Discard, c.wopts...)
			_, _ = w.Write(log[:64<<10])
			writeChunks(b, w, log, 64<<10)
		})
	}
}

// BenchmarkBaselineCopy is io.Copy of the same writes into a buffer: the
// cost of touching the bytes once.
func BenchmarkBaselineCopy(b *testing.B) {
	_, log := corpus.get(1000, benchSize(b))
	dst := &copyWriter{buf: make([]byte, 64<<10)}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	off := 0
	for range b.N {
		if off+64<<10 > len(log) {
			off = 0
		}
		if _, err := io.Copy(dst, bytes.NewReader(log[off:off+64<<10])); err != nil {
			b.Fatal(err)
		}
		off += 64 << 10
	}
}

type copyWriter struct{ buf []byte }

func (w *copyWriter) Write(p []byte) (int, error) { return copy(w.buf, p), nil }

// BenchmarkBaselineLines is a masker like the GitHub runner's: lines
// assembled in a buffer (as bufio.Reader.ReadLine does), then every
// registered pattern searched with bytes.Index and the matches merged, per
// line.
func BenchmarkBaselineLines(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("secrets="+strconv.Itoa(n), func(b *testing.B) {
			secrets, log := corpus.get(n, benchSize(b))
			pats := newBenchSet(secrets).snapshot()
			lm := newLineMasker(pats, io.Discard)
			writeChunks(b, lm, log, 64<<10)
		})
	}
}

// BenchmarkBaselineReplacer is strings.Replacer over each 64 KiB write (no
// streaming, first-match semantics).
func BenchmarkBaselineReplacer(b *testing.B) {
	secrets, log := corpus.get(1000, benchSize(b))
	pats := newBenchSet(secrets).snapshot()
	// Longest first, as Replacer prefers earlier pairs at a position.
	slices.SortFunc(pats, func(a, b string) int { return len(b) - len(a) })
	args := make([]string, 0, 2*len(pats))
	for _, p := range pats {
		args = append(args, p, "***")
	}
	r := strings.NewReplacer(args...)
	w := replacerWriter{r}
	_, _ = w.Write(log[:64<<10]) // the Replacer builds lazily
	writeChunks(b, w, log, 64<<10)
}

type replacerWriter struct{ r *strings.Replacer }

func (w replacerWriter) Write(p []byte) (int, error) {
	_, err := w.r.WriteString(io.Discard, string(p))
	return len(p), err
}

// BenchmarkBuild measures compiling the matcher, and reports its size.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("secrets="+strconv.Itoa(n), func(b *testing.B) {
			secrets, _ := corpus.get(n, 1<<20)
			set := newBenchSet(secrets)
			b.ReportAllocs()
			var m *matcher
			for i := range b.N {
				m = build(set.patterns, &set.det, uint64(i))
			}
			b.ReportMetric(float64(m.size())/(1<<20), "MiB")
			b.ReportMetric(float64(len(m.pats)), "patterns")
		})
	}
}

// BenchmarkAdd measures registering secrets (deriving their patterns) and
// the first build, with the heap growth it causes.
func BenchmarkAdd(b *testing.B) {
	secrets, _ := corpus.get(1000, 1<<20)
	b.ReportAllocs()
	var grew uint64
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		set := newBenchSet(secrets)
		set.matcher()
		runtime.ReadMemStats(&after)
		grew = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(set)
	}
	b.ReportMetric(float64(grew)/(1<<20), "MiB-heap")
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// A lineMasker is the GitHub runner's algorithm: whole lines, each pattern
// searched with IndexOf at every position, matches sorted and merged
// (overlapping or adjacent), one mask per merged run.
type lineMasker struct {
	pats [][]byte
	dst  io.Writer
	buf  []byte
	pos  [][2]int
	out  []byte
}

func newLineMasker(pats []string, dst io.Writer) *lineMasker {
	l := &lineMasker{dst: dst}
	for _, p := range pats {
		l.pats = append(l.pats, []byte(p))
	}
	return l
}

func (l *lineMasker) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	consumed := 0
	l.out = l.out[:0]
	for {
		i := bytes.IndexByte(l.buf[consumed:], '\n')
		if i < 0 {
			break
		}
		l.out = append(l.maskLine(l.out, l.buf[consumed:consumed+i]), '\n')
		consumed += i + 1
	}
	l.buf = append(l.buf[:0], l.buf[consumed:]...)
	_, err := l.dst.Write(l.out)
	return len(p), err
}

func (l *lineMasker) maskLine(out, line []byte) []byte {
	l.pos = l.pos[:0]
	for _, p := range l.pats {
		for i := 0; ; {
			j := bytes.Index(line[i:], p)
			if j < 0 {
				break
			}
			l.pos = append(l.pos, [2]int{i + j, i + j + len(p)})
			i += j + 1
		}
	}
	slices.SortFunc(l.pos, func(a, b [2]int) int { return a[0] - b[0] })
	last := 0
	for k := 0; k < len(l.pos); {
		s, e := l.pos[k][0], l.pos[k][1]
		for k++; k < len(l.pos) && l.pos[k][0] <= e; k++ {
			e = max(e, l.pos[k][1])
		}
		out = append(append(out, line[last:s]...), "***"...)
		last = e
	}
	return append(out, line[last:]...)
}

// TestBaselineLineMasker checks the baseline masks like the reference on
// whole lines (so the benchmark compares like with like).
func TestBaselineLineMasker(t *testing.T) {
	pats := []string{"abcd", "cdef", "xyz0"}
	in := "x abcdef xyz0xyz0 q\nnone\nabcd\n"
	var out bytes.Buffer
	lm := newLineMasker(pats, &out)
	lm.Write([]byte(in[:7]))
	lm.Write([]byte(in[7:]))
	if want := referenceMask(in, pats, "***"); out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

// TestBenchWorkload checks the generated workload leaks what it should:
// the masker finds secrets in it, and masks the whole log quickly enough
// that the benchmarks are meaningful.
func TestBenchWorkload(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	secrets := genSecrets(r, 50)
	log := genLog(r, 1<<18, 1<<10, secrets)
	set := newBenchSet(secrets)
	start := time.Now()
	out := set.MaskString(string(log))
	if time.Since(start) > 5*time.Second {
		t.Fatal("masking 256 KiB took over 5 s")
	}
	if set.Redactions() < 200 {
		t.Fatalf("%d redactions in 256 leak lines", set.Redactions())
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("secret survives: %q", s)
		}
	}
}

// TestWriteCorpus writes the benchmark workload for measuring `chaperone
// mask` end to end (scripts/bench-masking.sh --cli): with
// MASKING_CORPUS_DIR set, the 1,000 secrets as a JSON secrets file
// (secrets.json) and MASKING_CORPUS_MIB (default 256) MiB of log (log).
func TestWriteCorpus(t *testing.T) {
	dir := os.Getenv("MASKING_CORPUS_DIR")
	if dir == "" {
		t.Skip("MASKING_CORPUS_DIR is not set")
	}
	mib := 256
	if v := os.Getenv("MASKING_CORPUS_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MASKING_CORPUS_MIB=%q", v)
		}
		mib = n
	}
	secrets := genSecrets(rand.New(rand.NewPCG(1, 1000)), 1000)
	data, err := json.Marshal(secrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	log := genLog(rand.New(rand.NewPCG(2, 1000)), mib<<20, 4<<10, secrets)
	if err := os.WriteFile(filepath.Join(dir, "log"), log, 0o600); err != nil {
		t.Fatal(err)
	}
}
