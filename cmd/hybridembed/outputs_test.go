package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// TestRecordFields: every JSON Lines record with a vector says which
// revision, variant and files made it (null where there is none), so that
// quantized and fp32 vectors, or two revisions, never look alike; a failed
// input's record has the input and the error only.
func TestRecordFields(t *testing.T) {
	home := isolate(t)
	dir := fixtures.Fixture("models", "shapes-clip")
	commit := modelstest.Cache(t, filepath.Join(home, "hub"), "demo/shapes", dir)
	lib := t.TempDir()
	writeFile(t, filepath.Join(lib, "a.png"), mustReadBytes(t, fixtures.Fixture("images", "red_circle.png")))
	writeFile(t, filepath.Join(lib, "b.png"), []byte("not a png"))
	hexRe := regexp.MustCompile(`^[0-9a-f]{64}$`)

	fp32 := records(t, runCLI(t, "", "embed", "--model", dir, lib).stdout)
	require.Len(t, fp32, 2)
	for _, key := range []string{"model", "revision", "variant", "digest", "backend", "reason", "dim", "embedding"} {
		assert.Contains(t, fp32[0], key)
	}
	assert.Nil(t, fp32[0]["revision"], "a folder has no revision")
	assert.Equal(t, "fp32", fp32[0]["variant"])
	assert.Regexp(t, hexRe, fp32[0]["digest"])
	assert.Equal(t, map[string]any{"path": filepath.Join(lib, "b.png"), "error": fp32[1]["error"]}, fp32[1])

	quant := records(t, runCLI(t, "", "embed", "--variant", "quantized", "--model", dir, lib).stdout)
	assert.Equal(t, "quantized", quant[0]["variant"])
	assert.NotEqual(t, fp32[0]["digest"], quant[0]["digest"])

	cached := records(t, runCLI(t, "", "embed", "--model", "demo/shapes", lib).stdout)
	assert.Equal(t, commit, cached[0]["revision"])
	assert.Equal(t, fp32[0]["digest"], cached[0]["digest"], "the same files")

	text := records(t, runCLI(t, "", "text", "--model", "demo/shapes", "a red circle").stdout)
	require.Len(t, text, 1)
	assert.Equal(t, commit, text[0]["revision"])
	assert.Equal(t, "fp32", text[0]["variant"])
	assert.Regexp(t, hexRe, text[0]["digest"])

	help := runCLI(t, "", "embed", "--help").stdout
	for _, field := range []string{"revision", "variant", "digest", "reason", "provider"} {
		assert.Regexp(t, `(?m)^  `+field+` +\S`, help, "%s is documented", field)
	}
}

// TestTextOutputs: text writes -o FILE whole (with a summary line),
// --format npy -o DIR, and leaves an earlier -o FILE alone when nothing
// was embedded.
func TestTextOutputs(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	dir := t.TempDir()
	dest := filepath.Join(dir, "texts.jsonl")
	r := runCLI(t, "a red circle\n\xff bad\na blue\nsquare\n", "text", "--model", model, "-o", dest)
	assert.Equal(t, exitPartial, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "wrote 4 records to "+dest+": 3 embedded, 1 failed\n")
	recs := records(t, mustRead(t, dest))
	require.Len(t, recs, 4)
	assert.Contains(t, recs[1]["error"], "UTF-8")
	assert.Len(t, recs[2]["embedding"], 32)

	r = runCLI(t, "", "text", "--model", model, "-o", dest, "only")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "wrote 1 records to "+dest+": every text embedded\n")
	good := mustRead(t, dest)
	r = runCLI(t, "\xff\n", "text", "--model", model, "-o", dest)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, dest+" is unchanged")
	assert.Equal(t, good, mustRead(t, dest))

	npy := filepath.Join(dir, "npy")
	r = runCLI(t, "{\"text\":\"two\\nlines\"}\n{\"text\":\"one\"}\n", "text", "--jsonl", "--format", "npy", "-o", npy, "--model", model)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "wrote 2 vectors to "+npy+"/embeddings.npy and texts.jsonl")
	data := mustReadBytes(t, filepath.Join(npy, "embeddings.npy"))
	hlen := int(binary.LittleEndian.Uint16(data[8:10]))
	assert.Contains(t, string(data[10:10+hlen]), "'shape': (2, 32)")
	lines := strings.Split(strings.TrimSpace(mustRead(t, filepath.Join(npy, "texts.jsonl"))), "\n")
	require.Len(t, lines, 2)
	var first string
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, "two\nlines", first)
	want := records(t, runCLI(t, "", "text", "--model", model, "two\nlines").stdout)[0]["embedding"].([]any)
	for j, x := range want {
		assert.InDelta(t, x.(float64), float64(math.Float32frombits(binary.LittleEndian.Uint32(data[10+hlen+4*j:]))), 1e-6)
	}

	r = runCLI(t, "", "text", "--model", model, "--format", "npy", "x")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "--format npy writes a folder: give it with -o DIR")
	r = runCLI(t, "", "text", "--model", model, "--format", "parquet", "x")
	assert.Contains(t, r.stderr, `--format: "parquet": want jsonl or npy`)
}

