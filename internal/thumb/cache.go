package thumb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// version names the folder a pipeline's previews live in: a change to how
// they are made (size rounding, filter, quality) bumps it, and the old
// folder is simply no longer read.
const version = "v1"

// Cache keeps previews on disk, one file per content hash and size, so a
// photo renamed, moved or duplicated keeps its preview and a rewritten one
// gets a new one. Entries are written whole (internal/atomicfile), after
// the preview is handed out, and never evicted: delete the folder to
// reclaim the space. A Cache is safe for concurrent use.
type Cache struct {
	dir    string
	limits imageprep.Limits
	slots  chan struct{} // decodes in flight: each may hold a full-size photo
	group  singleflight.Group

	mu      sync.Mutex
	done    *sync.Cond        // signalled as writes finish
	writing int               // writes in progress
	written map[string][]byte // previews made and not yet on disk, by path

	// WriteError, when set, hears why a preview just made could not be
	// kept (a full or read-only disk); the preview was served all the same.
	WriteError func(error)

	hits, misses atomic.Int64
}

// NewCache keeps previews under dir, making at most workers at once (a
// decode of a camera photo holds tens of megabytes).
func NewCache(dir string, workers int, limits imageprep.Limits) *Cache {
	c := &Cache{dir: dir, limits: limits, slots: make(chan struct{}, max(1, workers)), written: map[string][]byte{}}
	c.done = sync.NewCond(&c.mu)
	return c
}

// Dir is the cache's folder.
func (c *Cache) Dir() string { return c.dir }

// Stats are the previews served from disk and those made since the cache
// was opened.
func (c *Cache) Stats() (hits, misses int64) { return c.hits.Load(), c.misses.Load() }

// Wait waits for the previews being written to disk (a preview made while
// it waits is waited for too).
func (c *Cache) Wait() {
	c.mu.Lock()
	for c.writing > 0 {
		c.done.Wait()
	}
	c.mu.Unlock()
}

// Thumb is a preview and the content it shows.
type Thumb struct {
	Data []byte
	// Hash is the sha256 (hex) of the contents the preview was made from:
	// the hash asked for when it was cached, else that of the bytes read.
	Hash string
	// Cached is true when the preview came from disk.
	Cached bool
}

// Get returns the preview of size pixels for the contents whose sha256 is
// hash. On a miss it calls read for the file's bytes, and files the
// preview under the hash of the bytes read: a file rewritten since it was
// indexed never puts its new picture under the old contents' hash.
//
// Concurrent misses of one preview make it once. A caller whose ctx ends
// stops waiting, but the preview is still made and kept for the next (at
// most workers at a time, and one per photo and size).
func (c *Cache) Get(ctx context.Context, hash string, size int, read func() ([]byte, error)) (Thumb, error) {
	p, err := c.path(hash, size)
	if err != nil {
		return Thumb{}, err
	}
	c.mu.Lock()
	data, ok := c.written[p]
	c.mu.Unlock()
	if !ok {
		data, err = os.ReadFile(p)
		ok = err == nil && wholeJPEG(data)
	}
	if ok {
		c.hits.Add(1)
		return Thumb{Data: data, Hash: hash, Cached: true}, nil
	}
	ch := c.group.DoChan(hash+"/"+strconv.Itoa(size), func() (any, error) {
		c.slots <- struct{}{}
		defer func() { <-c.slots }()
		data, err := read()
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		t := Thumb{Hash: hex.EncodeToString(sum[:])}
		if t.Data, err = Make(data, size, c.limits); err != nil {
			return nil, err
		}
		c.misses.Add(1)
		dest, _ := c.path(t.Hash, size)
		c.mu.Lock()
		c.written[dest] = t.Data
		c.writing++
		c.mu.Unlock()
		go func() { // the file's fsyncs are not the browser's wait
			defer func() {
				c.mu.Lock()
				delete(c.written, dest)
				c.writing--
				c.done.Broadcast()
				c.mu.Unlock()
			}()
			err := os.MkdirAll(filepath.Dir(dest), 0o755)
			if err == nil {
				err = atomicfile.WriteFile(dest, t.Data)
			}
			if err != nil && c.WriteError != nil {
				c.WriteError(err)
			}
		}()
		return t, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Thumb{}, r.Err
		}
		return r.Val.(Thumb), nil
	case <-ctx.Done():
		return Thumb{}, ctx.Err()
	}
}

// path is where the preview of hash at size is kept. hash must be a sha256
// in hex: it becomes part of a path.
func (c *Cache) path(hash string, size int) (string, error) {
	if len(hash) != 2*sha256.Size {
		return "", fmt.Errorf("thumbnail: %q is not a sha256", hash)
	}
	if _, err := hex.DecodeString(hash); err != nil || hash != strings.ToLower(hash) {
		return "", fmt.Errorf("thumbnail: %q is not a sha256 in lower-case hex", hash)
	}
	if size <= 0 {
		return "", errors.New("thumbnail: size must be positive")
	}
	return filepath.Join(c.dir, version+"-"+strconv.Itoa(size), hash[:2], hash+".jpg"), nil
}

// wholeJPEG is a cheap check that a cached file is a JPEG from start to
// end; a file damaged on disk is made again.
func wholeJPEG(b []byte) bool {
	return len(b) > 4 && b[0] == 0xff && b[1] == 0xd8 && b[len(b)-2] == 0xff && b[len(b)-1] == 0xd9
}
