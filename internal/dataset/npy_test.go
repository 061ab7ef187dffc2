package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// npyVersion is the n-th version of an NPY output: rows labels "n/i" (padded
// so that the labels file takes about as long to write as the vectors) and
// vectors [n, i, ...], so that a row's label and vector say which write and
// row each came from.
func npyVersion(n, rows, dim int) ([]string, [][]float32) {
	labels := make([]string, rows)
	vecs := make([][]float32, rows)
	pad := strings.Repeat("x", 4*dim)
	for i := range rows {
		labels[i] = fmt.Sprintf("%d/%d/%s", n, i, pad)
		v := make([]float32, dim)
		v[0], v[1] = float32(n), float32(i)
		vecs[i] = v
	}
	return labels, vecs
}

// npyConsistent says whether every row's label and vector come from the
// same write and row.
func npyConsistent(out *NPY) error {
	if len(out.Labels) != len(out.Vectors) {
		return fmt.Errorf("%d labels for %d vectors", len(out.Labels), len(out.Vectors))
	}
	for i, l := range out.Labels {
		var n, row int
		if _, err := fmt.Sscanf(l, "%d/%d/", &n, &row); err != nil {
			return fmt.Errorf("label %q: %v", l, err)
		}
		if v := out.Vectors[i]; float32(n) != v[0] || float32(row) != v[1] || row != i {
			return fmt.Errorf("row %d: label of write %d row %d beside the vector of write %v row %v", i, n, row, v[0], v[1])
		}
	}
	return nil
}

func TestNPYRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	labels, vecs := npyVersion(1, 5, 4)
	require.NoError(t, WriteNPY(dir, labels, vecs, 4))
	out, err := ReadNPY(dir)
	require.NoError(t, err)
	assert.Equal(t, labels, out.Labels)
	assert.Equal(t, vecs, out.Vectors)
	assert.Equal(t, "paths.txt", out.LabelsFile)
	assert.False(t, out.Earlier || out.Unlinked)

	rep, err := Verify(dir)
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Empty(t, rep.Notes)
	assert.Equal(t, "npy", rep.Format)
	assert.Equal(t, 5, rep.Rows)
	assert.Equal(t, 4, rep.Dim)

	texts := []string{"two\nlines", `"quoted"`}
	require.NoError(t, WriteNPYTexts(dir, texts, vecs[:2], 4))
	out, err = ReadNPY(dir)
	require.NoError(t, err)
	assert.Equal(t, texts, out.Labels)
	assert.Equal(t, "texts.jsonl", out.LabelsFile)
}

// TestNPYCutShortIsDetected puts an NPY output in each state a write killed
// between two commits leaves (the new _npy.json beside the old pair, then
// beside the new labels and the old vectors; the new vectors beside the old
// labels of an older hybridembed's folder), and checks that each reads as
// the earlier pair, whole, or as a mismatch, never as rows.
func TestNPYCutShortIsDetected(t *testing.T) {
	old, now := t.TempDir(), t.TempDir()
	labels, vecs := npyVersion(1, 6, 4)
	require.NoError(t, WriteNPY(old, labels, vecs, 4))
	require.NoError(t, WriteNPY(now, labels, vecs, 4))
	labels2, vecs2 := npyVersion(2, 6, 4) // as many rows: only the link tells
	require.NoError(t, WriteNPY(now, labels2, vecs2, 4))
	cp := func(name string) {
		data, err := os.ReadFile(filepath.Join(now, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(old, name), data, 0o644))
	}

	cp(npyManifest) // killed after committing _npy.json
	out, err := ReadNPY(old)
	require.NoError(t, err)
	assert.True(t, out.Earlier, "the earlier pair, which _npy.json still lists")
	assert.NoError(t, npyConsistent(out))
	assert.Equal(t, labels, out.Labels)
	rep, err := Verify(old)
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "did not finish")

	cp("paths.txt") // killed after committing the labels
	_, err = ReadNPY(old)
	require.ErrorIs(t, err, ErrNPYMismatch)
	assert.Contains(t, err.Error(), old)
	rep, err = Verify(old)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	assert.Contains(t, rep.Problems[0], "cut short")

	cp(npyVectors) // done
	out, err = ReadNPY(old)
	require.NoError(t, err)
	assert.Equal(t, labels2, out.Labels)
	assert.False(t, out.Earlier)

	// An older hybridembed's folder (no _npy.json) is read on its row
	// count alone, and says so; rows that disagree are a mismatch.
	require.NoError(t, os.Remove(filepath.Join(old, npyManifest)))
	out, err = ReadNPY(old)
	require.NoError(t, err)
	assert.True(t, out.Unlinked)
	require.NoError(t, os.WriteFile(filepath.Join(old, "paths.txt"), []byte("a\nb\n"), 0o644))
	_, err = ReadNPY(old)
	require.ErrorIs(t, err, ErrNPYMismatch)
	rep, err = Verify(old)
	require.NoError(t, err)
	assert.Len(t, rep.Problems, 1)
}

