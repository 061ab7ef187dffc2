package models_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/modelstest"
	"github.com/hybridembed/hybridembed/remote"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const xenova = "Xenova/clip-vit-base-patch32"

func newHub(t *testing.T) (*hftest.Server, models.Cache, *models.Downloader) {
	t.Helper()
	s := hftest.New(t)
	c := models.Cache{Dir: t.TempDir()}
	return s, c, &models.Downloader{Cache: c, HubURL: s.URL, Attempts: 3}
}

func sameBytes(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	require.NoError(t, err)
	y, err := os.ReadFile(b)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(x, y), "%s differs from %s", a, b)
}

// TestPullLayout: a known model resolves to its ONNX repo, and lands in the
// cache exactly as huggingface_hub lays it out.
func TestPullLayout(t *testing.T) {
	s, c, d := newHub(t)
	src := fixtures.Fixture("models", "tiny-clip")
	commit := s.Host(t, xenova, src)

	loc, err := d.Pull(context.Background(), "openai/clip-vit-base-patch32", models.PullOptions{})
	require.NoError(t, err)
	assert.Equal(t, xenova, loc.Repo)
	assert.Equal(t, commit, loc.Commit)

	repo := filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32")
	ref, err := os.ReadFile(filepath.Join(repo, "refs", "main"))
	require.NoError(t, err)
	assert.Equal(t, commit, string(ref))
	for _, f := range []string{"onnx/text_model.onnx", "onnx/vision_model.onnx", "config.json", "tokenizer.json", "preprocessor_config.json"} {
		link := filepath.Join(loc.Dir, filepath.FromSlash(f))
		target, err := os.Readlink(link)
		require.NoError(t, err, f)
		assert.False(t, filepath.IsAbs(target), "relative links")
		assert.True(t, strings.HasPrefix(target, strings.Repeat("../", strings.Count(f, "/")+2)+"blobs/"))
		sameBytes(t, link, filepath.Join(src, filepath.FromSlash(f)))
		data, _ := os.ReadFile(link)
		blob := filepath.Base(target)
		if strings.HasSuffix(f, ".onnx") { // LFS: named by sha256
			sum := sha256.Sum256(data)
			assert.Equal(t, hex.EncodeToString(sum[:]), blob)
		} else {
			assert.Len(t, blob, 40, "regular git files: the git blob sha1")
		}
	}
	_, err = os.Stat(filepath.Join(loc.Dir, "onnx", "vision_model_quantized.onnx"))
	assert.True(t, os.IsNotExist(err), "only the fp32 variant")

	// A second pull downloads nothing.
	before := s.Count("/cdn/")
	_, err = d.Pull(context.Background(), "openai/clip-vit-base-patch32", models.PullOptions{})
	require.NoError(t, err)
	assert.Equal(t, before, s.Count("/cdn/"))

	// The quantized variant adds its files to the same snapshot.
	_, err = d.Pull(context.Background(), "openai/clip-vit-base-patch32", models.PullOptions{Variant: "quantized"})
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(loc.Dir, "onnx", "vision_model_quantized.onnx"))
	assert.NoError(t, err)

	// The token never goes to the CDN (the emulator refuses it there).
	d.Token = "hf_pull_token"
	require.NoError(t, os.RemoveAll(repo))
	_, err = d.Pull(context.Background(), "openai/clip-vit-base-patch32", models.PullOptions{})
	require.NoError(t, err)
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/cdn/") {
			assert.Empty(t, r.Header.Get("Authorization"))
		}
	}
}

