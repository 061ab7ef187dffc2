package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func records(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		out = append(out, m)
	}
	return out
}

func isolate(t *testing.T) string {
	t.Helper()
	orttest.Init(t)
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no config.toml but the test's own
	t.Setenv("HYBRIDEMBED_MODEL", "")
	return home
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// TestEmbedHostileFolder: every bad file gets its own error, the good ones
// are embedded, the exit status is 3 and memory stays bounded.
func TestEmbedHostileFolder(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	good, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	jpg, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)
	writeFile(t, filepath.Join(dir, "a_good.png"), good)
	writeFile(t, filepath.Join(dir, "sub", "b_good.jpg"), jpg)
	writeFile(t, filepath.Join(dir, "empty.jpg"), nil)
	writeFile(t, filepath.Join(dir, "truncated.jpg"), jpg[:len(jpg)/2])
	writeFile(t, filepath.Join(dir, "notes.png"), []byte("not an image at all\n"))
	writeFile(t, filepath.Join(dir, "bomb.jpg"), fixtures.BombJPEG())
	writeFile(t, filepath.Join(dir, "bomb.png"), fixtures.BombPNG())
	writeFile(t, filepath.Join(dir, "readme.txt"), []byte("skipped: not an image extension"))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := runCLI(t, "", "embed", "--model", fixtures.Fixture("models", "tiny-clip"), dir)
	runtime.ReadMemStats(&after)
	require.Equal(t, exitPartial, r.code, r.stderr)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(512<<20))

	recs := records(t, r.stdout)
	byName := map[string]map[string]any{}
	var order []string
	for _, rec := range recs {
		name := filepath.Base(rec["path"].(string))
		byName[name] = rec
		order = append(order, name)
	}
	assert.Equal(t, []string{"a_good.png", "bomb.jpg", "bomb.png", "empty.jpg", "notes.png", "b_good.jpg", "truncated.jpg"}, order, "sorted walk order")
	for _, ok := range []string{"a_good.png", "b_good.jpg"} {
		assert.NotContains(t, byName[ok], "error")
		assert.Len(t, byName[ok]["embedding"], 32)
		assert.Equal(t, "local", byName[ok]["backend"])
	}
	for name, want := range map[string]string{
		"empty.jpg":     "empty file",
		"truncated.jpg": "corrupt or truncated",
		"notes.png":     "not a supported image",
		"bomb.jpg":      "65000x65000",
		"bomb.png":      "20000x20000",
	} {
		assert.Contains(t, byName[name]["error"], want, name)
		assert.Contains(t, r.stderr, name)
	}
	assert.Contains(t, r.stderr, "5 of 7 images failed")
}

func TestEmbedOutputFile(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.jsonl")
	writeFile(t, dest, []byte("previous results\n"))

	// A model that cannot load leaves an earlier output untouched.
	r := runCLI(t, "", "embed", "--model", filepath.Join(dir, "nope"), "-o", dest, fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	got, _ := os.ReadFile(dest)
	assert.Equal(t, "previous results\n", string(got))

	r = runCLI(t, "", "embed", "--model", fixtures.Fixture("models", "tiny-clip"), "-o", dest, fixtures.Fixture("images"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	got, _ = os.ReadFile(dest)
	assert.Len(t, records(t, string(got)), 4)
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".out.jsonl.*"))
	assert.Empty(t, leftovers)
}

// cancelOnWrite cancels a run at its first line on stderr.
type cancelOnWrite struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.cancel()
	return w.Buffer.Write(p)
}

// TestEmbedOutputInterrupted: a run interrupted after it wrote records
// leaves the earlier output byte-identical and keeps its own as .partial;
// a finished output gets 0666 less the umask, not CreateTemp's 0600.
func TestEmbedOutputInterrupted(t *testing.T) {
	isolate(t)
	dir, in := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(in, "a-corrupt.jpg"), []byte("not a jpeg"))
	good, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	for i := range 200 {
		writeFile(t, filepath.Join(in, fmt.Sprintf("b%03d.png", i)), good)
	}
	dest := filepath.Join(dir, "out.jsonl")
	previous := []byte("{\"path\":\"earlier\"}\n")
	writeFile(t, dest, previous)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOnWrite{cancel: cancel}
	code := run(ctx, []string{"embed", "--model", fixtures.Fixture("models", "tiny-clip"), "-o", dest, in}, strings.NewReader(""), io.Discard, stderr)
	assert.Equal(t, exitInterrupted, code, stderr.String())
	got, err := os.ReadFile(dest)
	require.NoError(t, err)
	assert.Equal(t, previous, got, "the earlier output must survive")
	assert.Contains(t, stderr.String(), dest+".partial")
	partial := records(t, mustRead(t, dest+".partial"))
	require.NotEmpty(t, partial)
	assert.Less(t, len(partial), 201, "the run was cut short")
	assert.Contains(t, partial[0]["path"], "a-corrupt.jpg")

	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	r := runCLI(t, "", "embed", "--model", fixtures.Fixture("models", "tiny-clip"), "-o", dest, fixtures.Fixture("images"))
	require.Equal(t, exitOK, r.code, r.stderr)
	st, err := os.Stat(dest)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// TestModelFromHubCache: a model id resolves through a cache laid out as
