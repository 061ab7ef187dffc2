package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// writePNG writes a small PNG whose pixels depend on seed: each seed is a
// distinct photo, with a vector of its own.
func writePNG(t *testing.T, path string, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 23))
	img := image.NewNRGBA(image.Rect(0, 0, 10, 7))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	writeFile(t, path, b.Bytes())
}

// snapshot is every file and folder at or under path, hidden ones included,
// with their contents: nil when path does not exist.
func snapshot(t *testing.T, path string) map[string]string {
	t.Helper()
	if _, err := os.Lstat(path); os.IsNotExist(err) {
		return nil
	}
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(path, p)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		out[rel] = string(data)
		return nil
	}))
	return out
}

// TestNothingEmbeddedLeavesOutput: a run that embeds nothing (a mistyped
// PATH, a folder of bad files) exits 1 and leaves -o FILE or DIR exactly as
// it was, or not made, in every format, saying so as an interrupted run
// does.
func TestNothingEmbeddedLeavesOutput(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "a.jpg"), []byte("not a jpeg"))
	writeFile(t, filepath.Join(bad, "sub", "b.png"), []byte("not a png either"))
	typo := filepath.Join(t.TempDir(), "Pictres")
	inputs := map[string][]string{
		"mistyped path":                {typo},
		"mistyped path beside a good":  {fixtures.Fixture("images", "red_circle.png"), typo},
		"folder of bad files":          {bad},
		"bad file named":               {filepath.Join(bad, "a.jpg")},
		"folder of bad files and typo": {bad, typo},
	}
	for _, format := range []string{"jsonl", "npy", "parquet"} {
		for name, in := range inputs {
			for _, earlier := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/earlier=%v", format, name, earlier), func(t *testing.T) {
					parent := t.TempDir()
					out := filepath.Join(parent, "out")
					if format == "jsonl" {
						out += ".jsonl"
					}
					if earlier {
						r := runCLI(t, "", "embed", "--model", model, "--format", format, "-o", out, fixtures.Fixture("images"))
						require.Equal(t, exitOK, r.code, r.stderr)
					}
					before, siblings := snapshot(t, out), snapshot(t, parent)

					r := runCLI(t, "", append([]string{"embed", "--model", model, "--format", format, "-o", out}, in...)...)
					assert.Equal(t, exitFatal, r.code, r.stderr)
					assert.Equal(t, before, snapshot(t, out), "the output must be left as it was")
					assert.Equal(t, siblings, snapshot(t, parent), "nothing is made beside it either")
					if earlier {
						assert.Contains(t, r.stderr, "hybridembed: "+out+" is unchanged")
					} else {
						assert.Contains(t, r.stderr, "hybridembed: "+out+" was not made")
					}
				})
			}
		}
	}

	// On stdout the records stream as they are made; the status still says
	// that nothing was embedded.
	r := runCLI(t, "", "embed", "--model", model, bad)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Len(t, records(t, r.stdout), 2)
	assert.Contains(t, r.stderr, "nothing was embedded: all 2 inputs failed")
}

// countRows counts an index's file rows and vectors with plain SQL.
func countRows(t *testing.T, db string) (files, vectors int) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.QueryRow(`SELECT count(*) FROM files`).Scan(&files))
	require.NoError(t, conn.QueryRow(`SELECT count(*) FROM vectors`).Scan(&vectors))
	return files, vectors
}

// indexedLibrary adds three photos at the top of lib and three in
// 2024/sub, and makes lib's index: by embedding them (index) or by loading
// a dataset embedded elsewhere (index import). It returns the index file,
// checked to hold a row and a vector for each of want photos.
func indexedLibrary(t *testing.T, lib, model, source string, want int) string {
	t.Helper()
	for i := range 3 {
		writePNG(t, filepath.Join(lib, fmt.Sprintf("top%d.png", i)), uint64(i))
		writePNG(t, filepath.Join(lib, "2024", "sub", fmt.Sprintf("y%d.png", i)), uint64(10+i))
	}
	switch source {
	case "index":
		r := runCLI(t, "", "index", "--model", model, lib)
		require.Equal(t, exitOK, r.code, r.stderr)
	case "import":
		ds := filepath.Join(t.TempDir(), "ds")
		r := runCLI(t, "", "embed", "--format", "parquet", "-o", ds, "--model", model, lib)
		require.Equal(t, exitOK, r.code, r.stderr)
		r = runCLI(t, "", "index", "import", "--model", model, ds, lib)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stderr, fmt.Sprintf("imported %d rows", want))
	}
	db := filepath.Join(lib, ".hybridembed", "index.db")
	files, vectors := countRows(t, db)
	require.Equal(t, want, files)
	require.Equal(t, want, vectors)
	return db
}

