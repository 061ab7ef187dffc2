package index

import (
	"context"
	"database/sql"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// counting passes images to a real model and counts them.
type counting struct {
	m     *hybridembed.Model
	n     atomic.Int64
	delay time.Duration
}

func (c *counting) EmbedImagesFunc(ctx context.Context, images []hybridembed.Image, fn func(int, hybridembed.Embedding, error) error) error {
	c.n.Add(int64(len(images)))
	return c.m.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, err error) error {
		time.Sleep(c.delay)
		return fn(i, e, err)
	})
}

func tinyModel(t *testing.T, opts ...hybridembed.Option) (*counting, Model) {
	t.Helper()
	orttest.Init(t)
	emb, err := hybridembed.New(append([]hybridembed.Option{hybridembed.WithoutEnvironment(),
		hybridembed.WithHubCache(t.TempDir()), hybridembed.WithOffline(true)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { emb.Close() })
	m, err := emb.Model(context.Background(), fixtures.Fixture("models", "tiny-clip"))
	require.NoError(t, err)
	return &counting{m: m}, ModelOf(m.Info())
}

// writeImage writes a small PNG whose pixels depend on seed, so each seed
// is a distinct photo.
func writeImage(t testing.TB, path string, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	img.Set(0, 0, color.NRGBA{uint8(seed), uint8(seed >> 8), uint8(seed >> 16), 255})
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	require.NoError(t, f.Close())
}

func makeLibrary(t testing.TB, dir string, n int) {
	for i := range n {
		writeImage(t, filepath.Join(dir, fmt.Sprintf("d%d", i%5), fmt.Sprintf("img%04d.png", i)), uint64(i))
	}
}

func openAt(t *testing.T, root string) *Index {
	t.Helper()
	file, r, err := Locate([]string{root}, "")
	require.NoError(t, err)
	ix, err := Open(context.Background(), file, r)
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	return ix
}

func count(t *testing.T, ix *Index, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, ix.db.QueryRow(query, args...).Scan(&n))
	return n
}

// TestUpdateIncremental: an unchanged library reads no image data; renamed
// files cost no inference; deleted files leave the results and the
// database; changed files are embedded again.
func TestUpdateIncremental(t *testing.T) {
	emb, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	makeLibrary(t, lib, 250)
	ix := openAt(t, lib)

	st, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, Stats{New: 250, Embedded: 250, BytesHashed: st.BytesHashed}, st)
	assert.EqualValues(t, 250, emb.n.Load())

	st, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, Stats{Unchanged: 250}, st, "an unchanged library reads no image data")
	assert.EqualValues(t, 250, emb.n.Load())

	// Rename 100 (into a new folder), delete 50, change 5, copy 3.
	for i := range 100 {
		old := filepath.Join(lib, fmt.Sprintf("d%d", i%5), fmt.Sprintf("img%04d.png", i))
		require.NoError(t, os.MkdirAll(filepath.Join(lib, "renamed"), 0o755))
		require.NoError(t, os.Rename(old, filepath.Join(lib, "renamed", fmt.Sprintf("r%04d.png", i))))
	}
	var deleted []string
	for i := 100; i < 150; i++ {
		rel := fmt.Sprintf("d%d/img%04d.png", i%5, i)
		deleted = append(deleted, rel)
		require.NoError(t, os.Remove(filepath.Join(lib, rel)))
	}
	for i := 150; i < 155; i++ {
		p := filepath.Join(lib, fmt.Sprintf("d%d", i%5), fmt.Sprintf("img%04d.png", i))
		writeImage(t, p, uint64(10000+i))
		future := time.Now().Add(time.Hour)
		require.NoError(t, os.Chtimes(p, future, future))
	}
	for i := 200; i < 203; i++ {
		data, err := os.ReadFile(filepath.Join(lib, fmt.Sprintf("d%d", i%5), fmt.Sprintf("img%04d.png", i)))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(lib, fmt.Sprintf("copy%d.png", i)), data, 0o644))
	}
	st, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 100, st.Renamed)
	assert.Equal(t, 50, st.Removed)
	assert.Equal(t, 5, st.Changed)
	assert.Equal(t, 3, st.New)
	assert.Equal(t, 95, st.Unchanged)
	assert.Equal(t, 5, st.Embedded, "only changed contents are embedded")
	assert.Equal(t, 103, st.Reused)
	assert.EqualValues(t, 255, emb.n.Load())

	assert.Equal(t, 203, count(t, ix, `SELECT count(*) FROM files`))
	assert.Equal(t, 200, count(t, ix, `SELECT count(*) FROM vectors`), "vectors of deleted and replaced contents are purged")
	for _, rel := range deleted {
		assert.Zero(t, count(t, ix, `SELECT count(*) FROM files WHERE path = ?`, rel), rel)
	}
	mat, err := ix.Load(ctx, model, []string{lib})
	require.NoError(t, err)
	assert.Equal(t, 203, mat.Len())
	for _, p := range mat.Paths {
		assert.NotContains(t, deleted, p)
	}
	// A subfolder loads only its rows.
	sub, err := ix.Load(ctx, model, []string{filepath.Join(lib, "renamed")})
	require.NoError(t, err)
	assert.Equal(t, 100, sub.Len())
}

