package models

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/internal/filehash"
)

// ErrAlreadyCached is returned (wrapped) by [Cache.Add] when the repo's
// main revision holds files that Add did not put there (a model pulled
// from the Hub, say), which it replaces only when told to.
var ErrAlreadyCached = errors.New("already in the cache")

// AddOptions choose how [Cache.Add] treats a repo already in the cache.
type AddOptions struct {
	// Replace lets the folder's files become the main revision of a repo
	// whose main revision came from elsewhere (the Hub). Its snapshot
	// stays in the cache, under its commit.
	Replace bool
}

// Added is what [Cache.Add] put in the cache.
type Added struct {
	Location
	Files int   // files in the snapshot
	Bytes int64 // their size
	New   int64 // bytes of blobs that were not in the cache before
}

// Add puts the files of a model folder (paths relative to dir, forward
// slashes) into the cache as repo id, laid out as huggingface_hub lays out
// what it downloads: each file's content in blobs/ under its sha256 (as
// the Hub names LFS blobs), snapshots/<commit>/ linking each path to its
// blob, and refs/main naming the commit, written last. The commit is a
// hash of the paths and their contents (see [TreeCommit]): adding the same
// files again changes nothing, and an edited folder becomes a new
// revision. It touches only the local disk.
func (c Cache) Add(ctx context.Context, id, dir string, files []string, opts AddOptions) (Added, error) {
	if err := ValidateID(id); err != nil {
		return Added{}, err
	}
	if len(files) == 0 {
		return Added{}, fmt.Errorf("%s: no files to add", dir)
	}
	repoDir, err := c.RepoDir(id)
	if err != nil {
		return Added{}, err
	}
	sums := make(map[string]string, len(files))
	var out Added
	for _, f := range files {
		if !safeRepoPath(f) {
			return Added{}, fmt.Errorf("%s: unsafe path %q", dir, f)
		}
		sum, size, err := filehash.Hex(ctx, filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return Added{}, err
		}
		sums[f], out.Bytes = sum, out.Bytes+size
	}
	commit := TreeCommit(sums)
	if err := c.mayReplaceMain(id, repoDir, commit, opts.Replace); err != nil {
		return Added{}, err
	}
	blobs := filepath.Join(repoDir, "blobs")
	if err := os.MkdirAll(blobs, 0o777); err != nil { // less the umask, as huggingface_hub makes them
		return Added{}, err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return Added{}, err
		}
		n, err := c.putBlob(ctx, repoDir, filepath.Join(dir, filepath.FromSlash(f)), sums[f])
		if err != nil {
			return Added{}, fmt.Errorf("%s: %w", f, err)
		}
		out.New += n
	}
	snap := filepath.Join(repoDir, "snapshots", commit)
	for _, f := range files {
		if err := linkSnapshot(snap, f, sums[f]); err != nil {
			return Added{}, err
		}
	}
	if err := writeRef(repoDir, "main", commit); err != nil {
		return Added{}, err
	}
	out.Location = Location{ID: id, Repo: id, Dir: snap, Commit: commit}
	if e, ok := Lookup(id); ok {
		out.Entry = &e
	}
	out.Files = len(files)
	return out, nil
}

// mayReplaceMain refuses to move refs/main of a repo whose main snapshot
// was not made by Add (its commit is not the hash of its files), unless
// replace is set.
func (c Cache) mayReplaceMain(id, repoDir, commit string, replace bool) error {
	_, current, err := c.Snapshot(id, "main")
	if err != nil || current == commit || replace {
		return nil
	}
	if sums, err := snapshotSums(filepath.Join(repoDir, "snapshots", current)); err == nil && TreeCommit(sums) == current {
		return nil // an earlier Add: this folder is its next revision
	}
	return fmt.Errorf("%s: %w at revision main = %s, which did not come from a model folder (pulled from the Hub?): replace it only on purpose", id, ErrAlreadyCached, current)
}

// snapshotSums reads the sha256 of each file of a snapshot from the names
// of the blobs its entries link to; it fails for entries that are not
// links to sha256-named blobs.
func snapshotSums(snap string) (map[string]string, error) {
	sums := map[string]string{}
	err := filepath.WalkDir(snap, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		name := filepath.Base(target)
		if !IsSHA256(name) {
			return fmt.Errorf("%s: not a sha256 blob", p)
		}
		rel, _ := filepath.Rel(snap, p)
		sums[filepath.ToSlash(rel)] = name
		return nil
	})
	return sums, err
}

// putBlob copies src into blobs/<sum> unless a verified copy is there,
// under the blob's lock, and returns the bytes it wrote.
func (c Cache) putBlob(ctx context.Context, repoDir, src, sum string) (int64, error) {
	blob := filepath.Join(repoDir, "blobs", sum)
	if verifyFile(blob, sum) == nil {
		return 0, nil
	}
	unlock, err := fileLock(ctx, filepath.Join(c.dir(), ".locks", filepath.Base(repoDir), sum+".lock"))
	if err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	defer unlock()
	if verifyFile(blob, sum) == nil { // another process put it there while we waited
		return 0, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := atomicfile.Create(blob)
	if err != nil {
		return 0, err
	}
	defer out.Abort()
	ch := newContentHash(sum, 0)
	n, err := io.Copy(io.MultiWriter(out, ch), in)
	if err != nil {
		return 0, err
	}
	if err := ch.check(src); err != nil {
		return 0, fmt.Errorf("changed while it was added: %w", err)
	}
	// A damaged blob of that name is replaced.
	return n, out.Commit()
}

// TreeCommit is the revision [Cache.Add] files a model folder under: a
// sha1 (40 hex digits, like a git commit) over each path and its sha256,
// in order. The same files always give the same commit.
func TreeCommit(sums map[string]string) string {
	paths := make([]string, 0, len(sums))
	for p := range sums {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha1.New()
	io.WriteString(h, "hybridembed model folder 1\n")
	for _, p := range paths {
		fmt.Fprintf(h, "%s %s\n", sums[p], strings.ReplaceAll(p, "\n", `\n`))
	}
	return hex.EncodeToString(h.Sum(nil))
}