// TestNPYCutShortOverAnOlderFolder: a write over an older hybridembed's
// folder (no _npy.json) killed after committing its _npy.json leaves the
// old pair readable, whole, as the one the record lists as earlier.
func TestNPYCutShortOverAnOlderFolder(t *testing.T) {
	old, now := t.TempDir(), t.TempDir()
	labels, vecs := npyVersion(1, 6, 4)
	require.NoError(t, WriteNPY(old, labels, vecs, 4))
	require.NoError(t, os.Remove(filepath.Join(old, npyManifest))) // as an older version wrote it
	require.NoError(t, os.CopyFS(now, os.DirFS(old)))
	labels2, vecs2 := npyVersion(2, 6, 4)
	require.NoError(t, WriteNPY(now, labels2, vecs2, 4))
	data, err := os.ReadFile(filepath.Join(now, npyManifest))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(old, npyManifest), data, 0o644)) // killed after committing _npy.json

	out, err := ReadNPY(old)
	require.NoError(t, err, "the older folder's pair is still readable")
	assert.True(t, out.Earlier)
	assert.Equal(t, labels, out.Labels)
	assert.NoError(t, npyConsistent(out))
}

// TestNPYFailedWriteKeepsPair: a write that fails part-way (a file size
// limit, as a full disk does) leaves the folder's pair as it was.
func TestNPYFailedWriteKeepsPair(t *testing.T) {
	if os.Getenv("NPY_WRITER") == "limited" {
		limitedWriter(os.Getenv("NPY_DIR"))
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs RLIMIT_FSIZE")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNPYFailedWriteKeepsPair$")
	cmd.Env = append(os.Environ(), "NPY_WRITER=limited", "NPY_DIR="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "second write failed:", "%s", out)
	got, err := ReadNPY(dir)
	require.NoError(t, err, "%s", out)
	require.NoError(t, npyConsistent(got))
	assert.Equal(t, "1/0/", got.Labels[0][:4], "the first write's pair")
}

// limitedWriter writes a pair, then, under a file size limit that the
// vectors fit and the labels do not, another: the labels file's write
// fails with EFBIG, as it would with ENOSPC.
func limitedWriter(dir string) {
	labels, vecs := npyVersion(1, 200, 4)
	if err := WriteNPY(dir, labels, vecs, 4); err != nil {
		fmt.Println("first write:", err)
		os.Exit(2)
	}
	labels, vecs = npyVersion(2, 200, 4) // vectors 3.3 KB, labels 4.6 KB
	lim := &syscall.Rlimit{Cur: 4096, Max: 4096}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
		fmt.Println("setrlimit:", err)
		os.Exit(2)
	}
	err := WriteNPY(dir, labels, vecs, 4)
	fmt.Println("second write failed:", err)
	if err == nil || !errors.Is(err, syscall.EFBIG) {
		os.Exit(3)
	}
	os.Exit(0)
}

// TestNPYKillAtAnyMoment kills a writer of NPY outputs with SIGKILL at
// random moments, again and again: each time, the folder reads as one
// write's pair, or as a mismatch, and never as one write's vectors beside
// another's labels.
func TestNPYKillAtAnyMoment(t *testing.T) {
	if os.Getenv("NPY_WRITER") == "loop" {
		loopWriter(os.Getenv("NPY_DIR"))
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	states := map[string]int{}
	for round := range 40 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNPYKillAtAnyMoment$")
		cmd.Env = append(os.Environ(), "NPY_WRITER=loop", "NPY_DIR="+dir)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(50+round*37%150) * time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		out, err := ReadNPY(dir)
		switch {
		case errors.Is(err, ErrNPYMismatch):
			states["mismatch, detected"]++
		case errors.Is(err, fs.ErrNotExist) && len(states) <= 1 && states["nothing yet"] == round:
			states["nothing yet"]++ // killed before its first commit
		case err != nil:
			t.Fatalf("round %d: %v", round, err)
		default:
			require.NoError(t, npyConsistent(out), "round %d: a mismatched pair read as data", round)
			switch {
			case out.Earlier:
				states["the earlier pair"]++
			default:
				states["a whole pair"]++
			}
		}
		rep, err := Verify(dir)
		if err == nil && len(rep.Problems) == 0 && out == nil {
			t.Fatalf("round %d: verify found nothing wrong with a folder ReadNPY refused", round)
		}
	}
	t.Logf("states after a kill: %v", states)
}

// loopWriter writes new versions of an NPY output until it is killed,
// counting on from the version it finds there.
func loopWriter(dir string) {
	n := 1
	if out, err := ReadNPY(dir); err == nil && len(out.Labels) > 0 {
		v, _, _ := strings.Cut(out.Labels[0], "/")
		n, _ = strconv.Atoi(v)
		n++
	}
	for ; ; n++ {
		labels, vecs := npyVersion(n, 2000, 32)
		if err := WriteNPY(dir, labels, vecs, 32); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
	}
}
