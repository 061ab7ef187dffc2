package atomicfile_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// entries lists a folder's names, temporary files included.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func TestCommitReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))

	f, err := atomicfile.Create(path)
	require.NoError(t, err)
	defer f.Abort()
	_, err = f.Write([]byte("new"))
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(got), "the target is untouched until Commit")
	assert.Equal(t, dir, filepath.Dir(f.TempName()), "the temporary file is beside the target")
	assert.Equal(t, byte('.'), filepath.Base(f.TempName())[0], "the temporary file is a dot name readers skip")

	require.NoError(t, f.Commit())
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	assert.Equal(t, []string{"out.jsonl"}, entries(t, dir))
	assert.NoError(t, f.Abort(), "Abort after Commit is a no-op")
	assert.Error(t, f.Commit(), "a second commit is refused")
	got, _ = os.ReadFile(path)
	assert.Equal(t, "new", string(got))
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.npy")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	f, err := atomicfile.Create(path)
	require.NoError(t, err)
	_, err = f.Write([]byte("half"))
	require.NoError(t, err)
	require.NoError(t, f.Abort())
	require.NoError(t, f.Abort(), "Abort is safe twice")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(got))
	assert.Equal(t, []string{"out.npy"}, entries(t, dir))
	_, err = f.Write([]byte("x"))
	assert.Error(t, err, "no writes after Abort")
}

func TestCommitNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "part-0-of-1-3.parquet")

	f, err := atomicfile.Create(path)
	require.NoError(t, err)
	_, _ = f.Write([]byte("committed"))
	require.NoError(t, f.CommitNew())

	g, err := atomicfile.Create(path)
	require.NoError(t, err)
	_, _ = g.Write([]byte("intruder"))
	err = g.CommitNew()
	require.Error(t, err)
	assert.True(t, errors.Is(err, atomicfile.ErrExists), "%v", err)
	assert.Contains(t, err.Error(), path)

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "committed", string(got), "a committed file is never replaced")
	assert.Equal(t, []string{"part-0-of-1-3.parquet"}, entries(t, dir), "the refused temporary file is removed")
}

func TestKeepLeavesTargetAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "photos.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("good"), 0o644))
	f, err := atomicfile.Create(path)
	require.NoError(t, err)
	_, _ = f.Write([]byte("some rows"))
	require.NoError(t, f.Keep(path+".partial"))
	got, _ := os.ReadFile(path)
	assert.Equal(t, "good", string(got))
	got, _ = os.ReadFile(path + ".partial")
	assert.Equal(t, "some rows", string(got))
	assert.ElementsMatch(t, []string{"photos.jsonl", "photos.jsonl.partial"}, entries(t, dir))
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "_manifest-0-of-1.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	boom := errors.New("boom")
	err := atomicfile.Write(path, func(w *bufio.Writer) error {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 3<<20))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), path)
	got, _ := os.ReadFile(path)
	assert.Equal(t, "old", string(got))
	assert.Equal(t, []string{"_manifest-0-of-1.json"}, entries(t, dir))

	require.NoError(t, atomicfile.WriteFile(path, []byte("new")))
	got, _ = os.ReadFile(path)
	assert.Equal(t, "new", string(got))
}

func TestCreateNamesTheMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "out.jsonl")
	_, err := atomicfile.Create(path)
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	assert.Contains(t, err.Error(), path)
}

// TestKillAtAnyMoment kills a writer with SIGKILL at a random moment, again
// and again, and checks that the target is always one whole version.
func TestKillAtAnyMoment(t *testing.T) {
	if os.Getenv("ATOMICFILE_WRITER") != "" {
		writer(os.Getenv("ATOMICFILE_WRITER"))
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(path, version(0), 0o644))
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillAtAnyMoment$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_WRITER="+path)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(20+round*7) * time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		n, err := strconv.Atoi(string(got[:bytes.IndexByte(got, ' ')]))
		require.NoError(t, err, "round %d: torn file of %d bytes", round, len(got))
		require.Equal(t, version(n), got, "round %d: torn file", round)
	}
}

// version is a file's content number n: big enough that a write takes
// several system calls.
func version(n int) []byte {
	return fmt.Appendf(nil, "%d %s", n, bytes.Repeat([]byte{byte('a' + n%26)}, 4<<20))
}

// writer commits new versions of path until it is killed.
func writer(path string) {
	for n := 1; ; n++ {
		if err := atomicfile.WriteFile(path, version(n)); err != nil {
			os.Exit(2)
		}
	}
}

// TestMove: a file committed in a staging folder moves into place; MoveNew
// never replaces, and leaves the staged file where it was.
func TestMove(t *testing.T) {
	stage, dest := t.TempDir(), t.TempDir()
	staged := filepath.Join(stage, "blob")
	require.NoError(t, atomicfile.WriteFile(staged, []byte("new")))
	target := filepath.Join(dest, "blob")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o644))

	err := atomicfile.MoveNew(staged, target)
	require.ErrorIs(t, err, atomicfile.ErrExists)
	got, _ := os.ReadFile(target)
	assert.Equal(t, "old", string(got))
	assert.FileExists(t, staged)

	require.NoError(t, atomicfile.Move(staged, target))
	got, _ = os.ReadFile(target)
	assert.Equal(t, "new", string(got))
	assert.NoFileExists(t, staged)

	require.NoError(t, atomicfile.WriteFile(staged, []byte("other")))
	require.NoError(t, atomicfile.MoveNew(staged, filepath.Join(dest, "fresh")))
	assert.ElementsMatch(t, []string{"blob", "fresh"}, entries(t, dest))
}

// TestCreateErrorNamesTheFile: a file that cannot be made is named as the
// caller named it, with the cause; the temporary name is never shown.
func TestCreateErrorNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodir", "out.jsonl")
	_, err := atomicfile.Create(path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.True(t, strings.HasPrefix(err.Error(), "writing "+path+": the folder "+filepath.Dir(path)+" does not exist: "), err.Error())
	assert.NotContains(t, err.Error(), ".out.jsonl", "the temporary file's name")
}
