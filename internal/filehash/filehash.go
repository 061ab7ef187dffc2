// Package filehash is the sha256 of a file's contents, either read whole
// (to tell whether an image changed, to name a model's or a dataset's
// files), or of exactly the bytes an image decoder consumed, so that a
// vector is always filed under the hash of the bytes it was computed from,
// however the file changes meanwhile.
package filehash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
)

// Sum is the sha256 of the file at path and the bytes read, in 1 MiB
// reads, so that step (when not nil) can show progress and a cancel is
// noticed between reads.
func Sum(ctx context.Context, path string, step func(n int64)) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, unwrap(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, total, err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		total += int64(n)
		if step != nil {
			step(int64(n))
		}
		if err == io.EOF {
			return h.Sum(nil), total, nil
		}
		if err != nil {
			return nil, total, unwrap(err)
		}
	}
}

// Hex is the sha256 of the file at path in lowercase hex, the form
// manifests and the Hub's LFS names use, and its size. It reads as [Sum]
// does; its errors name path.
func Hex(ctx context.Context, path string) (string, int64, error) {
	sum, n, err := Sum(ctx, path, nil)
	if err != nil {
		return "", n, fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(sum), n, nil
}

// Result is what a [Reader] read: the sha256 of every byte, and the size
// and modification time of the file as it was opened. A file rewritten
// while it was read gets a later modification time, so a change check
// against Size and Mtime reads it again.
type Result struct {
	Sum   []byte
	Size  int64
	Mtime int64 // nanoseconds since 1970
}

// ErrClosed is returned by a Read after Close.
var ErrClosed = errors.New("filehash: reader closed")

// Reader reads a file, opened at the first Read, hashing what it hands
// out. Give it to a decoder, then call Finish. It is safe for concurrent
// use, so that Close may run while a decoder still holds it.
type Reader struct {
	path string

	mu       sync.Mutex
	started  bool
	f        *os.File
	h        hash.Hash
	res      Result
	eof      bool
	openErr  error
	finished bool
}

// NewReader is a Reader of the file at path; nothing is opened yet.
func NewReader(path string) *Reader { return &Reader{path: path} }

func (r *Reader) open() error {
	r.started = true
	f, err := os.Open(r.path)
	if err != nil {
		r.openErr = unwrap(err)
		return r.openErr
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		r.openErr = unwrap(err)
		return r.openErr
	}
	r.f, r.h = f, sha256.New()
	r.res.Size, r.res.Mtime = st.Size(), st.ModTime().UnixNano()
	return nil
}

// Read reads from the file, hashing what it returns.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return 0, ErrClosed
	}
	if !r.started {
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	if r.eof {
		return 0, io.EOF
	}
	if r.f == nil {
		return 0, r.openErr
	}
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF {
		// Closed at once: a decoded image may wait a while for its turn.
		r.eof = true
		r.f.Close()
		r.f = nil
	}
	return n, err
}

// Finish hashes what the decoder left unread (it may stop early, or never
// start), closes the file and returns the hash of all of it. Its error is
// the open's (the file was not read: there is no hash) or a read's.
func (r *Reader) Finish() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return Result{}, ErrClosed
	}
	if !r.started {
		r.open()
	}
	defer r.closeLocked()
	if r.eof {
		r.res.Sum = r.h.Sum(nil)
		return r.res, nil
	}
	if r.f == nil {
		return Result{}, r.openErr
	}
	if _, err := io.Copy(r.h, r.f); err != nil {
		return Result{}, unwrap(err)
	}
	r.res.Sum = r.h.Sum(nil)
	return r.res, nil
}

// Close closes the file; later Reads fail. It is safe after Finish.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeLocked()
	return nil
}

func (r *Reader) closeLocked() {
	r.finished = true
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// unwrap drops a *fs.PathError's path: callers name the file already.
func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
