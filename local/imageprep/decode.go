package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// DefaultMaxPixels is PIL's decompression-bomb limit (2 * MAX_IMAGE_PIXELS):
// larger images are refused before any pixel is decoded.
const DefaultMaxPixels = 178956970

// DefaultMaxBytes bounds how much of a file or stream is read.
const DefaultMaxBytes = 512 << 20

// Limits bound what decoding may cost, and say how exact it must be. Zero
// fields take the defaults.
type Limits struct {
	MaxPixels int64
	MaxBytes  int64
	// Draft, when > 0, lets a JPEG decode at 1/2, 1/4 or 1/8 of its size
	// in the DCT domain (as libjpeg's scaled decode and Pillow's draft
	// mode do) while its short side stays >= Draft: far faster for camera
	// photos, and close to, not identical with, the exact pixels. It
	// needs libjpeg-turbo; Go's decoder always decodes in full.
	Draft int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// Errors callers can match with errors.Is.
var (
	ErrTooLarge     = errors.New("image too large")
	ErrUnknown      = errors.New("not a supported image (JPEG, PNG, GIF, WebP, BMP, TIFF, or HEIC/HEIF/AVIF with libheif)")
	ErrEmpty        = errors.New("empty file")
	ErrCorrupt      = errors.New("corrupt or truncated image")
	ErrUnsupported  = errors.New("unsupported image variant")
	errDecodePanics = errors.New("decoder failed")
)

// Format is a detected container format.
type Format string

const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
	BMP  Format = "bmp"
	TIFF Format = "tiff"
)

// Sniff identifies the format from the first bytes.
func Sniff(b []byte) (Format, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8")):
		return JPEG, true
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, true
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF, true
	case len(b) >= 12 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return WebP, true
	case bytes.HasPrefix(b, []byte("BM")):
		return BMP, true
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return TIFF, true
	}
	return sniffHEIF(b)
}

// ReadAll reads r, refusing more than limits.MaxBytes.
func ReadAll(r io.Reader, limits Limits) ([]byte, error) {
	limits = limits.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, limits.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limits.MaxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limits.MaxBytes)
	}
	return data, nil
}

// Config reads only the header: the format and the stored dimensions.
func Config(data []byte) (Format, image.Config, error) { return config(data, guard) }

// config is Config with the decoders run through run: guard in
// production, a plain call in the fuzz tests, so that a panic there is a
// failure rather than an error.
func config(data []byte, run func(func() error) error) (Format, image.Config, error) {
	if len(data) == 0 {
		return "", image.Config{}, ErrEmpty
	}
	f, ok := Sniff(data)
	if !ok {
		return "", image.Config{}, ErrUnknown
	}
	var cfg image.Config
	if f == HEIF || f == AVIF {
		// libheif reads the boxes only; its errors are classified already.
		w, h, err := heifConfig(f, data)
		return f, image.Config{Width: w, Height: h}, err
	}
	err := run(func() (err error) {
		r := bytes.NewReader(data)
		switch f {
		case JPEG:
			// The frame header as libjpeg finds it: the limit must be
			// checked against the size the decoder will allocate. (Go's
			// DecodeConfig would also read past it unless a JFIF marker
			// came first.)
			cfg, err = jpegFrame(data)
		case PNG:
			cfg, err = png.DecodeConfig(r)
		case GIF:
			cfg, err = gif.DecodeConfig(r)
		case WebP:
			cfg, err = webp.DecodeConfig(r)
		case BMP:
			cfg, err = bmp.DecodeConfig(r)
		case TIFF:
			cfg, err = tiff.DecodeConfig(r)
		}
		return err
	})
	if err != nil {
		return f, cfg, classify(f, err)
	}
	return f, cfg, nil
}

// Decode decodes an encoded image into the RGB PIL would hand to
// CLIPImageProcessor: EXIF orientation applied (for HEIF and AVIF, the
// file's own irot/imir transforms, as Pillow-heif has libheif apply them),
// alpha dropped, first frame of an animation. The header is checked against limits before any pixel
// is decoded, so a decompression bomb costs nothing.
func Decode(data []byte, limits Limits) (*RGB, error) {
	return Decoder{Limits: limits}.Decode(data)
}

