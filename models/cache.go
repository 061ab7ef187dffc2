package models

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hybridembed/hybridembed/models/layout"
)

// ErrNotCached is returned (wrapped) when a model, revision or file is not in
// the local cache.
var ErrNotCached = errors.New("not in the local cache")

// ErrInvalidID is returned for strings that are not Hugging Face repo ids.
var ErrInvalidID = errors.New("invalid model id")

// Cache is a Hugging Face hub cache directory in huggingface_hub's layout:
//
//	models--{org}--{name}/
//	  blobs/{etag}
//	  refs/{revision}            (a commit hash)
//	  snapshots/{commit}/{path}  (relative symlinks into blobs/, or files)
//
// The zero value uses [layout.HubCacheDir]. Caches written by Python are read as
// they are, and snapshot entries may be plain files (copied caches).
type Cache struct {
	Dir string
}

// Root is the cache folder.
func (c Cache) Root() string { return c.dir() }

func (c Cache) dir() string {
	if c.Dir != "" {
		return c.Dir
	}
	return layout.HubCacheDir()
}

var (
	idPart    = `[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?`
	idPattern = regexp.MustCompile(`^(?:` + idPart + `/)?` + idPart + `$`)
	commitRe  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidateID checks that id is a Hugging Face repo id ("name" or
// "org/name"), so that it can never name a path outside the cache.
func ValidateID(id string) error {
	if len(id) > 96 || !idPattern.MatchString(id) || strings.Contains(id, "..") || strings.Contains(id, "--") {
		return fmt.Errorf("%w: %q (want org/name)", ErrInvalidID, id)
	}
	return nil
}

// IsCommit reports whether rev is a full 40-hex commit hash.
func IsCommit(rev string) bool { return commitRe.MatchString(rev) }

// RepoDir is where the cache keeps a model repo: models--org--name.
func (c Cache) RepoDir(id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	return filepath.Join(c.dir(), "models--"+strings.ReplaceAll(id, "/", "--")), nil
}

// Snapshot finds the snapshot directory of id at revision ("" means main):
// a commit hash names its snapshot directly; a branch or tag is read from
// refs/. It touches only the local disk.
func (c Cache) Snapshot(id, revision string) (dir, commit string, err error) {
	repo, err := c.RepoDir(id)
	if err != nil {
		return "", "", err
	}
	if revision == "" {
		revision = "main"
	}
	if _, err := os.Stat(repo); err != nil {
		return "", "", cacheError(id, err, "%s: %w (looked in %s)", id, ErrNotCached, repo)
	}
	commit = revision
	if !IsCommit(revision) {
		if strings.Contains(revision, "..") || strings.HasPrefix(revision, "/") {
			return "", "", fmt.Errorf("%s: invalid revision %q", id, revision)
		}
		ref, err := os.ReadFile(filepath.Join(repo, "refs", filepath.FromSlash(revision)))
		if err != nil {
			return "", "", cacheError(id, err, "%s: revision %s %w (no refs/%s in %s)", id, revision, ErrNotCached, revision, repo)
		}
		commit = strings.TrimSpace(string(ref))
		if !IsCommit(commit) {
			return "", "", fmt.Errorf("%s: refs/%s holds %q, not a commit hash", id, revision, commit)
		}
	}
	dir = filepath.Join(repo, "snapshots", commit)
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		err = fs.ErrNotExist // not a snapshot
	}
	if err != nil {
		return "", "", cacheError(id, err, "%s: snapshot %s %w (no %s)", id, commit, ErrNotCached, dir)
	}
	return dir, commit, nil
}

// cacheError is why reading the cache for id failed: the not-cached
// message (format and args, which wrap ErrNotCached) when what was looked
// for is not there, else err itself, which is not ErrNotCached: a
// permission error says so, since a cache that users share (HF_HOME on a
// cluster's NFS) works only if each of them can read what the others
// wrote.
func cacheError(id string, err error, format string, args ...any) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf(format, args...)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied reading the model cache: %w (a cache shared between users needs files readable by all of them: 0644 or 0664, folders 0755 or 0775)", id, err)
	}
	return fmt.Errorf("%s: reading the model cache: %w", id, err)
}

// Location is where a model's files are on disk.
type Location struct {
	ID     string // as asked for
	Repo   string // the repo whose snapshot holds the files
	Dir    string // the snapshot directory
	Commit string
	Entry  *Entry // the registry entry, for known models
}

// Locate finds id in the cache. For a known model whose ONNX files live in
// another repo (openai/clip-vit-base-patch32 in Xenova/clip-vit-base-patch32),
// that repo is tried first, then id itself. It touches only the local disk.
func (c Cache) Locate(id, revision string) (Location, error) {
	if err := ValidateID(id); err != nil {
		return Location{}, err
	}
	repos := []string{id}
	var entry *Entry
	if e, ok := Lookup(id); ok {
		entry = &e
		if e.Repo != id {
			repos = []string{e.Repo, id}
		}
	}
	var firstErr error
	for _, repo := range repos {
		dir, commit, err := c.Snapshot(repo, revision)
		if err == nil {
			return Location{ID: id, Repo: repo, Dir: dir, Commit: commit, Entry: entry}, nil
		}
		if !errors.Is(err, ErrNotCached) {
			return Location{}, err // unreadable, not missing: say why
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if len(repos) == 1 {
		return Location{}, firstErr
	}
	var looked []string
	for _, r := range repos {
		d, _ := c.RepoDir(r)
		looked = append(looked, d)
	}
	return Location{}, fmt.Errorf("%s: %w (looked in %s)", id, ErrNotCached, strings.Join(looked, ", "))
}

// CachedRepo is one model repo found in the cache.
type CachedRepo struct {
	ID        string
	Dir       string
	Refs      map[string]string // revision name -> commit
	Snapshots []string          // commits with a snapshot directory
	Size      int64             // bytes in blobs/ (plain files in snapshots when there are no blobs)
}

// List reports the model repos in the cache, sorted by id. Entries that
// are not model repos (datasets--*, .locks), and repos without a snapshot,
// are skipped.
func (c Cache) List() ([]CachedRepo, error) {
	entries, err := os.ReadDir(c.dir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []CachedRepo
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), "models--")
		if !ok || !e.IsDir() {
			continue
		}
		r := CachedRepo{ID: strings.Replace(name, "--", "/", 1), Dir: filepath.Join(c.dir(), e.Name()), Refs: map[string]string{}}
		refsDir := filepath.Join(r.Dir, "refs")
		_ = filepath.WalkDir(refsDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil {
				rel, _ := filepath.Rel(refsDir, p)
				r.Refs[filepath.ToSlash(rel)] = strings.TrimSpace(string(b))
			}
			return nil
		})
		snaps, _ := os.ReadDir(filepath.Join(r.Dir, "snapshots"))
		for _, s := range snaps {
			if s.IsDir() {
				r.Snapshots = append(r.Snapshots, s.Name())
			}
		}
		if len(r.Snapshots) == 0 {
			// Nothing a load could use (a removal cut short, a pull
			// that never got to its snapshot): not cached. `models rm`
			// still finds it by id and finishes the removal.
			continue
		}
		r.Size = dirSize(filepath.Join(r.Dir, "blobs"))
		if r.Size == 0 {
			r.Size = dirSize(filepath.Join(r.Dir, "snapshots"))
		}
		out = append(out, r)
	}
	return out, nil
}

// dirSize sums regular files under dir, not following links.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
