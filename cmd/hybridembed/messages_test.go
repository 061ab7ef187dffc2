package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// exitCodes are the statuses a help text's EXIT STATUS section lists.
func exitCodes(t *testing.T, help string) []int {
	t.Helper()
	_, section, ok := strings.Cut(help, "\nEXIT STATUS\n")
	require.True(t, ok, "no EXIT STATUS section in:\n%s", help)
	var codes []int
	for _, line := range strings.Split(section, "\n") {
		m := regexp.MustCompile(`^  (\d+) +\S`).FindStringSubmatch(line)
		if m == nil {
			if line != "" && !strings.HasPrefix(line, "       ") {
				break // the section ended
			}
			continue
		}
		n, _ := strconv.Atoi(m[1])
		codes = append(codes, n)
	}
	sort.Ints(codes)
	return codes
}

// TestExitStatusHelp: each command's help lists the statuses it gives,
// and only those, all from the one table (0, 1, 3, 130).
func TestExitStatusHelp(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		cmd   []string
		codes []int
	}{
		{[]string{}, []int{0, 1, 3, 130}},
		{[]string{"embed"}, []int{0, 1, 3, 130}},
		{[]string{"text"}, []int{0, 1, 3, 130}},
		{[]string{"index"}, []int{0, 1, 3, 130}},
		{[]string{"search"}, []int{0, 1, 3, 130}},
		{[]string{"index", "import"}, []int{0, 1, 130}},
		{[]string{"serve"}, []int{0, 1, 130}},
		{[]string{"resolve"}, []int{0, 1, 130}},
		{[]string{"dataset", "verify"}, []int{0, 1}},
		{[]string{"config"}, []int{0, 1}},
		{[]string{"doctor"}, []int{0, 1}},
		{[]string{"models", "pull"}, []int{0, 1, 130}},
		{[]string{"models", "verify"}, []int{0, 1, 3}},
		{[]string{"models", "list"}, []int{0, 1}},
		{[]string{"models", "path"}, []int{0, 1}},
		{[]string{"models", "rm"}, []int{0, 1}},
		{[]string{"models", "export"}, []int{0, 1}},
		{[]string{"models", "import"}, []int{0, 1}},
		{[]string{"models", "add"}, []int{0, 1, 130}},
	} {
		t.Run(strings.Join(append([]string{"hybridembed"}, tc.cmd...), " "), func(t *testing.T) {
			r := runCLI(t, "", append(tc.cmd, "--help")...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, tc.codes, exitCodes(t, r.stdout))
			assert.Equal(t, 1, strings.Count(r.stdout, "EXIT STATUS"))
		})
	}
	// Parents point at their commands' own lists.
	for _, parent := range []string{"models", "dataset"} {
		r := runCLI(t, "", parent, "--help")
		assert.Contains(t, r.stdout, "Each command's help lists its own", parent)
	}
}

// TestFlagMessages: a bad flag value is named once, as the flag, with the
// values it takes: no Go option name, one "hybridembed:" prefix.
func TestFlagMessages(t *testing.T) {
	isolate(t)
	images := fixtures.Fixture("images")
	model := fixtures.Fixture("models", "tiny-clip")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--decode", "bogus"}, `hybridembed: --decode: "bogus": want exact or fast`},
		{[]string{"--device", "tpu"}, `hybridembed: --device: "tpu": want cpu, cuda or auto`},
		{[]string{"--batch-size", "-1"}, `hybridembed: --batch-size: -1: want 0 or more (0: the default)`},
		{[]string{"--runs", "-2"}, `hybridembed: --runs: -2: want 0 or more (0: the default)`},
		{[]string{"--workers", "-3"}, `hybridembed: --workers: -3: want 0 or more (0: the default)`},
		{[]string{"--threads", "-4"}, `hybridembed: --threads: -4: want 0 or more (0: all cores)`},
		{[]string{"--policy", "sometimes"}, `hybridembed: --policy: "sometimes": want auto, remote or local`},
		{[]string{"--variant", "../x"}, `hybridembed: --variant: "../x": want a variant name`},
		{[]string{"--hub-url", "ftp://x"}, `hybridembed: --hub-url: "ftp://x": want an http or https URL`},
		{[]string{"--max-pixels", "-5"}, `hybridembed: --max-pixels: -5: want more than 0`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCLI(t, "", append([]string{"embed", "--model", model}, append(tc.args, images)...)...)
			assert.Equal(t, exitFatal, r.code)
			assert.Equal(t, 1, strings.Count(r.stderr, "hybridembed:"), r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "With")
			assert.Empty(t, r.stdout)
		})
	}

	r := runCLI(t, "", "serve", "--model", model, "--addr", "18934")
	assert.Equal(t, exitFatal, r.code)
	assert.Equal(t, "hybridembed: --addr: \"18934\": want HOST:PORT, such as 127.0.0.1:8080, or :8080 for every interface\n", r.stderr)
	r = runCLI(t, "", "serve", "--model", model, "--addr", "0.0.0.0:http")
	assert.Contains(t, r.stderr, `--addr: "0.0.0.0:http": want HOST:PORT`)
}

