package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/dataset"
	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// makeImages writes n distinct small PNGs under dir (in a few folders) and
// one file that is not an image.
func makeImages(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		r := rand.New(rand.NewPCG(uint64(i), 11))
		img := image.NewNRGBA(image.Rect(0, 0, 12, 9))
		for j := range img.Pix {
			img.Pix[j] = uint8(r.IntN(256))
		}
		p := filepath.Join(dir, fmt.Sprintf("roll%d", i%3), fmt.Sprintf("IMG_%04d.png", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, img))
		require.NoError(t, f.Close())
	}
	writeFile(t, filepath.Join(dir, "roll0", "broken.jpg"), []byte("not a jpeg"))
}

// readDataset reads every committed row of a dataset folder, by path; a
// path twice fails the test.
func readDataset(t *testing.T, dir string) map[string]dataset.Row {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	require.NoError(t, err)
	out := map[string]dataset.Row{}
	for _, f := range files {
		rows, err := dataset.ReadRows(f)
		require.NoError(t, err)
		for _, r := range rows {
			_, dup := out[r.Path]
			require.False(t, dup, "%s twice", r.Path)
			out[r.Path] = r
		}
	}
	return out
}

func assertSameRows(t *testing.T, want, got map[string]dataset.Row) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for p, w := range want {
		g, ok := got[p]
		if !assert.True(t, ok, "%s missing", p) {
			continue
		}
		assert.Equal(t, w.Error == nil, g.Error == nil, p)
		assert.InDeltaSlice(t, w.Embedding, g.Embedding, 1e-6, p)
		assert.Equal(t, w.SHA256, g.SHA256, p)
		assert.Equal(t, w.Size, g.Size, p)
		assert.Equal(t, w.Mtime, g.Mtime, p)
	}
}

// TestShardsAsProcesses: 4 shards run at once as 4 processes with
// JOB_COMPLETION_INDEX set, as a Kubernetes Indexed Job runs them; their
// union equals one unsharded run row for row, and the dataset verifies.
func TestShardsAsProcesses(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := t.TempDir()
	makeImages(t, lib, 40)
	ref := filepath.Join(t.TempDir(), "ref")
	r := runCLI(t, "", "embed", "--format", "parquet", "-o", ref, "--model", model, lib)
	require.Equal(t, exitPartial, r.code, r.stderr) // the broken file
	want := readDataset(t, ref)
	require.Len(t, want, 41)
	sha := want[filepath.Join(lib, "roll1", "IMG_0001.png")].SHA256
	data, err := os.ReadFile(filepath.Join(lib, "roll1", "IMG_0001.png"))
	require.NoError(t, err)
	assert.Equal(t, sha256Hex(data), sha, "the sha256 of the bytes embedded")

	out := filepath.Join(t.TempDir(), "out")
	var wg sync.WaitGroup
	codes := make([]int, 4)
	logs := make([]string, 4)
	for k := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := cliChild([]string{fmt.Sprintf("JOB_COMPLETION_INDEX=%d", k)},
				"embed", "--offline", "--format", "parquet", "-o", out, "--shards", "4", "--chunk", "5", "--model", model, lib)
			b, err := cmd.CombinedOutput()
			logs[k] = string(b)
			codes[k] = 0
			if ee, ok := err.(*exec.ExitError); ok {
				codes[k] = ee.ExitCode()
			}
		}()
	}
	wg.Wait()
	for k := range 4 {
		assert.Contains(t, []int{exitOK, exitPartial}, codes[k], logs[k])
		assert.Contains(t, logs[k], fmt.Sprintf("shard %d/4 (from JOB_COMPLETION_INDEX)", k))
	}
	assertSameRows(t, want, readDataset(t, out))
	v := runCLI(t, "", "dataset", "verify", out)
	assert.Equal(t, exitOK, v.code, v.stdout+v.stderr)
	assert.Contains(t, v.stdout, "4 of 4 shards complete; 41 rows (1 failed inputs)")

	// Rerunning a finished shard commits nothing twice.
	t.Setenv("JOB_COMPLETION_INDEX", "2")
	r = runCLI(t, "", "embed", "--format", "parquet", "-o", out, "--shards", "4", "--model", model, lib)
	assert.Contains(t, r.stderr, "0 embedded now")
	assertSameRows(t, want, readDataset(t, out))
}

