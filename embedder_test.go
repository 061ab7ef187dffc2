package hybridembed_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

func newEmbedder(t *testing.T, opts ...hybridembed.Option) *hybridembed.Embedder {
	t.Helper()
	orttest.Init(t)
	t.Setenv("HF_HOME", t.TempDir())
	e, err := hybridembed.New(append([]hybridembed.Option{hybridembed.WithDevice("cpu"), hybridembed.WithOffline(true)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return e
}

var tinyClip = fixtures.Fixture("models", "tiny-clip")

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestEmbedImageInputs(t *testing.T) {
	e := newEmbedder(t)
	path := fixtures.Fixture("images", "red_circle.png")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	decoded, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)

	embs, err := e.EmbedImages(context.Background(), tinyClip, []hybridembed.Image{
		hybridembed.ImageFile(path),
		hybridembed.ImageReader("upload", bytes.NewReader(data)),
		hybridembed.ImageValue("decoded", decoded),
	})
	require.NoError(t, err)
	require.Len(t, embs, 3)
	for _, emb := range embs {
		assert.Equal(t, embs[0].Vector, emb.Vector, "same pixels, same vector")
		assert.Equal(t, hybridembed.BackendLocal, emb.Backend)
		assert.Equal(t, "cpu", emb.Device)
		assert.Equal(t, 32, emb.Dim)
		assert.True(t, emb.Normalized)
		assert.InDelta(t, 1, norm(emb.Vector), 1e-6)
		assert.Equal(t, tinyClip, emb.Model)
	}
}

func TestEmbedImagesPartialFailure(t *testing.T) {
	e := newEmbedder(t, hybridembed.WithBatchSize(2, 0))
	good := hybridembed.ImageFile(fixtures.Fixture("images", "blue_square.png"))
	images := []hybridembed.Image{
		good,
		hybridembed.ImageReader("garbage", bytes.NewReader([]byte("not an image"))),
		hybridembed.ImageFile("/nonexistent/x.png"),
		hybridembed.ImageReader("bomb", bytes.NewReader(fixtures.BombPNG())),
		hybridembed.ImageValue("huge", image.NewGray(image.Rect(0, 0, 20000, 10000))),
		good,
	}
	embs, err := e.EmbedImages(context.Background(), tinyClip, images)
	var perr *hybridembed.PartialError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, 6, perr.Total)
	require.Len(t, perr.Failed, 4)
	for i, f := range perr.Failed {
		assert.Equal(t, []int{1, 2, 3, 4}[i], f.Index)
		assert.Equal(t, images[f.Index].Name(), f.Source)
	}
	assert.ErrorIs(t, err, imageprep.ErrUnknown)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
	assert.Contains(t, err.Error(), "4 of 6 inputs failed")
	assert.NotNil(t, embs[0].Vector)
	assert.Equal(t, embs[0].Vector, embs[5].Vector)
	assert.Nil(t, embs[1].Vector)
}

func TestEmbedTexts(t *testing.T) {
	e := newEmbedder(t)
	embs, err := e.EmbedTexts(context.Background(), tinyClip, []string{"a red circle", "bad \xff utf-8", ""})
	var perr *hybridembed.PartialError
	require.ErrorAs(t, err, &perr)
	require.Len(t, perr.Failed, 1)
	assert.Equal(t, 1, perr.Failed[0].Index)
	assert.Contains(t, perr.Failed[0].Error(), "UTF-8")
	assert.Len(t, embs[0].Vector, 32)
	assert.Len(t, embs[2].Vector, 32, "the empty text is still a text")
	// Each local vector carries its text's token count, as CountTokens
	// counts it (the empty text is still its special tokens).
	m, err := e.Model(context.Background(), tinyClip)
	require.NoError(t, err)
	for _, i := range []int{0, 2} {
		n, err := m.CountTokens(context.Background(), []string{[]string{"a red circle", "", ""}[i]})
		require.NoError(t, err)
		assert.Equal(t, n, embs[i].Tokens, "text %d", i)
		assert.Positive(t, embs[i].Tokens)
	}
	assert.Greater(t, embs[0].Tokens, embs[2].Tokens)

	raw := newEmbedder(t, hybridembed.WithNormalize(false))
	r, err := raw.EmbedTexts(context.Background(), tinyClip, []string{"a red circle"})
	require.NoError(t, err)
	assert.False(t, r[0].Normalized)
	n := norm(r[0].Vector)
	assert.Greater(t, math.Abs(n-1), 1e-3, "the fixture's raw vectors are not unit length")
	for i := range r[0].Vector {
		assert.InDelta(t, r[0].Vector[i]/float32(n), embs[0].Vector[i], 1e-6)
	}
}

func TestModalityErrors(t *testing.T) {
	e := newEmbedder(t)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "preprocessor_config.json"} {
		data, err := os.ReadFile(fixtures.Fixture("models", "tiny-clip", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dir+"/"+f, data, 0o644))
	}
	data, err := os.ReadFile(fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dir+"/model.onnx", data, 0o644))
	_, err = e.EmbedTexts(context.Background(), dir, []string{"x"})
	assert.ErrorIs(t, err, hybridembed.ErrNoModality)
}

// TestConcurrentCallers: one Embedder, 8 goroutines, identical answers (run
// under -race by make test).
func TestConcurrentCallers(t *testing.T) {
	e := newEmbedder(t, hybridembed.WithBatchSize(3, 2))
	want, err := e.EmbedTexts(context.Background(), tinyClip, []string{"a red circle"})
	require.NoError(t, err)
	img := []hybridembed.Image{hybridembed.ImageFile(fixtures.Fixture("images", "yellow_star.jpg"))}
	wantImg, err := e.EmbedImages(context.Background(), tinyClip, img)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				got, err := e.EmbedTexts(context.Background(), tinyClip, []string{"x", "a red circle", "y z"})
				if err != nil {
					errs <- err
					return
				}
				if math.Abs(float64(got[1].Vector[0]-want[0].Vector[0])) > 1e-5 {
					errs <- errors.New("text vector changed under concurrency")
				}
				gi, err := e.EmbedImages(context.Background(), tinyClip, append(img, img...))
				if err != nil {
					errs <- err
					return
				}
				if math.Abs(float64(gi[1].Vector[0]-wantImg[0].Vector[0])) > 1e-5 {
					errs <- errors.New("image vector changed under concurrency")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCancelAndClose(t *testing.T) {
	e := newEmbedder(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	images := make([]hybridembed.Image, 50)
	for i := range images {
		images[i] = hybridembed.ImageFile(fixtures.Fixture("images", "yellow_star.jpg"))
	}
	_, err := e.EmbedImages(ctx, tinyClip, images)
	assert.ErrorIs(t, err, context.Canceled)

	stopped := 0
	err = e.EmbedImagesFunc(context.Background(), tinyClip, images, func(i int, _ hybridembed.Embedding, err error) error {
		stopped++
		if i == 2 {
			return errors.New("enough")
		}
		return nil
	})
	assert.EqualError(t, err, "enough")
	assert.Equal(t, 3, stopped)

	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	_, err = e.EmbedTexts(context.Background(), tinyClip, []string{"x"})
	assert.ErrorIs(t, err, hybridembed.ErrClosed)
}