// TestMissingPathPurgesNothing: `search` and `index` given a PATH that is
// not there (a typo, an unmounted disk) exit 1 before changing anything,
// however the index is found, for vectors embedded here and imported alike.
func TestMissingPathPurgesNothing(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	for _, source := range []string{"index", "import"} {
		t.Run(source, func(t *testing.T) {
			lib := t.TempDir()
			db := indexedLibrary(t, lib, model, source, 6)
			y := filepath.Join(lib, "2024")
			require.NoError(t, os.Rename(y, filepath.Join(t.TempDir(), "away")))

			for _, c := range []struct {
				name string
				env  string // $HYBRIDEMBED_INDEX
				args []string
			}{
				{"search beside the library", "", []string{"search", "-q", "x", lib, y}},
				{"index beside the library", "", []string{"index", lib, y}},
				{"search --index", "", []string{"search", "-q", "x", "--index", db, y}},
				{"index --index", "", []string{"index", "--index", db, y}},
				{"search $HYBRIDEMBED_INDEX", db, []string{"search", "-q", "x", y}},
				{"index $HYBRIDEMBED_INDEX", db, []string{"index", y}},
				{"search", "", []string{"search", "-q", "x", y}},
				{"index", "", []string{"index", y}},
				{"search --no-update", "", []string{"search", "--no-update", "-q", "x", "--index", db, y}},
			} {
				t.Run(c.name, func(t *testing.T) {
					t.Setenv("HYBRIDEMBED_INDEX", c.env)
					r := runCLI(t, "", append([]string{c.args[0], "--model", model}, c.args[1:]...)...)
					assert.Equal(t, exitFatal, r.code, r.stderr)
					assert.Contains(t, r.stderr, y+": no such file or directory")
					files, vectors := countRows(t, db)
					assert.Equal(t, 6, files, "file rows purged")
					assert.Equal(t, 6, vectors, "vectors purged")
				})
			}
		})
	}
}

// fault makes the folder deepFolder(lib) unreadable to the walk, or skips
// the test where it cannot.
type fault struct {
	name string
	// apply returns the library's path once broken, and an undo that
	// mends it and returns the path then.
	apply func(t *testing.T, lib string) (string, func() string)
	msg   string // in the error reported
}

var unreadableFaults = []fault{
	{
		// Effective for any user but root (CAP_DAC_OVERRIDE reads anyway).
		name: "chmod 000",
		apply: func(t *testing.T, lib string) (string, func() string) {
			sub := deepFolder(lib)
			require.NoError(t, os.Chmod(sub, 0))
			t.Cleanup(func() { os.Chmod(sub, 0o755) })
			if _, err := os.ReadDir(sub); err == nil {
				t.Skip("chmod 000 does not stop this user reading (root): see the PATH_MAX case")
			}
			return lib, func() string { require.NoError(t, os.Chmod(sub, 0o755)); return lib }
		},
		msg: "permission denied",
	},
	{
		// Root too cannot list a folder whose path is longer than PATH_MAX:
		// the library is moved (with its index, as a library may be) to
		// where the deep folder lies past it, while the rest stays in
		// reach.
		name: "path past PATH_MAX",
		apply: func(t *testing.T, lib string) (string, func() string) {
			parent := filepath.Dir(lib)
			longer := parent + strings.Repeat("q", 250)
			require.NoError(t, os.Rename(parent, longer))
			t.Cleanup(func() { os.Rename(longer, parent) })
			moved := filepath.Join(longer, filepath.Base(lib))
			if _, err := os.ReadDir(deepest(moved)); err == nil {
				t.Skip("paths past PATH_MAX are readable here")
			}
			require.DirExists(t, filepath.Join(moved, "2024"))
			return moved, func() string { require.NoError(t, os.Rename(longer, parent)); return lib }
		},
		msg: "file name too long",
	},
}