func sha256Hex(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// TestSlurmAssignment: a Slurm array's environment (ids from MIN) gives the
// same assignment as --shard; files added later move no one.
func TestSlurmAssignment(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := t.TempDir()
	makeImages(t, lib, 24)
	paths := func(r result) []string {
		var out []string
		for _, rec := range records(t, r.stdout) {
			out = append(out, rec["path"].(string))
		}
		sort.Strings(out)
		return out
	}
	union := map[string]int{}
	for k := range 3 {
		byFlag := runCLI(t, "", "embed", "--model", model, "--shard", fmt.Sprintf("%d/3", k), lib)
		t.Setenv("SLURM_ARRAY_TASK_ID", fmt.Sprint(k+5))
		t.Setenv("SLURM_ARRAY_TASK_MIN", "5")
		t.Setenv("SLURM_ARRAY_TASK_COUNT", "3")
		byEnv := runCLI(t, "", "embed", "--model", model, lib)
		os.Unsetenv("SLURM_ARRAY_TASK_ID")
		assert.Equal(t, paths(byFlag), paths(byEnv), "shard %d", k)
		assert.Contains(t, byEnv.stderr, fmt.Sprintf("shard %d/3 (from SLURM_ARRAY_TASK_ID)", k))
		for _, p := range paths(byFlag) {
			union[p]++
		}
	}
	assert.Len(t, union, 25)
	for p, n := range union {
		assert.Equal(t, 1, n, p)
	}
	// A new file lands in one shard; nothing else moves.
	before := map[string]string{}
	for k := range 3 {
		for _, p := range paths(runCLI(t, "", "embed", "--model", model, "--shard", fmt.Sprintf("%d/3", k), lib)) {
			before[p] = fmt.Sprint(k)
		}
	}
	makeImages(t, filepath.Join(lib, "new"), 5)
	for k := range 3 {
		for _, p := range paths(runCLI(t, "", "embed", "--model", model, "--shard", fmt.Sprintf("%d/3", k), lib)) {
			if old, ok := before[p]; ok {
				assert.Equal(t, old, fmt.Sprint(k), "%s moved", p)
			}
		}
	}
}

// TestShardKilledAndRerun: SIGKILL mid-run leaves a dataset that verify
// calls torn; the rerun commits the rest, each input exactly once.
func TestShardKilledAndRerun(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := t.TempDir()
	makeImages(t, lib, 150)
	ref := filepath.Join(t.TempDir(), "ref")
	require.Equal(t, exitPartial, runCLI(t, "", "embed", "--format", "parquet", "-o", ref, "--model", model, lib).code)

	out := filepath.Join(t.TempDir(), "out")
	args := []string{"embed", "--offline", "--batch-size", "1", "--format", "parquet", "-o", out, "--shard", "1/2", "--chunk", "4", "--model", model, lib}
	cmd := cliChild(nil, args...)
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if files, _ := filepath.Glob(filepath.Join(out, "part-00001-of-00002-*.parquet")); len(files) >= 3 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	v := runCLI(t, "", "dataset", "verify", out)
	assert.Equal(t, exitFatal, v.code)
	assert.Contains(t, v.stdout, "shard 0/2: missing")
	assert.Contains(t, v.stdout, "shard 1/2: not complete")

	r := runCLI(t, "", args...)
	require.Contains(t, []int{exitOK, exitPartial}, r.code, r.stderr)
	assert.NotContains(t, r.stderr, " 0 already", "the rerun skips what was committed")
	r = runCLI(t, "", "embed", "--format", "parquet", "-o", out, "--shard", "0/2", "--model", model, lib)
	require.Contains(t, []int{exitOK, exitPartial}, r.code, r.stderr)
	v = runCLI(t, "", "dataset", "verify", out)
	assert.Equal(t, exitOK, v.code, v.stdout)
	assertSameRows(t, readDataset(t, ref), readDataset(t, out))
}

// TestDatasetReadByDuckDB: DuckDB's own client reads the folder as a
// table, with the column types analytics engines expect.
func TestDatasetReadByDuckDB(t *testing.T) {
	dir := fixtures.NodeClients(t)
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := t.TempDir()
	makeImages(t, lib, 10)
	out := filepath.Join(t.TempDir(), "ds")
	for k := range 2 {
		runCLI(t, "", "embed", "--format", "parquet", "-o", out, "--shard", fmt.Sprintf("%d/2", k), "--model", model, lib)
	}
	sql := fmt.Sprintf(`SELECT count(*) AS n, count(DISTINCT path) AS paths, count(DISTINCT key) AS keys,
		bool_and(starts_with(path, '%s') AND ends_with(path, key)) AS keyed, min(len(embedding)) AS dmin,
		max(len(embedding)) AS dmax, count(error) AS errors, count(embedding) AS vectors,
		typeof(any_value(embedding)) AS etype, typeof(any_value(mtime)) AS mtype, any_value(model) AS model,
		min(dim) AS dim, max(provider) AS provider FROM read_parquet('%s/*.parquet')`, lib, out)
	b, err := exec.Command("node", "testdata/duckdb_query.cjs", dir, sql).Output()
	require.NoError(t, err, string(b))
	var res struct {
		Rows  []map[string]any `json:"rows"`
		Error string           `json:"error"`
	}
	require.NoError(t, json.Unmarshal(b, &res), string(b))
	require.Empty(t, res.Error)
	require.Len(t, res.Rows, 1)
	row := res.Rows[0]
	assert.Equal(t, "11", row["n"])
	assert.Equal(t, "11", row["paths"])
	assert.Equal(t, "11", row["keys"])
	assert.Equal(t, true, row["keyed"], "keys are the paths relative to the folder given")
	assert.Equal(t, "1", row["errors"])
	assert.Equal(t, "10", row["vectors"])
	assert.Equal(t, "32", row["dmin"])
	assert.Equal(t, "32", row["dmax"])
	assert.EqualValues(t, 32, row["dim"])
	assert.Equal(t, "FLOAT[]", row["etype"])
	assert.Contains(t, row["mtype"], "TIMESTAMP")
	assert.Equal(t, model, row["model"])
	assert.Equal(t, "", row["provider"], "images are embedded locally: no provider")
}

// TestNPY: embeddings.npy is NumPy's format 1.0 (float32, C order) with
// the vectors embed prints, in the order of paths.txt.
func TestNPY(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	out := filepath.Join(t.TempDir(), "npy")
	r := runCLI(t, "", "embed", "--format", "npy", "-o", out, "--model", model, fixtures.Fixture("images"))
	require.Equal(t, exitOK, r.code, r.stderr)
	data, err := os.ReadFile(filepath.Join(out, "embeddings.npy"))
	require.NoError(t, err)
	require.Equal(t, "\x93NUMPY\x01\x00", string(data[:8]))
	hlen := int(binary.LittleEndian.Uint16(data[8:10]))
	assert.Zero(t, (10+hlen)%64, "the header is padded to 64 bytes")
	header := string(data[10 : 10+hlen])
	assert.Contains(t, header, "'descr': '<f4', 'fortran_order': False, 'shape': (4, 32)")
	body := data[10+hlen:]
	require.Len(t, body, 4*32*4)
	paths, err := os.ReadFile(filepath.Join(out, "paths.txt"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(paths)), "\n")
	require.Len(t, lines, 4)
	jsonl := records(t, runCLI(t, "", "embed", "--model", model, fixtures.Fixture("images")).stdout)
	for i, rec := range jsonl {
		assert.Equal(t, rec["path"], lines[i])
		for j, x := range rec["embedding"].([]any) {
			got := math.Float32frombits(binary.LittleEndian.Uint32(body[4*(32*i+j):]))
			assert.InDelta(t, x.(float64), float64(got), 1e-6)
		}
	}
	r = runCLI(t, "", "dataset", "verify", out)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "NPY output; 4 rows, dim 32, labelled by paths.txt")
	assert.Contains(t, r.stdout, "ok: whole")

	// The vectors of one run beside the paths of another: verify says so.
	other := filepath.Join(t.TempDir(), "npy")
	r = runCLI(t, "", "embed", "--format", "npy", "-o", other, "--model", model, filepath.Join(fixtures.Fixture("images"), "red_circle.png"))
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, os.Rename(filepath.Join(other, "paths.txt"), filepath.Join(out, "paths.txt")))
	r = runCLI(t, "", "dataset", "verify", out)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stdout, "not one write's pair")

	r = runCLI(t, "", "embed", "--format", "npy", "--shard", "0/2", "-o", out, "--model", model, fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "one machine")
}

