package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

var shapesModel = fixtures.Fixture("models", "shapes-clip")

type pageStatus struct {
	Photos    int  `json:"photos"`
	Indexing  bool `json:"indexing"`
	Libraries []struct {
		Phase string `json:"phase"`
		Done  int64  `json:"done"`
	} `json:"libraries"`
}

func getStatus(base string) (pageStatus, error) {
	var st pageStatus
	resp, err := http.Get(base + "/ui/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// TestServeLibrary: serve --library indexes the folder in the background
// into the same index `index` keeps, serves the page at / beside the API,
// and a kill -9 in the middle of indexing loses nothing: the next start
// carries on, and `index` then finds every photo unchanged.
func TestServeLibrary(t *testing.T) {
	isolate(t)
	lib := filepath.Join(t.TempDir(), "photos")
	for _, name := range []string{"red_circle.png", "blue_square.png", "green_triangle.jpg", "yellow_star.jpg"} {
		data, err := os.ReadFile(fixtures.Fixture("images", name))
		require.NoError(t, err)
		writeFile(t, filepath.Join(lib, "shapes", name), data)
	}
	const noise = 1500
	makeImages(t, lib, noise) // and a file that is not an image
	total := noise + 4        // searchable; broken.jpg is indexed as a failure
	thumbs := filepath.Join(t.TempDir(), "thumbs")
	args := []string{"--model", "shapes=" + shapesModel, "--library", lib, "--thumb-cache", thumbs, "--rescan", "1h"}

	cmd, base, stderr := startServe(t, args...)
	require.Eventually(t, func() bool {
		st, err := getStatus(base)
		// Past the first commit (every 256 vectors), before the end.
		return err == nil && len(st.Libraries) == 1 && st.Libraries[0].Phase == "embedding" && st.Libraries[0].Done > 300
	}, 60*time.Second, 2*time.Millisecond, stderr.String())
	require.NoError(t, cmd.Process.Kill()) // kill -9 while embedding
	cmd.Wait()

	_, base, stderr = startServe(t, args...)
	var st pageStatus
	require.Eventually(t, func() bool {
		var err error
		st, err = getStatus(base)
		return err == nil && !st.Indexing && st.Photos == total
	}, 120*time.Second, 20*time.Millisecond, "%+v\n%s", st, stderr.String())
	m := regexp.MustCompile(`msg=indexed library=photos new=0 .* embedded=(\d+)`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, stderr.String())
	embedded, _ := strconv.Atoi(m[1])
	assert.Positive(t, embedded, "the first start was killed before the end")
	assert.LessOrEqual(t, embedded, total+1-256, "the second start embedded only what the first had not committed")

	resp, err := http.Get(base + "/?q=" + "a+yellow+star")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := string(body)
	i := strings.Index(page, `<img src="/ui/thumb/`)
	require.Positive(t, i, page)
	assert.Regexp(t, `^<img src="/ui/thumb/[0-9a-f]{20}\?s=320&amp;v=[0-9a-f]{16}" alt="(shapes/|roll\d/IMG_)`, page[i:], "paths relative to the library")

	// The API is served beside the page.
	resp, err = http.Post(base+"/v1/embeddings", "application/json", strings.NewReader(`{"model":"shapes","input":"a red circle"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// The index is the one `index` keeps: nothing to do.
	out := runCLI(t, "", "index", "--model", shapesModel, lib)
	require.Equal(t, 0, out.code, out.stderr)
	assert.Contains(t, out.stderr, fmt.Sprintf("0 new, 0 changed, 0 renamed, %d unchanged, 0 removed, 0 failed", total+1))
	assert.Contains(t, out.stderr, "0 embedded")
	_, err = os.Stat(filepath.Join(lib, ".hybridembed", "index.db"))
	assert.NoError(t, err)
}

func TestServeLibraryFlags(t *testing.T) {
	isolate(t)
	lib := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "a=" + shapesModel, "--model", "b=" + shapesModel, "--library", lib}, "--library-model NAME"},
		{[]string{"--model", "a=" + shapesModel, "--library", lib, "--library-model", "c"}, "--library-model c: not one of the --model names"},
		{[]string{"--model", "a=" + shapesModel, "--library", filepath.Join(lib, "nope")}, "no such file"},
		{[]string{"--model", "a=" + shapesModel, "--library", lib, "--thumb-cache", filepath.Join(lib, "t")}, "inside the library"},
		{[]string{"--model", "st=" + fixtures.Fixture("models", "tiny-st"), "--library", lib}, "only, not images"},
	} {
		out := runCLI(t, "", append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...)...)
		assert.Equal(t, 1, out.code, tc.args)
		assert.Contains(t, out.stderr, tc.want, tc.args)
	}
}