// TestMovedLibrary: a library moved with its index keeps it: nothing is
// read or embedded again.
func TestMovedLibrary(t *testing.T) {
	emb, model := tinyModel(t)
	ctx := context.Background()
	base := t.TempDir()
	lib := filepath.Join(base, "photos")
	makeLibrary(t, lib, 20)
	ix := openAt(t, lib)
	_, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, ix.Close())

	moved := filepath.Join(base, "elsewhere", "pictures")
	require.NoError(t, os.MkdirAll(filepath.Dir(moved), 0o755))
	require.NoError(t, os.Rename(lib, moved))
	ix = openAt(t, filepath.Join(moved, "d1")) // found from a subfolder
	assert.Equal(t, moved, ix.Root())
	st, err := ix.Update(ctx, model, emb, []string{moved}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, Stats{Unchanged: 20}, st)
}

// TestFailedFilesNotRetried: a file that fails is recorded with its error
// and is not tried again until it changes or RetryFailed is set.
func TestFailedFilesNotRetried(t *testing.T) {
	emb, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	makeLibrary(t, lib, 3)
	bad := filepath.Join(lib, "bad.jpg")
	require.NoError(t, os.WriteFile(bad, []byte("not a jpeg"), 0o644))
	ix := openAt(t, lib)
	var failures []string
	opts := UpdateOptions{Failed: func(p string, err error) { failures = append(failures, p+": "+err.Error()) }}
	st, err := ix.Update(ctx, model, emb, []string{lib}, opts)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Failed)
	assert.Equal(t, 3, st.Embedded, "a failed file is not counted as embedded")
	require.Len(t, failures, 1)
	assert.Contains(t, failures[0], "bad.jpg")
	var msg string
	require.NoError(t, ix.db.QueryRow(`SELECT error FROM vectors WHERE error IS NOT NULL`).Scan(&msg))
	assert.Contains(t, msg, "not a supported image")

	st, err = ix.Update(ctx, model, emb, []string{lib}, opts)
	require.NoError(t, err)
	assert.Equal(t, Stats{Unchanged: 4, KnownFailed: 1}, st)

	opts.RetryFailed = true
	st, err = ix.Update(ctx, model, emb, []string{lib}, opts)
	require.NoError(t, err)
	assert.Zero(t, st.Embedded, "tried again, and failed again")
	assert.Equal(t, 1, st.Failed)

	writeImage(t, bad, 99) // fixed (PNG bytes under a .jpg name decode by content)
	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(bad, future, future))
	st, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, Stats{Changed: 1, Unchanged: 3, Embedded: 1, BytesHashed: st.BytesHashed}, st)
	assert.Zero(t, count(t, ix, `SELECT count(*) FROM vectors WHERE error IS NOT NULL`), "the old failure is purged")
}

// TestModelsDoNotMix: two variants of one model share an index; each
// search sees only its own vectors.
func TestModelsDoNotMix(t *testing.T) {
	ctx := context.Background()
	fp32, m32 := tinyModel(t)
	quant, mq := tinyModel(t, hybridembed.WithVariant("quantized"))
	require.NotEqual(t, m32.Key, mq.Key)
	lib := t.TempDir()
	makeLibrary(t, lib, 6)
	ix := openAt(t, lib)
	_, err := ix.Update(ctx, m32, fp32, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	st, err := ix.Update(ctx, mq, quant, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 6, st.Embedded, "another variant's vectors are not reused")

	for _, c := range []struct {
		m   Model
		emb *counting
	}{{m32, fp32}, {mq, quant}} {
		mat, err := ix.Load(ctx, c.m, []string{lib})
		require.NoError(t, err)
		require.Equal(t, 6, mat.Len())
		for i, rel := range mat.Paths {
			want, err := c.emb.m.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageFile(ix.Abs(rel))})
			require.NoError(t, err)
			assert.InDeltaSlice(t, unit(want[0].Vector), mat.Row(i), 1e-6, "%s %s", c.m.Variant, rel)
		}
	}
	info := fp32.m.Info()
	info.Revision = "0123456789abcdef0123456789abcdef01234567"
	mat, err := ix.Load(ctx, ModelOf(info), []string{lib})
	require.NoError(t, err)
	assert.Zero(t, mat.Len(), "another revision has no vectors here")
}

func unit(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / sqrt(n))
	}
	return out
}