// TestTextDownloads: a model text runs here is downloaded first, unless
// --no-download (then the network is not asked for files).
func TestTextDownloads(t *testing.T) {
	s, _ := online(t)
	s.Host(t, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	r := runCLI(t, "", "text", "--no-download", "--model", "acme/tiny-clip", "hi")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "hybridembed models pull acme/tiny-clip")
	assert.Zero(t, s.Count("/acme/tiny-clip/resolve"), "nothing downloaded")
	r = runCLI(t, "", "text", "--model", "acme/tiny-clip", "hi")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "acme/tiny-clip is not cached here; downloading it")
	assert.Equal(t, "local", records(t, r.stdout)[0]["backend"])
}

// TestEmbedOutputSummary: a successful embed -o says what it wrote, in one
// line; to stdout it says nothing.
func TestEmbedOutputSummary(t *testing.T) {
	isolate(t)
	dest := filepath.Join(t.TempDir(), "out.jsonl")
	model := fixtures.Fixture("models", "tiny-clip")
	r := runCLI(t, "", "embed", "--model", model, "-o", dest, fixtures.Fixture("images"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "wrote 4 records to "+dest+": every image embedded\n", r.stderr)
	r = runCLI(t, "", "embed", "--model", model, fixtures.Fixture("images"))
	require.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stderr)
}

// TestSearchQuietWhenUnchanged: search says nothing about the index when
// its update changed nothing; it does when something changed.
func TestSearchQuietWhenUnchanged(t *testing.T) {
	isolate(t)
	lib := sampleLibrary(t)
	model := fixtures.Fixture("models", "tiny-clip")
	r := runCLI(t, "", "search", "--model", model, "-q", "a red circle", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "5 new")
	r = runCLI(t, "", "search", "--model", model, "-q", "a red circle", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr, "nothing changed: nothing to say")
	assert.Contains(t, r.stdout, "red_circle.png")
	writePNG(t, filepath.Join(lib, "new.png"), 7)
	r = runCLI(t, "", "search", "--model", model, "-q", "a red circle", lib)
	assert.Contains(t, r.stderr, "1 new")
}

// TestIndexInterruptedSummaries: an interrupted index says how many images
// it saved and that a rerun goes on; the rerun does not count the images
// the interrupted run never embedded as unchanged.
func TestIndexInterruptedSummaries(t *testing.T) {
	isolate(t)
	lib := t.TempDir()
	const n = 300
	for i := range n {
		writePNG(t, filepath.Join(lib, fmt.Sprintf("p%03d.png", i)), uint64(i))
	}
	// Its report, half way, interrupts the run.
	writeFile(t, filepath.Join(lib, "p150-corrupt.png"), []byte("not a png"))
	model := fixtures.Fixture("models", "tiny-clip")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOnWrite{cancel: cancel} // cancelled at the corrupt file's report
	code := run(ctx, []string{"index", "--model", model, lib}, strings.NewReader(""), io.Discard, stderr)
	require.Equal(t, exitInterrupted, code, stderr.String())
	m := regexp.MustCompile(`hybridembed: interrupted: (\d+) images? embedded and saved in \S+; run the same command again to go on from there`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, stderr.String())
	var saved int
	fmt.Sscan(m[1], &saved)
	require.Less(t, saved, n, "the run was cut short")
	require.Positive(t, saved, "the images before the interrupt were saved")

	r := runCLI(t, "", "index", "--model", model, lib)
	assert.Equal(t, exitOK, r.code, r.stderr)
	m = regexp.MustCompile(`0 new, 0 changed, 0 renamed, (\d+) unchanged, (\d+) left unembedded by an earlier run, 0 removed, 0 failed.*; (\d+) embedded, 0 reused`).FindStringSubmatch(r.stderr)
	require.NotNil(t, m, r.stderr)
	var unchanged, left, embedded int
	fmt.Sscan(m[1], &unchanged)
	fmt.Sscan(m[2], &left)
	fmt.Sscan(m[3], &embedded)
	assert.Equal(t, n-saved, left, "what the interrupted run did not save is not 'unchanged'")
	assert.Equal(t, left, embedded)
	assert.Equal(t, n+1, unchanged+left, "every file counted once")
}
