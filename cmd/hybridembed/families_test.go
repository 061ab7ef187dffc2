package main

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// familyGoldenVectors reads a family fixture's golden vectors of the
// sample images, by file name.
func familyGoldenVectors(t *testing.T, name string) map[string][]float64 {
	t.Helper()
	raw, err := os.ReadFile(fixtures.Fixture("golden", name+".json"))
	require.NoError(t, err)
	var g struct {
		Images []struct {
			File      string    `json:"file"`
			Embedding []float64 `json:"embedding"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	out := map[string][]float64{}
	for _, img := range g.Images {
		if dir, file := filepath.Split(img.File); dir == "images/" {
			out[file] = img.Embedding
		}
	}
	out["copy of blue.png"] = out["blue_square.png"] // sampleLibrary's duplicate
	return out
}

// imageParity is the cosine asked of an image's vector against PyTorch's:
// 0.99999, or 0.9999 for a JPEG when Go's decoder (within 2-3 levels of
// Pillow's libjpeg-turbo) decodes it.
func imageParity(path string) float64 {
	if dec, _ := imageprep.JPEGDecoder(); dec != imageprep.JPEGTurbo && strings.HasSuffix(path, ".jpg") {
		return 0.9999
	}
	return 0.99999
}

func dot(a, b []float64) float64 {
	var d float64
	for i := range a {
		d += a[i] * b[i]
	}
	return d
}

// TestFamiliesIndexSearchDataset: every family indexes a library with the
// PyTorch reference's vectors, searches it as a brute force over those
// vectors ranks them, and writes a dataset that imports into the index.
// Two families indexed into one library keep their vectors apart.
func TestFamiliesIndexSearchDataset(t *testing.T) {
	isolate(t)
	lib := sampleLibrary(t)
	db := filepath.Join(lib, ".hybridembed", "index.db")
	for _, name := range []string{"tiny-siglip", "tiny-siglip2", "immich-clip", "immich-siglip2", "immich-mclip"} {
		t.Run(name, func(t *testing.T) {
			model := fixtures.Fixture("models", name)
			r := runCLI(t, "", "index", "--model", model, lib)
			require.Equal(t, exitOK, r.code, r.stderr)
			want := familyGoldenVectors(t, name)
			stored := map[string][]float64{}
			for p, v := range storedVectorsOf(t, db, model) {
				stored[p] = v
				base := filepath.Base(p)
				g, ok := want[base]
				require.True(t, ok, p)
				assert.GreaterOrEqual(t, dot(unitVec(g), v), imageParity(p), "%s: %s against PyTorch", name, p)
			}
			require.Len(t, stored, 5, "this family's vectors only")

			r = runCLI(t, "", "text", "--model", model, "a red circle")
			require.Equal(t, exitOK, r.code, r.stderr)
			q := vectorOfRecord(t, records(t, r.stdout)[0])
			r = runCLI(t, "", "search", "--model", model, "--json", "--top", "10", "--no-update", "-q", "a red circle", lib)
			require.Equal(t, exitOK, r.code, r.stderr)
			var sl searchLine
			require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &sl))
			require.Len(t, sl.Results, 5)
			for _, h := range sl.Results {
				rel, err := filepath.Rel(lib, h.Path)
				require.NoError(t, err)
				assert.InDelta(t, dot(stored[rel], q), h.Score, 1e-5, "%s: %s", name, rel)
			}

			ds := filepath.Join(t.TempDir(), "ds")
			r = runCLI(t, "", "embed", "--format", "parquet", "-o", ds, "--model", model, lib)
			require.Equal(t, exitOK, r.code, r.stderr)
			rows := readDataset(t, ds)
			require.Len(t, rows, 5)
			for p, row := range rows {
				g := want[filepath.Base(p)]
				v := make([]float64, len(row.Embedding))
				for i, x := range row.Embedding {
					v[i] = float64(x)
				}
				assert.GreaterOrEqual(t, dot(unitVec(g), v), imageParity(p), "%s: dataset row %s", name, p)
			}
			imported := filepath.Join(t.TempDir(), "imported.db")
			r = runCLI(t, "", "index", "import", "--model", model, "--index", imported, ds, lib)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stderr, "imported 5 rows")
		})
	}
}

// storedVectorsOf reads one model's vectors from an index with plain SQL:
// the rows of the model whose name is model.
func storedVectorsOf(t *testing.T, dbPath, model string) map[string][]float64 {
	t.Helper()
	all := storedVectorsByModel(t, dbPath)
	return all[model]
}

// storedVectorsByModel reads an index's vectors with plain SQL, by the
// name of the model that made them and path.
func storedVectorsByModel(t *testing.T, dbPath string) map[string]map[string][]float64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT m.name, f.path, v.vector FROM files f JOIN vectors v ON v.hash = f.hash
		JOIN models m ON m.id = v.model WHERE v.vector IS NOT NULL`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]map[string][]float64{}
	for rows.Next() {
		var name, p string
		var blob []byte
		require.NoError(t, rows.Scan(&name, &p, &blob))
		v := make([]float64, len(blob)/4)
		for i := range v {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:])))
		}
		if out[name] == nil {
			out[name] = map[string][]float64{}
		}
		out[name][p] = unitVec(v)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestResolveNotCachedSaysSo: a model that would run here but is not
// here is not just "local", which reads as "works".
func TestResolveNotCachedSaysSo(t *testing.T) {
	isolate(t)
	r := runCLI(t, "", "resolve", "sentence-transformers/all-MiniLM-L6-v2")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(text): local, but not on this machine yet: `hybridembed models pull sentence-transformers/all-MiniLM-L6-v2` fetches it\n")
}

// TestResolveShowsFamily: resolve says the family and the layout, and an
// image-text family's text stays local.
func TestResolveShowsFamily(t *testing.T) {
	isolate(t)
	for name, want := range map[string]string{"tiny-siglip2": "family: siglip2", "immich-mclip": "family: mclip"} {
		r := runCLI(t, "", "resolve", fixtures.Fixture("models", name))
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, want)
		assert.Contains(t, r.stdout, ": local\n")
		if name == "immich-mclip" {
			assert.Contains(t, r.stdout, "immich layout")
		}
		r = runCLI(t, "", "resolve", "--json", fixtures.Fixture("models", name))
		require.Equal(t, exitOK, r.code, r.stderr)
		var out struct {
			Evidence struct {
				Family string `json:"family"`
				Local  struct {
					Layout string `json:"layout"`
				} `json:"local"`
			} `json:"evidence"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
		assert.Equal(t, strings.TrimPrefix(want, "family: "), out.Evidence.Family)
		assert.NotEmpty(t, out.Evidence.Local.Layout)
	}
}
