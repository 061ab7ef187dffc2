//go:build unix

package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

// umask sets the process's umask for the test (the tests of this package
// do not run in parallel).
func umask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// checkModes asserts the permission bits of every file and folder under
// root (root itself and symlinks aside).
func checkModes(t *testing.T, root string, file, dir fs.FileMode) {
	t.Helper()
	seen := map[string]int{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		want, kind := file, "file"
		if d.IsDir() {
			want, kind = dir, "folder"
		}
		for _, area := range []string{".locks", "blobs", "refs", "snapshots"} {
			if strings.Contains(filepath.ToSlash(rel), area+"/") {
				kind += " in " + area
				break
			}
		}
		seen[kind]++
		assert.Equal(t, want, info.Mode().Perm(), "%s %s", kind, rel)
		return nil
	}))
	t.Logf("modes checked: %v", seen)
}

// TestCacheModes: what a pull or an import writes into the cache (blobs,
// .incomplete files, refs, lock files, folders) has huggingface_hub's
// modes, 0666 and 0777 less the umask, so that under umask 002 a group
// shares one cache. (Blobs and lock files were 0644 and 0600, folders
// 0755, whatever the umask.)
func TestCacheModes(t *testing.T) {
	for _, mask := range []int{0o022, 0o002} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			umask(t, mask)
			file, dir := fs.FileMode(0o666&^mask), fs.FileMode(0o777&^mask)
			s, c, d := newHub(t)
			s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
			s.Host(t, "acme/cut", fixtures.Fixture("models", "tiny-st"))
			_, err := d.Pull(context.Background(), xenova, models.PullOptions{})
			require.NoError(t, err)
			// A download cut short leaves its .incomplete (the resume point).
			s.InjectDownload("acme/cut", hftest.Fault{Kind: hftest.ResetMidBody})
			d.Attempts, d.Parallel = 1, 1
			_, err = d.Pull(context.Background(), "acme/cut", models.PullOptions{})
			require.Error(t, err)
			partials, _ := filepath.Glob(filepath.Join(c.Dir, "models--acme--cut", "blobs", "*.incomplete"))
			require.NotEmpty(t, partials)
			checkModes(t, c.Dir, file, dir)

			var buf bytes.Buffer
			require.NoError(t, c.Export(&buf, models.NoCompression, []models.BundleModel{{ID: xenova}}))
			dst := models.Cache{Dir: t.TempDir()}
			_, err = dst.Import(&buf)
			require.NoError(t, err)
			checkModes(t, dst.Dir, file, dir)
		})
	}
}

const nobody = 65534

// sharedDir is a folder other users can reach, removed when the test ends.
func sharedDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "hybridembed-shared-*")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// asNobody runs TestAsOtherUser in a copy of this test binary as user and
// group 65534, with env added, and returns what it printed. Only root can
// start a process as another user: elsewhere the test is skipped.
func asNobody(t *testing.T, env ...string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: a second user needs root to start it")
	}
	bin := filepath.Join(sharedDir(t), "models.test")
	self, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, self, 0o755))
	cmd := exec.Command(bin, "-test.run=^TestAsOtherUser$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = filepath.Dir(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err == nil && !strings.Contains(string(out), "--- PASS: TestAsOtherUser") {
		err = fmt.Errorf("the second user's test did not pass")
	}
	return string(out), err
}