// TestIndexImport: a dataset loaded into a library's index searches like
// indexing the folder directly, and the next update embeds nothing.
func TestIndexImport(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := sampleLibrary(t)
	ds := filepath.Join(t.TempDir(), "ds")
	require.Equal(t, exitOK, runCLI(t, "", "embed", "--format", "parquet", "-o", ds, "--model", model, lib).code)

	direct := filepath.Join(t.TempDir(), "direct.db")
	require.Equal(t, exitOK, runCLI(t, "", "index", "--model", model, "--index", direct, lib).code)
	r := runCLI(t, "", "index", "import", "--model", model, ds, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "imported 5 rows")

	search := func(extra ...string) string {
		args := append([]string{"search", "--model", model, "--json", "--no-update", "-q", "a red circle", "--image", filepath.Join(lib, "yellow_star.jpg")}, extra...)
		r := runCLI(t, "", append(args, lib)...)
		require.Equal(t, exitOK, r.code, r.stderr)
		return r.stdout
	}
	assert.JSONEq(t, "["+strings.ReplaceAll(strings.TrimSpace(search("--index", direct)), "\n", ",")+"]",
		"["+strings.ReplaceAll(strings.TrimSpace(search()), "\n", ",")+"]")
	r = runCLI(t, "", "index", "--model", model, lib)
	assert.Contains(t, r.stderr, "5 unchanged")
	assert.Contains(t, r.stderr, "0 embedded")

	// Another model's dataset is refused.
	r = runCLI(t, "", "index", "import", "--model", fixtures.Fixture("models", "tiny-clip-joint"), ds, lib)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "was made by")
}

