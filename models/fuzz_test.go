package models

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzImport imports bundles (tar, gzip and zstd; seeds are Export's own
// output) into an empty cache inside a sandbox folder. It must not panic;
// nothing may appear in the sandbox beside the cache, nor any staging
// folder stay behind; a refused bundle leaves the cache empty; an
// imported one holds only files, folders and links that resolve inside
// the cache, and every model it reports verifies. Unpacking the same
// bundle into a stage must write no more bytes than its manifest lists.
func FuzzImport(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sandbox := fuzzDir(t)
		c := Cache{Dir: filepath.Join(sandbox, "cache")}
		imported, err := c.Import(bytes.NewReader(data))
		beside, _ := os.ReadDir(sandbox)
		for _, e := range beside {
			if e.Name() != "cache" {
				t.Fatalf("the import wrote %s beside the cache", e.Name())
			}
		}
		inCache, _ := os.ReadDir(c.Dir)
		for _, e := range inCache {
			if strings.HasPrefix(e.Name(), ".import-") {
				t.Fatalf("staging folder %s left behind", e.Name())
			}
		}
		if err != nil {
			if len(inCache) != 0 {
				t.Fatalf("refused (%v), yet the cache holds %d entries", err, len(inCache))
			}
		} else {
			checkImported(t, c, imported)
		}
		checkStaged(t, data)
	})
}

// fuzzDir is a fresh folder for one input, in memory (/dev/shm) where the
// machine has it: Import syncs every file and folder it commits, which on
// a disk costs far more than the rest of an input's work (60 ms an
// import here), and the fuzzer spends its time minimizing.
func fuzzDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "hybridembed-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func checkImported(t *testing.T, c Cache, imported []Imported) {
	t.Helper()
	root, err := filepath.EvalSymlinks(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				t.Fatalf("%s: a dangling link: %v", p, err)
			}
			if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Fatalf("%s links out of the cache, to %s", p, real)
			}
		case !d.IsDir() && !d.Type().IsRegular():
			t.Fatalf("%s is a %v", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range imported {
		_, files, err := c.Verify(im.Repo, im.Commit)
		if err != nil {
			t.Fatalf("%s imported, but: %v", im.Repo, err)
		}
		for _, f := range files {
			if f.Status != "ok" {
				t.Fatalf("%s imported, but %s is %s: %v", im.Repo, f.Path, f.Status, f.Err)
			}
		}
	}
}

// checkStaged unpacks data as Import does, into a stage of its own, and
// compares what was written with what the manifest declared.
func checkStaged(t *testing.T, data []byte) {
	t.Helper()
	stage := fuzzDir(t)
	dr, closeDR, err := decompressor(bytes.NewReader(data))
	if err != nil {
		return
	}
	defer closeDR()
	_, m, _ := readBundle(tar.NewReader(dr), stage)
	want, err := m.regularFiles()
	if err != nil {
		want = nil
	}
	var declared, written int64
	for _, n := range want {
		declared += n
	}
	_ = filepath.WalkDir(stage, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				written += info.Size()
			}
		}
		return nil
	})
	if written > declared {
		t.Fatalf("unpacking wrote %d bytes; the manifest declares %d", written, declared)
	}
}