// deepFolder is a folder below lib/2024/sub whose path is within 100
// bytes of PATH_MAX (4096 on Linux).
func deepFolder(lib string) string {
	p := filepath.Join(lib, "2024", "sub")
	for room := 4096 - 100 - len(p); room > 1; room = 4096 - 100 - len(p) {
		p = filepath.Join(p, strings.Repeat("d", min(200, room-1)))
	}
	return p
}

// deepest is the folder made by deepFolder, found by walking down.
func deepest(lib string) string {
	p := filepath.Join(lib, "2024", "sub")
	for {
		entries, err := os.ReadDir(p)
		if err != nil {
			return p
		}
		next := ""
		for _, e := range entries {
			if e.IsDir() {
				next = e.Name()
			}
		}
		if next == "" {
			return p
		}
		p = filepath.Join(p, next)
	}
}

// TestUnreadableSubfolderKeepsRows: a subfolder the walk cannot list
// keeps its rows (embedded here or imported), is reported, and the run
// exits 3 while the rest of the library is brought up to date; once it is
// readable again, nothing has to be embedded again.
func TestUnreadableSubfolderKeepsRows(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	for _, f := range unreadableFaults {
		for _, source := range []string{"index", "import"} {
			t.Run(f.name+"/"+source, func(t *testing.T) {
				lib := filepath.Join(t.TempDir(), "p", "lib")
				for i := range 2 {
					writePNG(t, filepath.Join(deepFolder(lib), fmt.Sprintf("deep%d.png", i)), uint64(20+i))
				}
				indexedLibrary(t, lib, model, source, 8)

				lib, undo := f.apply(t, lib)
				db := filepath.Join(lib, ".hybridembed", "index.db")
				writePNG(t, filepath.Join(lib, "new.png"), 99)

				r := runCLI(t, "", "index", "--model", model, lib)
				assert.Equal(t, exitPartial, r.code, r.stderr)
				assert.Contains(t, r.stderr, f.msg)
				assert.Contains(t, r.stderr, "1 new, 0 changed, 0 renamed, 6 unchanged, 0 removed, 1 failed (2 kept as they were")
				files, vectors := countRows(t, db)
				assert.Equal(t, 9, files, "rows under the unreadable folder were purged")
				assert.Equal(t, 9, vectors)

				r = runCLI(t, "", "search", "--model", model, "-q", "x", lib)
				assert.Equal(t, exitPartial, r.code, r.stderr)
				assert.Contains(t, r.stderr, f.msg)
				files, vectors = countRows(t, db)
				assert.Equal(t, 9, files, "search purged rows under the unreadable folder")
				assert.Equal(t, 9, vectors)

				lib = undo()
				r = runCLI(t, "", "index", "--model", model, lib)
				assert.Equal(t, exitOK, r.code, r.stderr)
				assert.Contains(t, r.stderr, "0 new, 0 changed, 0 renamed, 9 unchanged, 0 removed, 0 failed; 0 embedded")
			})
		}
	}
}

// rewriteOnWrite runs rewrite once, at the first line on stderr that
// holds mark.
type rewriteOnWrite struct {
	bytes.Buffer
	mark    string
	once    sync.Once
	rewrite func()
}

func (w *rewriteOnWrite) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.mark) {
		w.once.Do(w.rewrite)
	}
	return w.Buffer.Write(p)
}

