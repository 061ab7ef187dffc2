package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

func tinyModel(t *testing.T) (*hybridembed.Model, Model) {
	t.Helper()
	orttest.Init(t)
	emb, err := hybridembed.New(hybridembed.WithoutEnvironment(), hybridembed.WithHubCache(t.TempDir()), hybridembed.WithOffline(true))
	require.NoError(t, err)
	t.Cleanup(func() { emb.Close() })
	m, err := emb.Model(context.Background(), fixtures.Fixture("models", "tiny-clip"))
	require.NoError(t, err)
	return m, ModelOf(m.Info())
}

// photos writes n small distinct PNGs under dir and returns them as
// inputs keyed relative to dir.
func photos(t *testing.T, dir string, n int) []Input {
	t.Helper()
	var out []Input
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 4, 4))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*16 + j)
		}
		key := fmt.Sprintf("d%d/img%02d.png", i%2, i)
		p := filepath.Join(dir, filepath.FromSlash(key))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, img))
		require.NoError(t, f.Close())
		out = append(out, Input{Path: p, Key: key})
	}
	return out
}

func run(t *testing.T, m *hybridembed.Model, model Model, dir string, inputs []Input) Result {
	t.Helper()
	res, err := Run(context.Background(), m, inputs, Options{Dir: dir, Shard: All, Model: model, ChunkRows: 3})
	require.NoError(t, err)
	return res
}

// TestVerifyNamesMissingAndDuplicateKeys: verify names the inputs a lost
// chunk held, and an input committed twice (a chunk restored under a new
// name); the rerun after the loss makes the dataset whole again.
func TestVerifyNamesMissingAndDuplicateKeys(t *testing.T) {
	m, model := tinyModel(t)
	inputs := photos(t, t.TempDir(), 8)
	dir := t.TempDir()
	run(t, m, model, dir, inputs)
	rep, err := Verify(dir)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	assert.Equal(t, 1, rep.Complete)
	assert.Equal(t, 8, rep.Rows)

	lost := filepath.Join(dir, chunkName(All, 1))
	data, err := os.ReadFile(lost)
	require.NoError(t, err)
	require.NoError(t, os.Remove(lost))
	rep, err = Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"shard 0/1: 3 of its 8 inputs are in no chunk (d1/img03.png, d0/img04.png, d1/img05.png); rerun it"}, rep.Problems)

	res := run(t, m, model, dir, inputs)
	assert.Equal(t, Result{Inputs: 8, Committed: 5, Embedded: 3, Complete: true}, res)
	assert.NoFileExists(t, lost, "the lost chunk's name is not taken again")
	assert.FileExists(t, filepath.Join(dir, chunkName(All, 3)))
	rep, err = Verify(dir)
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)

	// The lost chunk comes back (a sync catches up): its inputs are twice.
	require.NoError(t, os.WriteFile(lost, data, 0o644))
	rep, err = Verify(dir)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 4)
	assert.Contains(t, rep.Problems[0], "d1/img03.png: in part-00000-of-00001-00001.parquet and in part-00000-of-00001-00003.parquet")
	assert.Contains(t, rep.Problems[3], "the manifest records 8 rows in 3 chunks, the folder has 11 in 4")
}

// TestRunNeverReplacesAChunk: a chunk name that is taken (by a file the
// manifest does not know) is skipped, and the file stays as it was.
func TestRunNeverReplacesAChunk(t *testing.T) {
	m, model := tinyModel(t)
	inputs := photos(t, t.TempDir(), 4)
	dir := t.TempDir()
	run(t, m, model, dir, inputs[:3])
	stranger := filepath.Join(dir, chunkName(All, 1))
	require.NoError(t, os.WriteFile(stranger, []byte("not ours"), 0o644))
	next := 1
	name, err := commitChunk(dir, All, &next, []Row{{Path: "x", Key: "x"}})
	require.NoError(t, err)
	assert.Equal(t, chunkName(All, 2), name)
	assert.Equal(t, 3, next)
	got, err := os.ReadFile(stranger)
	require.NoError(t, err)
	assert.Equal(t, "not ours", string(got))
}

// TestRunKeys: a file given twice is embedded once; two files with one key
// are refused before anything is written.
func TestRunKeys(t *testing.T) {
	m, model := tinyModel(t)
	lib := t.TempDir()
	inputs := photos(t, lib, 3)
	dir := t.TempDir()
	res := run(t, m, model, dir, append(inputs, inputs[0]))
	assert.Equal(t, 3, res.Inputs)
	assert.Equal(t, 3, res.Embedded)

	other := filepath.Join(t.TempDir(), "elsewhere.png")
	require.NoError(t, os.WriteFile(other, []byte("x"), 0o644))
	fresh := filepath.Join(t.TempDir(), "fresh")
	_, err := Run(context.Background(), m, append(inputs, Input{Path: other, Key: inputs[1].Key}),
		Options{Dir: fresh, Shard: All, Model: model})
	assert.ErrorContains(t, err, `have the same key "d1/img01.png"`)
	entries, _ := os.ReadDir(fresh)
	assert.Empty(t, entries)
}

// TestRunRemovesLeftovers: temporary files a killed run left are removed
// by the next run of the shard (and reported by verify until then); other
// shards' are not touched.
func TestRunRemovesLeftovers(t *testing.T) {
	m, model := tinyModel(t)
	inputs := photos(t, t.TempDir(), 2)
	dir := t.TempDir()
	run(t, m, model, dir, inputs)
	mine := filepath.Join(dir, ".part-00000-of-00001-00007.parquet4242")
	theirs := filepath.Join(dir, ".part-00001-of-00002-00000.parquet4242")
	for _, p := range []string{mine, theirs} {
		require.NoError(t, os.WriteFile(p, []byte("cut short"), 0o644))
	}
	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(rep.Problems, "\n"), ".part-00000-of-00001-00007.parquet4242: a file being written, or cut short")
	run(t, m, model, dir, inputs)
	assert.NoFileExists(t, mine)
	assert.FileExists(t, theirs)
}

