// Package modelstest lays out model caches for tests.
package modelstest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridembed/hybridembed/models"
)

// Cache copies the model directory src into a hub cache under root,
// laid out exactly as huggingface_hub writes it: content in blobs/ named by
// sha256, snapshots/<commit>/ entries as relative symlinks into blobs/, and
// refs/main holding the commit. It returns the commit.
func Cache(tb testing.TB, root, id, src string) string {
	tb.Helper()
	repo, err := models.Cache{Dir: root}.RepoDir(id)
	if err != nil {
		tb.Fatal(err)
	}
	commit := strings.Repeat("0123456789", 4)
	snap := filepath.Join(repo, "snapshots", commit)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		blob := filepath.Join(repo, "blobs", hex.EncodeToString(sum[:]))
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(blob, data, 0o644); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		link := filepath.Join(snap, rel)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		target, _ := filepath.Rel(filepath.Dir(link), blob)
		return os.Symlink(target, link)
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644); err != nil {
		tb.Fatal(err)
	}
	return commit
}