// TestRewrittenBetweenHashAndEmbed: a photo rewritten after `index` hashed
// it and before the model read it gets the vector of the bytes the model
// read, filed under their hash; it is never the new content's vector under
// the old hash. The moment is caught through a file whose hashing fails
// after the photo's (a link to /proc/self/mem, which reads as EIO at
// offset 0): its message on stderr comes between the two phases.
func TestRewrittenBetweenHashAndEmbed(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	if f, err := os.Open("/proc/self/mem"); err != nil {
		t.Skip("no /proc/self/mem: ", err)
	} else {
		_, err := f.Read(make([]byte, 1))
		f.Close()
		if err == nil {
			t.Skip("/proc/self/mem reads at offset 0 here")
		}
	}
	lib := t.TempDir()
	photo := filepath.Join(lib, "a.png")
	oldBytes := mustReadBytes(t, fixtures.Fixture("images", "red_circle.png"))
	newBytes := mustReadBytes(t, fixtures.Fixture("images", "blue_square.png"))
	writeFile(t, photo, oldBytes)
	require.NoError(t, os.Symlink("/proc/self/mem", filepath.Join(lib, "zz.jpg")))

	// The vector of each content, from `embed`.
	want := map[[32]byte][]float64{}
	for _, b := range [][]byte{oldBytes, newBytes} {
		p := filepath.Join(t.TempDir(), "x.png")
		writeFile(t, p, b)
		r := runCLI(t, "", "embed", "--model", model, p)
		require.Equal(t, exitOK, r.code, r.stderr)
		want[sha256.Sum256(b)] = vectorOfRecord(t, records(t, r.stdout)[0])
	}

	stderr := &rewriteOnWrite{mark: "zz.jpg", rewrite: func() { writeFile(t, photo, newBytes) }}
	code := run(context.Background(), []string{"index", "--model", model, lib}, strings.NewReader(""), io.Discard, stderr)
	require.Equal(t, exitPartial, code, stderr.String())
	require.Equal(t, newBytes, mustReadBytes(t, photo), "the photo was rewritten during the run")

	db := filepath.Join(lib, ".hybridembed", "index.db")
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	require.NoError(t, err)
	defer conn.Close()
	rows, err := conn.Query(`SELECT hash, vector FROM vectors WHERE vector IS NOT NULL`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var h, blob []byte
		require.NoError(t, rows.Scan(&h, &blob))
		n++
		wantVec, ok := want[[32]byte(h)]
		require.True(t, ok, "a vector under a hash of neither content")
		got := make([]float64, len(blob)/4)
		for i := range got {
			got[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:])))
		}
		assert.InDeltaSlice(t, wantVec, unitVec(got), 1e-5, "the vector stored under %x is another content's", h[:6])
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, 1, n)
	var h []byte
	require.NoError(t, conn.QueryRow(`SELECT hash FROM files WHERE path = 'a.png'`).Scan(&h))
	assert.Equal(t, sha256.Sum256(newBytes), [32]byte(h), "the row follows the bytes embedded")

	// The row holds the size and time the embedded bytes had: the next run
	// reads nothing.
	r := runCLI(t, "", "index", "--model", model, lib)
	assert.Contains(t, r.stderr, "0 new, 0 changed, 0 renamed, 1 unchanged, 0 removed, 1 failed; 0 embedded")
}

func mustReadBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestNoImages: `index` and `search` of a folder with no images exit 1 and
// make nothing in it (nor the --index file); a missing PATH exits 1 for
// `embed` and `index` alike.
func TestNoImages(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, "notes.txt"), []byte("no photos here"))
	writeFile(t, filepath.Join(empty, "sub", "readme.md"), []byte("nor here"))
	before := snapshot(t, empty)
	other := filepath.Join(t.TempDir(), "photos.db")
	for _, args := range [][]string{
		{"index", empty},
		{"search", "-q", "x", empty},
		{"index", "--index", other, empty},
		{"search", "-q", "x", "--index", other, empty},
	} {
		r := runCLI(t, "", append([]string{args[0], "--model", model}, args[1:]...)...)
		assert.Equal(t, exitFatal, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "no images found in "+empty, args)
		assert.Equal(t, before, snapshot(t, empty), "%v made something", args)
		assert.NoFileExists(t, other)
	}

	// In a library that has an index, a subfolder with no images.
	lib := sampleLibrary(t)
	require.Equal(t, exitOK, runCLI(t, "", "index", "--model", model, lib).code)
	require.NoError(t, os.Mkdir(filepath.Join(lib, "empty"), 0o755))
	r := runCLI(t, "", "index", "--model", model, filepath.Join(lib, "empty"))
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no images found in ")

	missing := filepath.Join(empty, "nope")
	for _, cmd := range []string{"embed", "index"} {
		r := runCLI(t, "", cmd, "--model", model, missing)
		assert.Equal(t, exitFatal, r.code, "%s: %s", cmd, r.stderr)
		assert.Contains(t, r.stderr, missing+": no such file or directory")
	}
}