// legacyRow is a row as hybridembed wrote them before keys.
type legacyRow struct {
	Path      string    `parquet:"path,zstd"`
	Model     string    `parquet:"model,dict,zstd"`
	Revision  string    `parquet:"revision,dict,zstd"`
	Variant   string    `parquet:"variant,dict,zstd"`
	Dim       int32     `parquet:"dim"`
	Embedding []float32 `parquet:"embedding,optional,list,zstd"`
	Error     *string   `parquet:"error,optional,zstd"`
	Size      int64     `parquet:"size"`
	Mtime     int64     `parquet:"mtime,timestamp(nanosecond)"`
	SHA256    string    `parquet:"sha256,zstd"`
}

// TestOldDataset: a dataset written before keys still reads (rows with an
// empty key; verify checks it by path and says so) and is refused for a
// resume, whose exactly-once it cannot keep.
func TestOldDataset(t *testing.T) {
	m, model := tinyModel(t)
	inputs := photos(t, t.TempDir(), 2)
	dir := t.TempDir()
	vec := make([]float32, model.Dim)
	vec[0] = 1
	require.NoError(t, parquet.WriteFile(filepath.Join(dir, chunkName(All, 0)), []legacyRow{
		{Path: inputs[0].Path, Model: model.Name, Dim: int32(model.Dim), Embedding: vec, SHA256: strings.Repeat("0", 64)},
	}))
	old, err := json.Marshal(map[string]any{"version": 1, "shard": 0, "shards": 1, "inputs": 1, "rows": 1, "complete": true,
		"chunks": []Chunk{{File: chunkName(All, 0), Rows: 1}},
		"model":  map[string]any{"name": model.Name, "digest": "graphs-only", "dim": model.Dim}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, manifestName(All)), old, 0o644))

	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	require.Len(t, rep.Notes, 1)
	assert.Contains(t, rep.Notes[0], "older hybridembed")
	var rows []Row
	require.NoError(t, EachRow(dir, func(_ string, r Row) error { rows = append(rows, r); return nil }))
	require.Len(t, rows, 1)
	assert.Equal(t, inputs[0].Path, rows[0].Path)
	assert.Empty(t, rows[0].Key)

	_, err = Run(context.Background(), m, inputs, Options{Dir: dir, Shard: All, Model: model})
	assert.ErrorIs(t, err, ErrOldDataset)
	assert.ErrorContains(t, err, "another folder")
}

// TestNoIndexDependency: writing Parquet links neither the index nor
// SQLite (design.md: one package, one job).
func TestNoIndexDependency(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the package's dependencies")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err, "go list")
	for _, dep := range strings.Fields(string(out)) {
		assert.NotEqual(t, "github.com/hybridembed/hybridembed/internal/index", dep, "dataset links the index")
		assert.NotEqual(t, "github.com/mattn/go-sqlite3", dep, "dataset links SQLite")
	}
}

// TestVerifyReportsChunksOfAnotherShardCount: chunks left from a run with
// --shards 4 in a folder now holding a 2-way run are named, not counted
// (before, part-00003-of-00004 was skipped without a word and
// part-00001-of-00004 was counted as shard 1 of 2's rows), and a run with
// --shards 2 refuses the folder, as it refuses another run's manifests.
func TestVerifyReportsChunksOfAnotherShardCount(t *testing.T) {
	m, model := tinyModel(t)
	inputs := photos(t, t.TempDir(), 8)
	dir := t.TempDir()
	shardInputs := func(s Shard) []Input {
		var out []Input
		for _, in := range inputs {
			if s.Owns(in.Key) {
				out = append(out, in)
			}
		}
		return out
	}
	for k := range 2 {
		_, err := Run(context.Background(), m, shardInputs(Shard{k, 2}), Options{Dir: dir, Shard: Shard{k, 2}, Model: model, ChunkRows: 3})
		require.NoError(t, err)
	}
	rep, err := Verify(dir)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, 2, rep.Complete)
	rows := rep.Rows

	data, err := os.ReadFile(filepath.Join(dir, chunkName(Shard{1, 2}, 0)))
	require.NoError(t, err)
	for _, s := range []Shard{{1, 4}, {3, 4}} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, chunkName(s, 0)), data, 0o644))
	}
	rep, err = Verify(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"part-00001-of-00004-00000.parquet: a chunk of a 4-way run, in a 2-way dataset (left from a run with --shards 4?): not counted; move it away, or rerun with --shards 4 in an empty folder",
		"part-00003-of-00004-00000.parquet: a chunk of a 4-way run, in a 2-way dataset (left from a run with --shards 4?): not counted; move it away, or rerun with --shards 4 in an empty folder",
	}, rep.Problems)
	assert.Equal(t, rows, rep.Rows, "their rows are not the dataset's")
	assert.Equal(t, 2, rep.Complete)

	_, err = Run(context.Background(), m, shardInputs(Shard{0, 2}), Options{Dir: dir, Shard: Shard{0, 2}, Model: model, ChunkRows: 3})
	require.ErrorIs(t, err, ErrOtherRun)
	assert.Contains(t, err.Error(), "part-00001-of-00004-00000.parquet is a chunk of a 4-way run; this is a 2-way run")
}