// TestSecondProcessWaits: while another process holds the index, an update
// says it is waiting and waits; it goes on once the lock is free.
func TestSecondProcessWaits(t *testing.T) {
	emb, model := tinyModel(t)
	lib := t.TempDir()
	makeLibrary(t, lib, 2)
	ix := openAt(t, lib)
	other := flock.New(ix.Path() + ".lock")
	locked, err := other.TryLock()
	require.NoError(t, err)
	require.True(t, locked)

	waited := 0
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{Waiting: func() { waited++ }})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for another process")
	assert.Equal(t, 1, waited)

	go func() {
		time.Sleep(200 * time.Millisecond)
		other.Unlock()
	}()
	st, err := ix.Update(context.Background(), model, emb, []string{lib}, UpdateOptions{Waiting: func() { waited++ }})
	require.NoError(t, err)
	assert.Equal(t, 2, st.New)
	assert.Equal(t, 2, waited)
}

// TestNewerSchemaRefused: an index from a newer hybridembed is not touched.
func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(context.Background(), filepath.Join(dir, "i.db"), dir)
	require.NoError(t, err)
	_, err = ix.db.Exec(`PRAGMA user_version = 99`)
	require.NoError(t, err)
	require.NoError(t, ix.Close())
	_, err = Open(context.Background(), filepath.Join(dir, "i.db"), dir)
	require.ErrorIs(t, err, ErrSchema)
	assert.Contains(t, err.Error(), "i.db")
}

const childEnv = "HYBRIDEMBED_INDEX_TEST_CHILD"

// TestKillChild is the process TestKillAndResume kills; it does nothing
// on its own.
func TestKillChild(t *testing.T) {
	lib := os.Getenv(childEnv)
	if lib == "" {
		t.Skip("run by TestKillAndResume")
	}
	emb, model := tinyModel(t)
	emb.delay = 5 * time.Millisecond
	ix := openAt(t, lib)
	_, err := ix.Update(context.Background(), model, emb, []string{lib}, UpdateOptions{CommitEvery: 8})
	require.NoError(t, err)
}

// TestKillAndResume: kill -9 in the middle of indexing, then rerun: every
// image is in the index exactly once, with the vectors of an uninterrupted
// run, and committed work is not redone.
func TestKillAndResume(t *testing.T) {
	emb, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	const n = 160
	makeLibrary(t, lib, n)

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+lib)
	require.NoError(t, cmd.Start())
	dbPath := filepath.Join(lib, ".hybridembed", DefaultName)
	committed := 0
	deadline := time.Now().Add(2 * time.Minute)
	for committed < 24 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		committed = countVectors(dbPath)
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	_ = cmd.Wait()
	committed = countVectors(dbPath)
	require.GreaterOrEqual(t, committed, 24)
	require.Less(t, committed, n, "the child was killed before it finished")

	ix := openAt(t, lib)
	st, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, n-committed, st.Embedded, "committed work is not redone")
	// The files the killed run stored but never embedded are not unchanged
	// ones: the summary must not say "160 unchanged, 136 embedded".
	assert.Equal(t, n-committed, st.Pending, "stored by the killed run, embedded now")
	assert.Equal(t, committed, st.Unchanged)
	assert.Zero(t, st.New)
	assert.Equal(t, n, count(t, ix, `SELECT count(*) FROM files`))
	assert.Equal(t, n, count(t, ix, `SELECT count(DISTINCT path) FROM files`))

	// An uninterrupted run over the same library, in another index file.
	ref, err := Open(ctx, filepath.Join(t.TempDir(), "ref.db"), lib)
	require.NoError(t, err)
	defer ref.Close()
	_, err = ref.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	got, err := ix.Load(ctx, model, []string{lib})
	require.NoError(t, err)
	want, err := ref.Load(ctx, model, []string{lib})
	require.NoError(t, err)
	require.Equal(t, want.Paths, got.Paths)
	assert.InDeltaSlice(t, want.Data, got.Data, 1e-6)
}

// countVectors reads the index as another process would: through its own
// connection, while the writer may be mid-transaction.
func countVectors(path string) int {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM vectors`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// TestConcurrentUpdatesInOneProcess: two updates of one Index at once take
// turns (the file lock alone would let both in): every file once.
func TestConcurrentUpdatesInOneProcess(t *testing.T) {
	emb, model := tinyModel(t)
	lib := t.TempDir()
	makeLibrary(t, lib, 20)
	ix := openAt(t, lib)
	var wg sync.WaitGroup
	stats := make([]Stats, 2)
	for i := range stats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			stats[i], err = ix.Update(context.Background(), model, emb, []string{lib}, UpdateOptions{})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, 20, stats[0].Embedded+stats[1].Embedded, "each image embedded once")
	assert.Equal(t, 20, count(t, ix, `SELECT count(*) FROM files`))
	assert.Equal(t, 20, count(t, ix, `SELECT count(*) FROM vectors`))
}