// TestPullResumesAfterCut: a download cut mid-body leaves a partial file;
// the next pull continues it with Range and verifies the whole.
func TestPullResumesAfterCut(t *testing.T) {
	s, c, d := newHub(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	d.Parallel, d.Attempts = 1, 1
	s.InjectDownload(xenova, hftest.Fault{Kind: hftest.ResetMidBody})

	_, err := d.Pull(context.Background(), xenova, models.PullOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cut")
	partials, _ := filepath.Glob(filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32", "blobs", "*.incomplete"))
	require.Len(t, partials, 1)
	st, err := os.Stat(partials[0])
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(0))
	_, err = os.Stat(filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32", "refs", "main"))
	assert.True(t, os.IsNotExist(err), "no ref before every file is verified")

	d.Attempts = 3
	loc, err := d.Pull(context.Background(), xenova, models.PullOptions{})
	require.NoError(t, err)
	var ranged []string
	for _, r := range s.Requests() {
		if rg := r.Header.Get("Range"); rg != "" {
			ranged = append(ranged, rg)
		}
	}
	require.Len(t, ranged, 1)
	assert.Equal(t, "bytes="+strconv.FormatInt(st.Size(), 10)+"-", ranged[0])
	_, files, err := c.Verify(xenova, "")
	require.NoError(t, err)
	for _, f := range files {
		assert.Equal(t, "ok", f.Status, f.Path)
	}
	assert.NotEmpty(t, loc.Dir)

	// Within one pull, a cut is retried (resuming) without help.
	require.NoError(t, os.RemoveAll(filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32")))
	s.InjectDownload(xenova, hftest.Fault{Kind: hftest.ResetMidBody})
	_, err = d.Pull(context.Background(), xenova, models.PullOptions{})
	require.NoError(t, err)
}

// TestPullRefusesCorruptContent: a mirror serving other bytes than the
// Hub's checksum is caught; nothing is left that looks complete.
func TestPullRefusesCorruptContent(t *testing.T) {
	s, c, d := newHub(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	s.Corrupt(xenova, "onnx/vision_model.onnx")
	_, err := d.Pull(context.Background(), xenova, models.PullOptions{})
	require.ErrorIs(t, err, models.ErrChecksum)
	assert.Contains(t, err.Error(), "onnx/vision_model.onnx")
	repo := filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32")
	// The corrupt file leaves nothing behind to resume from. (A sibling
	// file cut short by the failed pull may keep its .incomplete: that is
	// the resume point, and its bytes are verified when it completes.)
	sum := sha256.Sum256(mustReadFile(t, fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx")))
	corrupt := filepath.Join(repo, "blobs", hex.EncodeToString(sum[:]))
	assert.NoFileExists(t, corrupt)
	assert.NoFileExists(t, corrupt+".incomplete")
	_, err = os.Stat(filepath.Join(repo, "refs", "main"))
	assert.True(t, os.IsNotExist(err))
	_, err = c.Locate(xenova, "")
	assert.ErrorIs(t, err, models.ErrNotCached)
}

func TestPullErrors(t *testing.T) {
	s, c, d := newHub(t)
	s.Host(t, "acme/gated", fixtures.Fixture("models", "tiny-st"))
	s.Gate("acme/gated", "hf_right")
	s.Host(t, "acme/pytorch-only", fixtures.Fixture("images"))

	_, err := d.Pull(context.Background(), "acme/missing", models.PullOptions{})
	assert.ErrorIs(t, err, models.ErrNotFound)

	_, err = d.Pull(context.Background(), "acme/gated", models.PullOptions{})
	assert.ErrorIs(t, err, models.ErrGated)
	assert.Contains(t, err.Error(), "HF_TOKEN")
	d.Token = "hf_right"
	loc, err := d.Pull(context.Background(), "acme/gated", models.PullOptions{})
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(loc.Dir, "1_Pooling", "config.json"))
	assert.NoError(t, err, "sentence-transformers config comes along")

	_, err = d.Pull(context.Background(), "acme/pytorch-only", models.PullOptions{})
	assert.ErrorIs(t, err, models.ErrNoONNX)
	assert.Contains(t, err.Error(), "red_circle.png")

	_, err = d.Pull(context.Background(), "acme/gated", models.PullOptions{Variant: "q4"})
	assert.ErrorIs(t, err, models.ErrNoONNX)

	_, err = d.Pull(context.Background(), "acme/gated", models.PullOptions{Revision: "v9"})
	assert.ErrorIs(t, err, models.ErrNotFound)

	before := s.Count("")
	off := &models.Downloader{Cache: c, HubURL: s.URL, Offline: true}
	_, err = off.Pull(context.Background(), "acme/gated", models.PullOptions{})
	assert.ErrorIs(t, err, models.ErrOffline)
	assert.Equal(t, before, s.Count(""), "offline never touches the network")

	s.InjectDownload("acme/gated", hftest.Fault{Kind: hftest.Slow, Delay: time.Second})
	require.NoError(t, os.RemoveAll(filepath.Join(c.Dir, "models--acme--gated")))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = d.Pull(ctx, "acme/gated", models.PullOptions{})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestConcurrentPulls: two pulls of one model into one cache.
func TestConcurrentPulls(t *testing.T) {
	s, c, _ := newHub(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &models.Downloader{Cache: c, HubURL: s.URL}
			_, errs[i] = d.Pull(context.Background(), xenova, models.PullOptions{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	_, files, err := c.Verify(xenova, "")
	require.NoError(t, err)
	for _, f := range files {
		assert.Equal(t, "ok", f.Status, f.Path)
	}
}

func TestVerifyFindsFlippedByte(t *testing.T) {
	s, c, d := newHub(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	loc, err := d.Pull(context.Background(), xenova, models.PullOptions{})
	require.NoError(t, err)
	blob, err := filepath.EvalSymlinks(filepath.Join(loc.Dir, "onnx", "text_model.onnx"))
	require.NoError(t, err)
	data, _ := os.ReadFile(blob)
	data[len(data)/3] ^= 0x01
	require.NoError(t, os.WriteFile(blob, data, 0o644))

	_, files, err := c.Verify(xenova, "")
	require.NoError(t, err)
	bad := 0
	for _, f := range files {
		if f.Path == "onnx/text_model.onnx" {
			assert.Equal(t, "corrupt", f.Status)
			assert.ErrorIs(t, f.Err, models.ErrChecksum)
			bad++
		} else {
			assert.Equal(t, "ok", f.Status, f.Path)
		}
	}
	assert.Equal(t, 1, bad)
}

// TestBundleRoundTrip: export, import into an empty cache, same files.
func TestBundleRoundTrip(t *testing.T) {
	for _, comp := range []models.Compression{models.NoCompression, models.Gzip, models.Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			src := models.Cache{Dir: t.TempDir()}
			commit := modelstest.Cache(t, src.Dir, xenova, fixtures.Fixture("models", "tiny-clip"))
			modelstest.Cache(t, src.Dir, "acme/tiny-st", fixtures.Fixture("models", "tiny-st"))
			var buf bytes.Buffer
			require.NoError(t, src.Export(&buf, comp, []models.BundleModel{{ID: "openai/clip-vit-base-patch32"}, {ID: "acme/tiny-st"}}))

			dst := models.Cache{Dir: t.TempDir()}
			got, err := dst.Import(bytes.NewReader(buf.Bytes()))
			require.NoError(t, err)
			require.Len(t, got, 2)
			assert.Equal(t, commit, got[0].Commit)
			loc, err := dst.Locate("openai/clip-vit-base-patch32", "")
			require.NoError(t, err)
			sameBytes(t, filepath.Join(loc.Dir, "onnx", "vision_model.onnx"), fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"))
			_, files, err := dst.Verify("acme/tiny-st", "")
			require.NoError(t, err)
			for _, f := range files {
				assert.Equal(t, "ok", f.Status, f.Path)
			}
			// Importing again is harmless.
			_, err = dst.Import(bytes.NewReader(buf.Bytes()))
			require.NoError(t, err)
		})
	}
}

// TestBundleRefusals: hostile bundles are refused with nothing written.
func TestBundleRefusals(t *testing.T) {
	src := models.Cache{Dir: t.TempDir()}
	modelstest.Cache(t, src.Dir, "acme/tiny-st", fixtures.Fixture("models", "tiny-st"))
	var good bytes.Buffer
	require.NoError(t, src.Export(&good, models.NoCompression, []models.BundleModel{{ID: "acme/tiny-st"}}))

	tests := []struct {
		name   string
		mutate func(h *tar.Header, data []byte) (*tar.Header, []byte)
		extra  []tarEntry
		want   string
	}{
		{"dot-dot path", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeReg, Name: "models--acme--tiny-st/blobs/../../../escape"}, data: []byte("x")}}, "path traversal"},
		{"absolute path", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeReg, Name: "/etc/passwd"}, data: []byte("x")}}, "absolute path"},
		{"link out of the cache", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeSymlink, Name: "models--acme--tiny-st/snapshots/0123456789012345678901234567890123456789/evil", Linkname: "../../../../../etc/passwd"}}}, "points out"},
		{"absolute link", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeSymlink, Name: "models--acme--tiny-st/snapshots/0123456789012345678901234567890123456789/evil", Linkname: "/etc/passwd"}}}, "absolute path"},
		{"hard link", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeLink, Name: "models--acme--tiny-st/blobs/x", Linkname: "/etc/passwd"}}}, "not allowed"},
		{"unlisted file", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeReg, Name: "models--acme--tiny-st/blobs/" + strings.Repeat("a", 64)}, data: []byte("x")}}, "not in the manifest"},
		{"flipped byte", func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if strings.Contains(h.Name, "/blobs/") && h.Size > 1000 {
				data = append([]byte(nil), data...)
				data[100] ^= 1
			}
			return h, data
		}, nil, "checksum mismatch"},
		{"outside models dirs", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeReg, Name: "readme.txt"}, data: []byte("x")}}, "not under"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bundle := rewriteTar(t, good.Bytes(), tc.mutate, tc.extra)
			dst := models.Cache{Dir: t.TempDir()}
			_, err := dst.Import(bytes.NewReader(bundle))
			require.ErrorIs(t, err, models.ErrBadBundle)
			assert.Contains(t, err.Error(), tc.want)
			left, _ := os.ReadDir(dst.Dir)
			assert.Empty(t, left, "the cache is left as it was")
		})
	}
}

