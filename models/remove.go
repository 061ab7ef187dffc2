package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// removingDir is where, inside a repo folder, Remove moves snapshots
// before deleting them: a snapshot is then whole or gone, never half
// removed. It is hidden, and neither List, Locate nor huggingface_hub's
// cache readers (which read refs/, snapshots/ and blobs/) look in it.
const removingDir = ".removing"

// Remove deletes the cached repo id resolves to (all its revisions) and
// its locks, returning the bytes freed.
//
// A removal killed at any moment leaves nothing a load would take for
// cached when it is not: refs go first (so the repo is no longer cached
// by name), then each snapshot is moved out of snapshots/ in one rename
// (so one found by its commit is whole), then the blobs. Running Remove
// again finishes a removal that was cut short.
func (c Cache) Remove(id string) (string, int64, error) {
	loc, err := c.Locate(id, "")
	var repo string
	if err == nil {
		repo = loc.Repo
	} else if errors.Is(err, ErrNotCached) {
		// A repo with no usable ref (one whose removal was cut short)
		// may still have files to remove.
		repo = id
		if e, ok := Lookup(id); ok {
			repo = e.Repo
		}
	} else {
		return "", 0, err
	}
	dir, err := c.RepoDir(repo)
	if err != nil {
		return "", 0, err
	}
	if _, err := os.Stat(dir); err != nil {
		return "", 0, cacheError(id, err, "%s: %w (looked in %s)", id, ErrNotCached, dir)
	}
	size := dirSize(dir)
	if err := removeRepo(dir); err != nil {
		return "", 0, fmt.Errorf("%s: removing %s: %w (what is left is not used; run the removal again to finish it)", id, dir, err)
	}
	_ = os.RemoveAll(filepath.Join(c.dir(), ".locks", filepath.Base(dir)))
	return strings.TrimSpace(repo), size - dirSize(dir), nil
}

// removeRepo deletes a repo folder in the order that keeps the cache
// consistent after a kill at any step: refs, then snapshots, then blobs
// no remaining snapshot links to. Each step is synced before the next, so
// a power loss keeps the order too.
func removeRepo(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "refs")); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return err
	}
	trash := filepath.Join(dir, removingDir)
	// Left by a removal that was cut short: snapshots already detached.
	if err := os.RemoveAll(trash); err != nil {
		return err
	}
	snaps := filepath.Join(dir, "snapshots")
	entries, err := os.ReadDir(snaps)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		if err := os.Mkdir(trash, 0o777); err != nil {
			return err
		}
		for _, e := range entries {
			if err := os.Rename(filepath.Join(snaps, e.Name()), filepath.Join(trash, e.Name())); err != nil {
				return err
			}
		}
		if err := atomicfile.SyncDir(snaps); err != nil {
			return err
		}
		if err := os.RemoveAll(trash); err != nil {
			return err
		}
	}
	// A pull that ran meanwhile may have made a snapshot: its blobs stay.
	keep, remain, err := linkedBlobs(snaps)
	if err != nil {
		return err
	}
	if !remain {
		return os.RemoveAll(dir)
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, b := range blobs {
		if !keep[b.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, "blobs", b.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkedBlobs is the set of blob names the links under snaps point at,
// and whether snaps holds anything at all (copied files link to nothing).
func linkedBlobs(snaps string) (keep map[string]bool, remain bool, err error) {
	keep = map[string]bool{}
	err = filepath.WalkDir(snaps, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if p == snaps {
			return nil
		}
		remain = true
		if d.Type()&os.ModeSymlink != 0 {
			if target, err := os.Readlink(p); err == nil {
				keep[filepath.Base(target)] = true
			}
		}
		return nil
	})
	return keep, remain, err
}