// TestModelMessages: what a model that cannot be used gets told.
func TestModelMessages(t *testing.T) {
	home := isolate(t)
	images := fixtures.Fixture("images")

	// A text-only model for images says so, for embed.
	r := runCLI(t, "", "embed", "--model", fixtures.Fixture("models", "tiny-st"), images)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "embeds text only, not images: embed needs a model that embeds images")
	assert.Contains(t, r.stderr, "hybridembed text")
	assert.NotContains(t, r.stderr, "index")

	// A model path that is a file.
	graph := fixtures.Fixture("models", "tiny-clip", "onnx", "text_model.onnx")
	r = runCLI(t, "", "embed", "--model", graph, images)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "is a file, not a model folder: give the model's folder ("+fixtures.Fixture("models", "tiny-clip")+")")
	assert.NotContains(t, r.stderr, "no such directory")

	// A mistyped id, offline: did you mean the cached or known ones?
	modelstest.Cache(t, filepath.Join(home, "hub"), "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	r = runCLI(t, "", "embed", "--model", "acme/tiny-clp", images)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "hybridembed: did you mean acme/tiny-clip?")
	r = runCLI(t, "", "text", "--model", "openai/clip-vit-base-patch23", "hi")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "did you mean openai/clip-vit-base-patch32")
	r = runCLI(t, "", "text", "--model", "openai/clip-vit-base-patch32", "hi")
	assert.NotContains(t, r.stderr, "did you mean", "a known id is no typo")
	r = runCLI(t, "", "models", "path", "acme/tiny-clp")
	assert.Contains(t, r.stderr, "did you mean acme/tiny-clip?")
}

// TestTypoWithTheHubUnreachable: a mistyped id that cannot be downloaded
// because the Hub is out of reach (an air-gapped machine) still gets the
// cached ids it may be a typo of, and the hint to stay offline.
func TestTypoWithTheHubUnreachable(t *testing.T) {
	_, hub := online(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // a port nothing answers on
	t.Setenv("HF_ENDPOINT", closed.URL)
	modelstest.Cache(t, hub, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	r := runCLI(t, "", "embed", "--model", "acme/tiny-clp", fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "did you mean acme/tiny-clip?")
	assert.Contains(t, r.stderr, "--offline")
}

// TestUnknownIDStopsAtOnce: an id the Hub does not know (404) is not
// retried and nothing is downloaded; the message offers what is close.
func TestUnknownIDStopsAtOnce(t *testing.T) {
	s, hub := online(t)
	modelstest.Cache(t, hub, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	r := runCLI(t, "", "embed", "--model", "acme/tiny-clp", fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "not found on the Hub")
	assert.Contains(t, r.stderr, "did you mean acme/tiny-clip?")
	seen := map[string]int{}
	for _, req := range s.Requests() {
		seen[req.Method+" "+req.Path]++
		assert.NotContains(t, req.Path, "/resolve/", "a file was asked for")
	}
	for what, n := range seen {
		assert.Equal(t, 1, n, "%s asked %d times", what, n)
	}
	entries, _ := os.ReadDir(hub)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), "tiny-clp", "nothing of the typo is cached")
	}
}

// TestLoadFailureHintsVerify: a cached model whose graph is damaged fails
// with the command that checks it, naming the real id.
func TestLoadFailureHintsVerify(t *testing.T) {
	home := isolate(t)
	modelstest.Cache(t, filepath.Join(home, "hub"), "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	dir := strings.TrimSpace(runCLI(t, "", "models", "path", "acme/tiny-clip").stdout)
	blob, err := filepath.EvalSymlinks(filepath.Join(dir, "onnx", "vision_model.onnx"))
	require.NoError(t, err)
	data, err := os.ReadFile(blob)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(blob, data[:len(data)/3], 0o644)) // cut short
	r := runCLI(t, "", "embed", "--model", "acme/tiny-clip", fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "hybridembed: its cached files may be damaged: check them with `hybridembed models verify acme/tiny-clip`")
	assert.NotContains(t, r.stderr, "MODEL")

	v := runCLI(t, "", "models", "verify", "acme/tiny-clip")
	assert.Equal(t, exitPartial, v.code)
	assert.Contains(t, v.stderr, "`hybridembed models rm --yes acme/tiny-clip && hybridembed models pull acme/tiny-clip`")
}

// TestSearchChecksQueriesFirst: a query image that is not an image fails
// before the index is made or updated.
func TestSearchChecksQueriesFirst(t *testing.T) {
	isolate(t)
	lib := sampleLibrary(t)
	readme := filepath.Join(t.TempDir(), "README.md")
	writeFile(t, readme, []byte("# not an image\n"))
	db := filepath.Join(t.TempDir(), "i.db")
	r := runCLI(t, "", "search", "--model", fixtures.Fixture("models", "tiny-clip"), "--index", db, "--image", readme, lib)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "README.md")
	assert.Contains(t, r.stderr, "not a supported image")
	assert.NotContains(t, r.stderr, "new,", "the index was updated first")
	assert.NoFileExists(t, db)
}

// TestSearchNoUpdateNeedsAnIndex: --no-update over a library with no index
// is an error that says how to make one, and makes none; a search with no
// vectors to rank is an error, not an empty answer.
func TestSearchNoUpdateNeedsAnIndex(t *testing.T) {
	isolate(t)
	lib := sampleLibrary(t)
	model := fixtures.Fixture("models", "tiny-clip")
	r := runCLI(t, "", "search", "--model", model, "--no-update", "-q", "a red circle", lib)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "there is no index for "+lib)
	assert.Contains(t, r.stderr, "hybridembed index "+lib)
	assert.Empty(t, r.stdout)
	assert.NoDirExists(t, filepath.Join(lib, ".hybridembed"), "no index was made")

	// An index made for another model holds no vectors of this one.
	other := filepath.Join(t.TempDir(), "other")
	require.NoError(t, os.CopyFS(other, os.DirFS(model)))
	cfg := filepath.Join(other, "preprocessor_config.json")
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, bytes.Replace(data, []byte("{"), []byte(`{"crop_pct": 0.9, `), 1), 0o644)) // another model's identity
	require.Equal(t, 0, runCLI(t, "", "index", "--model", other, lib).code)
	r = runCLI(t, "", "search", "--model", model, "--no-update", "--json", "-q", "a red circle", lib)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "has no vectors under "+lib)
	assert.Empty(t, r.stdout)
}
