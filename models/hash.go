package models

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"regexp"
	"strings"
)

// ErrChecksum is returned (wrapped, with want and got) when content does not
// match the checksum the Hub published for it.
var ErrChecksum = errors.New("checksum mismatch")

var etagRe = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// normalizeETag strips W/ and quotes, and checks the result can safely name
// a blob: a git sha1 (40 hex) or a sha256 (64 hex), nothing else, so that a
// server can never choose a path.
func normalizeETag(raw string) (string, error) {
	e := strings.TrimPrefix(strings.TrimSpace(raw), "W/")
	e = strings.ToLower(strings.Trim(e, `"`))
	if !etagRe.MatchString(e) {
		return "", fmt.Errorf("unusable ETag %q (want a sha256 or git sha1)", raw)
	}
	return e, nil
}

// contentHash hashes content the way its blob name says: sha256 for LFS
// files (64 hex), git's blob sha1 ("blob <size>\0" + content) for others.
type contentHash struct {
	h    hash.Hash
	want string
}

func newContentHash(etag string, size int64) *contentHash {
	if len(etag) == 64 {
		return &contentHash{h: sha256.New(), want: etag}
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", size)
	return &contentHash{h: h, want: etag}
}

func (c *contentHash) Write(p []byte) (int, error) { return c.h.Write(p) }

func (c *contentHash) check(name string) error {
	got := hex.EncodeToString(c.h.Sum(nil))
	if got != c.want {
		return fmt.Errorf("%s: %w: want %s, got %s", name, ErrChecksum, c.want, got)
	}
	return nil
}

// verifyFile checks a blob's content against its name.
func verifyFile(path, etag string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	ch := newContentHash(etag, st.Size())
	if _, err := io.Copy(ch, f); err != nil {
		return err
	}
	return ch.check(path)
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// IsSHA256 reports a lowercase hex sha256, the name of an LFS blob.
func IsSHA256(s string) bool { return sha256Re.MatchString(s) }