type tarEntry struct {
	h    tar.Header
	data []byte
}

// rewriteTar copies a tar, changing entries and appending others.
func rewriteTar(t *testing.T, in []byte, mutate func(*tar.Header, []byte) (*tar.Header, []byte), extra []tarEntry) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(in))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	write := func(h *tar.Header, data []byte) {
		h.Size = int64(len(data))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write(data)
			require.NoError(t, err)
		}
	}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		data := new(bytes.Buffer)
		_, _ = data.ReadFrom(tr)
		d := data.Bytes()
		if mutate != nil {
			h, d = mutate(h, d)
		}
		write(h, d)
	}
	for _, e := range extra {
		h := e.h
		write(&h, e.data)
	}
	require.NoError(t, tw.Close())
	return out.Bytes()
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// TestPullRetriesMetadata: the Hub's metadata answers (the revision, each
// file's HEAD) are retried like the router's on 5xx and 429, through the
// one HTTP client both share; a 404 is not retried.
func TestPullRetriesMetadata(t *testing.T) {
	s, _, d := newHub(t)
	s.Host(t, "acme/flaky", fixtures.Fixture("models", "tiny-clip"))
	s.InjectHub("acme/flaky", hftest.Fault{Kind: hftest.ServerError}, hftest.Fault{Kind: hftest.RateLimited, RetryAfter: 10 * time.Millisecond},
		hftest.Fault{Kind: hftest.BadGateway})
	d.Client = &remote.Client{HubURL: s.URL, Retry: remote.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond}}
	loc, err := d.Pull(context.Background(), "acme/flaky", models.PullOptions{})
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(loc.Dir, "onnx", "vision_model.onnx"))

	before := s.Count("")
	_, err = d.Pull(context.Background(), "acme/none", models.PullOptions{})
	assert.ErrorIs(t, err, models.ErrNotFound)
	assert.Equal(t, 1, s.Count("")-before, "a 404 is answered once")
}
