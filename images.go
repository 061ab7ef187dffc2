package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// Image is one image to embed: a file, a stream or an already-decoded
// image. Files and streams may be JPEG, PNG, GIF (first frame), WebP, BMP
// or TIFF.
//
// Images are untrusted input: their header is checked against the pixel
// limit (see [WithMaxPixels]) before any pixel is decoded.
type Image struct {
	name string
	path string
	r    io.Reader
	data []byte
	img  image.Image
}

// ImageFile is the image in the file at path.
func ImageFile(path string) Image { return Image{name: path, path: path} }

// ImageReader is the encoded image read from r; name identifies it in
// results and errors. r is read once, when the image is embedded.
func ImageReader(name string, r io.Reader) Image { return Image{name: name, r: r} }

// ImageBytes is the encoded image in data; name identifies it. data is
// decoded where it is, not copied (as a reader's bytes are): it must not
// change until the image is embedded.
func ImageBytes(name string, data []byte) Image {
	if data == nil {
		data = []byte{}
	}
	return Image{name: name, data: data}
}

// ImageValue is an image already decoded; name identifies it.
func ImageValue(name string, img image.Image) Image { return Image{name: name, img: img} }

// Name is the path or name the image was given.
func (im Image) Name() string { return im.name }

// imageSource adapts an Image to the local engine's ImageSource.
type imageSource struct{ Image }

// Decode reads and decodes the image on an engine's worker. Reading stops
// at the first Read after ctx ends (the call was cancelled, or returned):
// the caller may close the reader or file once the call returns.
func (s imageSource) Decode(ctx context.Context, d imageprep.Decoder) (*imageprep.RGB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case s.img != nil:
		b := s.img.Bounds()
		if max := d.MaxPixels; max > 0 && int64(b.Dx())*int64(b.Dy()) > max {
			return nil, fmt.Errorf("%w: %dx%d is over the limit of %d pixels", imageprep.ErrTooLarge, b.Dx(), b.Dy(), max)
		}
		return imageprep.FromImage(s.img), nil
	case s.data != nil:
		return d.Decode(s.data)
	case s.r != nil:
		data, err := imageprep.ReadAll(ctxReader{ctx, s.r}, d.Limits)
		if err != nil {
			return nil, err
		}
		return d.Decode(data)
	case s.path != "":
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("not a regular file")
		}
		data, err := imageprep.ReadAll(ctxReader{ctx, f}, d.Limits)
		if err != nil {
			return nil, err
		}
		return d.Decode(data)
	}
	return nil, fmt.Errorf("empty Image value")
}

// ctxReader reads r until ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// EmbedImages embeds images with model; see [Model.EmbedImages].
func (e *Embedder) EmbedImages(ctx context.Context, model string, images []Image) ([]Embedding, error) {
	m, err := e.Model(ctx, model)
	if err != nil {
		return nil, err
	}
	return m.EmbedImages(ctx, images)
}

// EmbedImagesFunc embeds images with model; see [Model.EmbedImagesFunc].
func (e *Embedder) EmbedImagesFunc(ctx context.Context, model string, images []Image, fn func(i int, emb Embedding, err error) error) error {
	m, err := e.Model(ctx, model)
	if err != nil {
		return err
	}
	return m.EmbedImagesFunc(ctx, images, fn)
}

// EmbedImages embeds images. Results are in input order. An image that
// cannot be read or decoded (corrupt, truncated, too large) fails alone,
// named in the returned *PartialError; the others are valid. Concurrent
// calls share the model's batches.
func (m *Model) EmbedImages(ctx context.Context, images []Image) ([]Embedding, error) {
	out := make([]Embedding, len(images))
	var failed []*InputError
	err := m.EmbedImagesFunc(ctx, images, func(i int, emb Embedding, err error) error {
		if err != nil {
			failed = append(failed, &InputError{Index: i, Source: images[i].Name(), Err: err})
			return nil
		}
		out[i] = emb
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, partial(failed, len(images))
}

// EmbedImagesFunc embeds images, calling fn for each in input order as
// soon as it and those before it are done, so a caller can stream results.
// fn gets the image's error instead of an embedding when it failed; if fn
// returns an error, the run stops and EmbedImagesFunc returns it. fn runs on
// the calling goroutine with no lock held: it may call the Embedder.
// EmbedImagesFunc returns, cancelled or not, only once none of images is
// being read, so the caller may close the readers behind them then.
func (m *Model) EmbedImagesFunc(ctx context.Context, images []Image, fn func(i int, emb Embedding, err error) error) (err error) {
	ctx, lm, finish, err := m.holdLocal(ctx)
	if err != nil {
		return err
	}
	defer finish(&err)
	if !lm.HasImages() {
		return fmt.Errorf("model %s: %w: it has no vision tower", m.name, ErrNoModality)
	}
	dev, err := lm.Provider(true)
	if err != nil {
		return m.loadError(ctx, err)
	}
	srcs := make([]local.ImageSource, len(images))
	for i, im := range images {
		srcs[i] = imageSource{im}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type done struct {
		emb Embedding
		err error
	}
	pending := map[int]done{}
	next := 0
	runErr := lm.EmbedImages(ctx, srcs, func(i int, vec []float32, err error) {
		if err == nil {
			pending[i] = done{emb: m.embedding(vec, dev, "images are embedded locally")}
		} else {
			pending[i] = done{err: imageError(err)}
		}
		for {
			d, ok := pending[next]
			if !ok || context.Cause(ctx) != nil {
				return
			}
			delete(pending, next)
			if ferr := fn(next, d.emb, d.err); ferr != nil {
				cancel(ferr)
				return
			}
			next++
		}
	})
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, ErrClosed) {
		return cause // fn stopped the run
	}
	return runErr
}