// TestIndexImportOutsideLibrary: a dataset made from another copy of the
// photos (a cluster's mount) is refused, naming --rebase, before an index
// is made: its rows' paths are not under LIBRARY, and rows there would
// never be found by an update or a search of it. (They were imported as
// "../.." rows: "imported 5 rows", and the next index embedded all again.)
// With --rebase they land in the library and nothing is embedded again.
func TestIndexImportOutsideLibrary(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	cluster := sampleLibrary(t)
	ds := filepath.Join(t.TempDir(), "ds")
	require.Equal(t, exitOK, runCLI(t, "", "embed", "--format", "parquet", "-o", ds, "--model", model, cluster).code)
	here := filepath.Join(t.TempDir(), "photos")
	require.NoError(t, os.CopyFS(here, os.DirFS(cluster)))

	r := runCLI(t, "", "index", "import", "--model", model, ds, here)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "5 of its 5 rows are not under "+here)
	assert.Contains(t, r.stderr, "--rebase")
	assert.NoDirExists(t, filepath.Join(here, ".hybridembed"), "no index is made")

	r = runCLI(t, "", "index", "import", "--model", model, "--rebase", cluster+"="+here, ds, here)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "imported 5 rows")
	r = runCLI(t, "", "index", "--model", model, here)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "5 unchanged")
	assert.Contains(t, r.stderr, "0 embedded")
}
