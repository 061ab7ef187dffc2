package models_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// TestImportSyncsBlobsBeforeRefs runs an import under strace and checks,
// from the system calls it made, what a power loss would keep: every blob
// that lands in the cache was fsynced (under one of the names it had on
// the way) before the first ref naming its snapshot was renamed into place.
// Before, blobs were written and moved unsynced while refs were synced: a
// power loss could leave refs that point at empty blobs.
func TestImportSyncsBlobsBeforeRefs(t *testing.T) {
	if cache := os.Getenv("IMPORT_SYNC_CACHE"); cache != "" {
		f, err := os.Open(os.Getenv("IMPORT_SYNC_BUNDLE"))
		if err == nil {
			_, err = models.Cache{Dir: cache}.Import(f)
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	strace := needStrace(t)
	src := models.Cache{Dir: t.TempDir()}
	// The model's own files, and one two folders down that sorts last, so
	// that no later link's sync covers the folders made for it.
	model := filepath.Join(t.TempDir(), "tiny-st")
	require.NoError(t, os.CopyFS(model, os.DirFS(fixtures.Fixture("models", "tiny-st"))))
	require.NoError(t, os.MkdirAll(filepath.Join(model, "zz", "deep"), 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(model, "zz", "deep", "extra.json"), []byte("{}"), 0o644))
	modelstest.Cache(t, src.Dir, "acme/tiny-st", model)
	tmp := t.TempDir()
	bundle := filepath.Join(tmp, "b.tar")
	var buf bytes.Buffer
	require.NoError(t, src.Export(&buf, models.NoCompression, []models.BundleModel{{ID: "acme/tiny-st"}}))
	require.NoError(t, os.WriteFile(bundle, buf.Bytes(), 0o644))

	cache, trace := filepath.Join(tmp, "cache"), filepath.Join(tmp, "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-y", "-o", trace, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat",
		os.Args[0], "-test.run=^TestImportSyncsBlobsBeforeRefs$")
	cmd.Env = append(os.Environ(), "IMPORT_SYNC_CACHE="+cache, "IMPORT_SYNC_BUNDLE="+bundle)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	calls := readTrace(t, trace)
	blobs, err := filepath.Glob(filepath.Join(cache, "models--acme--tiny-st", "blobs", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, blobs)
	firstRef := -1
	for i, c := range calls {
		// The cache's own refs, not the bundle's, unpacked in the staging folder first.
		if c.op == "rename" && strings.HasPrefix(c.to, filepath.Join(cache, "models--acme--tiny-st", "refs")+string(filepath.Separator)) {
			firstRef = i
			break
		}
	}
	require.GreaterOrEqual(t, firstRef, 0, "no ref was renamed into place")
	for _, blob := range blobs {
		names := map[string]bool{blob: true} // every name the file had, back from where it is
		for i := len(calls) - 1; i >= 0; i-- {
			if c := calls[i]; (c.op == "rename" || c.op == "link") && names[c.to] {
				names[c.from] = true
			}
		}
		synced := false
		for _, c := range calls[:firstRef] {
			synced = synced || c.op == "sync" && names[c.from]
		}
		assert.True(t, synced, "%s was not fsynced before the refs (names %v)", filepath.Base(blob), names)
	}
	// Every folder of the snapshot is an entry of its parent, synced after
	// the folder was there (a link was renamed into it) and before the refs.
	snaps := filepath.Join(cache, "models--acme--tiny-st", "snapshots")
	var dirs []string
	require.NoError(t, filepath.WalkDir(snaps, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != snaps {
			dirs = append(dirs, p)
		}
		return err
	}))
	require.Len(t, dirs, 5, "the snapshot, 1_Pooling, onnx, zz, zz/deep: %v", dirs)
	for _, dir := range dirs {
		first := slices.IndexFunc(calls, func(c syscallSeen) bool {
			return c.op == "rename" && strings.HasPrefix(c.to, dir+string(filepath.Separator))
		})
		require.GreaterOrEqual(t, first, 0, "nothing was renamed into %s", dir)
		require.Less(t, first, firstRef, "%s filled after the refs", dir)
		synced := slices.ContainsFunc(calls[first:firstRef], func(c syscallSeen) bool {
			return c.op == "sync" && c.from == filepath.Dir(dir)
		})
		assert.True(t, synced, "%s's entry in %s was not synced before the refs", filepath.Base(dir), filepath.Dir(dir))
	}
}

// needStrace is strace's path, or skips t where it cannot trace.
func needStrace(t *testing.T) string {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed: a process's system calls cannot be watched or faulted")
	}
	if out, err := exec.Command(strace, "-o", os.DevNull, "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here (%v: %s)", err, bytes.TrimSpace(out))
	}
	return strace
}

type syscallSeen struct{ op, from, to string }

var (
	traceSync   = regexp.MustCompile(`^\d+\s+f(?:data)?sync\(\d+<(.*)>\) = 0`)
	traceRename = regexp.MustCompile(`^\d+\s+(rename|renameat2?|link|linkat)\((?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]*)", (?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]*)".*\) = 0`)
)

// readTrace reads strace's log of the calls that succeeded, in order.
func readTrace(t *testing.T, path string) []syscallSeen {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []syscallSeen
	sc := bufio.NewScanner(f)
	// With -f, a call another thread interrupts is logged in two lines,
	// "PID call(args <unfinished ...>" and "PID <... call resumed>rest":
	// joined back into one, in the place of the second.
	unfinished := map[string]string{}
	for sc.Scan() {
		l := sc.Text()
		pid, rest, _ := strings.Cut(strings.TrimLeft(l, " "), " ")
		if head, ok := strings.CutSuffix(l, " <unfinished ...>"); ok {
			unfinished[pid] = head
			continue
		}
		if i := strings.Index(rest, " resumed>"); strings.HasPrefix(strings.TrimLeft(rest, " "), "<... ") && i >= 0 {
			l = unfinished[pid] + rest[i+len(" resumed>"):]
			delete(unfinished, pid)
		}
		if m := traceSync.FindStringSubmatch(l); m != nil {
			out = append(out, syscallSeen{op: "sync", from: m[1]})
		} else if m := traceRename.FindStringSubmatch(l); m != nil {
			op := "rename"
			if strings.HasPrefix(m[1], "link") {
				op = "link"
			}
			out = append(out, syscallSeen{op: op, from: m[2], to: m[3]})
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out, "strace logged nothing")
	return out
}

// TestReadTraceJoinsUnfinished: a call strace logs in two lines (another
// thread ran between) is read as one.
func TestReadTraceJoinsUnfinished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, []byte(`101   fsync(5</c/blobs/.a1> <unfinished ...>
102   rename("/c/x", "/c/y") = 0
101   <... fsync resumed>) = 0
101   renameat(AT_FDCWD</c>, "/c/blobs/.a1", AT_FDCWD</c>, "/c/blobs/a") = 0
`), 0o644))
	assert.Equal(t, []syscallSeen{
		{op: "rename", from: "/c/x", to: "/c/y"},
		{op: "sync", from: "/c/blobs/.a1"},
		{op: "rename", from: "/c/blobs/.a1", to: "/c/blobs/a"},
	}, readTrace(t, path))
}