// A Decoder decodes images within its Limits. JPEG, when set, is the
// native decoder JPEGs go to (an engine's fixed set of libjpeg-turbo
// handles); when nil they go to the library registered with
// [UseJPEGLibrary], which makes a handle for each image. Either way
// [JPEGDecoder] decides whether JPEGs go to libjpeg-turbo at all.
type Decoder struct {
	Limits
	JPEG NativeJPEG
}

// Decode is [Decode] with d's limits and JPEG decoder.
func (d Decoder) Decode(data []byte) (*RGB, error) { return d.decode(data, guard) }

// decode is Decode with the decoders run through run (see config).
func (d Decoder) decode(data []byte, run func(func() error) error) (*RGB, error) {
	limits := d.withDefaults()
	if int64(len(data)) > limits.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(data), limits.MaxBytes)
	}
	f, cfg, err := config(data, run)
	if err != nil {
		return nil, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s header says %dx%d", ErrCorrupt, f, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > limits.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d is %d pixels, over the limit of %d (a possible decompression bomb)",
			ErrTooLarge, cfg.Width, cfg.Height, px, limits.MaxPixels)
	}
	var out *RGB
	err = run(func() error {
		var err error
		out, err = decodeRGB(f, cfg, data, limits.Draft, d.JPEG)
		return err
	})
	if err != nil {
		return nil, classify(f, err)
	}
	if o := orientation(f, data); o > 1 {
		turned := orient(out, o)
		Recycle(out)
		out = turned
	}
	return out, nil
}

func decodeRGB(f Format, cfg image.Config, data []byte, draft int, native NativeJPEG) (*RGB, error) {
	r := bytes.NewReader(data)
	switch f {
	case HEIF, AVIF:
		// The header passed the pixel limit; libheif refuses more.
		return decodeHEIF(data, int64(cfg.Width)*int64(cfg.Height))
	case GIF:
		return decodeGIF(data)
	case WebP:
		img, err := webp.Decode(r)
		if err != nil {
			return nil, err
		}
		var ycc *image.YCbCr
		switch m := img.(type) {
		case *image.YCbCr:
			ycc = m
		case *image.NYCbCrA:
			ycc = &m.YCbCr
		default: // lossless VP8L decodes to NRGBA exactly
			return FromImage(img), nil
		}
		b := ycc.Bounds()
		out := &RGB{W: b.Dx(), H: b.Dy(), Pix: make([]uint8, b.Dx()*b.Dy()*3)}
		webpToRGB(ycc, out)
		return out, nil
	}
	var img image.Image
	var err error
	switch f {
	case JPEG:
		return decodeJPEG(data, cfg, draft, native)
	case PNG:
		img, err = png.Decode(r)
	case BMP:
		img, err = bmp.Decode(r)
	case TIFF:
		img, err = tiff.Decode(r)
	}
	if err != nil {
		return nil, err
	}
	return FromImage(img), nil
}

// guard turns a decoder panic into an error: decoders of untrusted input
// must never take the process down.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errDecodePanics, p)
		}
	}()
	return fn()
}

// classify wraps decoder errors in the sentinel that describes them.
func classify(f Format, err error) error {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrEmpty), errors.Is(err, ErrUnknown):
		return err
	case (f == HEIF || f == AVIF) && (errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported)):
		return err // libheif's binding has said what and where
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s data ends early", ErrCorrupt, f)
	case isUnsupported(err):
		return fmt.Errorf("%w: %s: %v", ErrUnsupported, f, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, f, err)
}

func isUnsupported(err error) bool {
	switch err.(type) {
	case jpeg.UnsupportedError, png.UnsupportedError, tiff.UnsupportedError:
		return true
	}
	return errors.Is(err, bmp.ErrUnsupported)
}