// TestSharedCacheBetweenUsers: HF_HOME on a cluster's NFS, shared by a
// group (a setgid folder, umask 002), as Slurm jobs of several users use
// it. What one user pulled, another reads, adds a variant to (new blobs,
// locks and links in the first user's folders, the ref rewritten) and
// repairs (a truncated blob, a download it cannot resume, that the first
// user left).
func TestSharedCacheBetweenUsers(t *testing.T) {
	umask(t, 0o002)
	hub := filepath.Join(sharedDir(t), "hub")
	require.NoError(t, os.Mkdir(hub, 0o775))
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(hub, 0, nobody))
		require.NoError(t, os.Chmod(hub, 0o775|os.ModeSetgid))
	}
	s := hftest.New(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	c := models.Cache{Dir: hub}
	loc, err := (&models.Downloader{Cache: c, HubURL: s.URL}).Pull(context.Background(), xenova, models.PullOptions{})
	require.NoError(t, err)
	blob, err := filepath.EvalSymlinks(filepath.Join(loc.Dir, "onnx", "text_model.onnx"))
	require.NoError(t, err)
	require.NoError(t, os.Truncate(blob, 100))
	// A download of the variant the first user began, left 0600 (a umask
	// of 077): the second cannot resume it, and starts it again.
	quantized := mustReadFile(t, fixtures.Fixture("models", "tiny-clip", "onnx", "text_model_quantized.onnx"))
	sum := sha256.Sum256(quantized)
	partial := filepath.Join(filepath.Dir(blob), hex.EncodeToString(sum[:])+".incomplete")
	require.NoError(t, os.WriteFile(partial, quantized[:len(quantized)/3], 0o600))
	require.NoError(t, os.Chmod(partial, 0o600))

	out, err := asNobody(t, "MODELS_TEST_AS=pull", "MODELS_TEST_CACHE="+hub, "MODELS_TEST_HUB="+s.URL)
	require.NoError(t, err, out)
	verifyOK(t, c, xenova)
	assert.FileExists(t, filepath.Join(loc.Dir, "onnx", "vision_model_quantized.onnx"))
}

// TestPermissionErrorIsNotNotCached: a ref the user may not read (written
// 0600 by another user, as refs once were) is a permission error that
// says so, not "not in the local cache" (which sent users to pull again).
func TestPermissionErrorIsNotNotCached(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		dir = sharedDir(t) // root reads anything: the reader is another user
	}
	s := hftest.New(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	c := models.Cache{Dir: filepath.Join(dir, "hub")}
	_, err := (&models.Downloader{Cache: c, HubURL: s.URL}).Pull(context.Background(), xenova, models.PullOptions{})
	require.NoError(t, err)
	ref := filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32", "refs", "main")
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chmod(ref, 0o600))
		out, err := asNobody(t, "MODELS_TEST_AS=locate", "MODELS_TEST_CACHE="+c.Dir)
		require.NoError(t, err, out)
		return
	}
	require.NoError(t, os.Chmod(ref, 0))
	checkPermissionError(t, c)
}

func checkPermissionError(t *testing.T, c models.Cache) {
	for _, id := range []string{xenova, "openai/clip-vit-base-patch32"} {
		_, err := c.Locate(id, "")
		require.Error(t, err, id)
		assert.ErrorIs(t, err, fs.ErrPermission, id)
		assert.NotErrorIs(t, err, models.ErrNotCached, id)
		assert.Contains(t, err.Error(), "permission denied", id)
		assert.NotContains(t, err.Error(), "not in the local cache", id)
	}
}

// TestAsOtherUser is the second user's side of the tests above: it runs
// only in the copy of the test binary that asNobody starts.
func TestAsOtherUser(t *testing.T) {
	step := os.Getenv("MODELS_TEST_AS")
	if step == "" {
		t.Skip("run as another user by TestSharedCacheBetweenUsers and TestPermissionErrorIsNotNotCached")
	}
	c := models.Cache{Dir: os.Getenv("MODELS_TEST_CACHE")}
	switch step {
	case "pull":
		d := &models.Downloader{Cache: c, HubURL: os.Getenv("MODELS_TEST_HUB"), Attempts: 2}
		_, err := d.Pull(context.Background(), xenova, models.PullOptions{Variant: "quantized"})
		require.NoError(t, err, "a variant into the other user's folders")
		_, err = d.Pull(context.Background(), xenova, models.PullOptions{})
		require.NoError(t, err, "the truncated blob replaced")
		loc, err := c.Locate("openai/clip-vit-base-patch32", "")
		require.NoError(t, err)
		_, err = os.ReadFile(filepath.Join(loc.Dir, "onnx", "vision_model.onnx"))
		require.NoError(t, err, "the other user's blob read")
	case "locate":
		checkPermissionError(t, c)
	default:
		t.Fatalf("unknown step %q", step)
	}
}