// huggingface_hub lays it out, offline, and vectors match the directory's.
func TestModelFromHubCache(t *testing.T) {
	home := isolate(t)
	commit := modelstest.Cache(t, filepath.Join(home, "hub"), "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))

	byID := runCLI(t, "", "text", "--model", "acme/tiny-clip", "a red circle")
	require.Equal(t, exitOK, byID.code, byID.stderr)
	byDir := runCLI(t, "", "text", "--model", fixtures.Fixture("models", "tiny-clip"), "a red circle")
	require.Equal(t, exitOK, byDir.code, byDir.stderr)
	a, b := records(t, byID.stdout)[0], records(t, byDir.stdout)[0]
	assert.Equal(t, a["embedding"], b["embedding"])
	assert.Equal(t, commit, a["revision"])
	assert.Equal(t, "acme/tiny-clip", a["model"])

	img := runCLI(t, "", "embed", "--model", "acme/tiny-clip", fixtures.Fixture("images", "red_circle.png"))
	require.Equal(t, exitOK, img.code, img.stderr)

	missing := runCLI(t, "", "text", "--model", "acme/not-here", "hi")
	assert.Equal(t, exitFatal, missing.code)
	assert.Contains(t, missing.stderr, "acme/not-here")
	assert.Contains(t, missing.stderr, "hybridembed models pull acme/not-here")
	assert.LessOrEqual(t, strings.Count(strings.TrimSpace(missing.stderr), "\n"), 1, "one or two lines")
}

func TestTextInputs(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")

	r := runCLI(t, "first line\r\nsecond line\n\n  \nlast", "text", "--model", model)
	require.Equal(t, exitOK, r.code, r.stderr)
	var texts []string
	for _, rec := range records(t, r.stdout) {
		texts = append(texts, rec["text"].(string))
	}
	assert.Equal(t, []string{"first line", "second line", "last"}, texts, "blank lines separate texts, as with --jsonl")

	r = runCLI(t, "{\"text\": \"two\\nlines\"}\nnot json\n{\"text\": 5}\n{\"text\": \"ok\"}\n", "text", "--jsonl", "--model", model)
	assert.Equal(t, exitPartial, r.code)
	recs := records(t, r.stdout)
	require.Len(t, recs, 4)
	assert.Equal(t, "two\nlines", recs[0]["text"])
	assert.Contains(t, recs[1]["error"], "not a JSON object")
	assert.Equal(t, float64(2), recs[1]["line"])
	assert.Contains(t, recs[2]["error"], "not a JSON object")
	assert.Equal(t, "ok", recs[3]["text"])
	assert.Len(t, recs[3]["embedding"], 32)

	// Invalid UTF-8 fails alone.
	r = runCLI(t, "good\n\xff\xfe bad\nalso good\n", "text", "--model", model)
	assert.Equal(t, exitPartial, r.code)
	recs = records(t, r.stdout)
	require.Len(t, recs, 3)
	assert.Contains(t, recs[1]["error"], "UTF-8")
	assert.NotContains(t, recs[2], "error")
}

func TestBadFlags(t *testing.T) {
	isolate(t)
	r := runCLI(t, "", "embed", fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "no model: give --model MODEL, or set $HYBRIDEMBED_MODEL")
}

// TestEmbedSymlinkedFolder: a folder given through a symlink is walked.
func TestEmbedSymlinkedFolder(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	data, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	writeFile(t, filepath.Join(dir, "photos", "a.png"), data)
	require.NoError(t, os.Symlink(filepath.Join(dir, "photos"), filepath.Join(dir, "link")))
	r := runCLI(t, "", "embed", "--model", fixtures.Fixture("models", "tiny-clip"), filepath.Join(dir, "link"))
	require.Equal(t, exitOK, r.code, r.stderr)
	recs := records(t, r.stdout)
	require.Len(t, recs, 1)
	assert.Equal(t, filepath.Join(dir, "link", "a.png"), recs[0]["path"])
}
