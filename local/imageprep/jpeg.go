package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"sync"
	"sync/atomic"
)

// JPEG decoders: libjpeg-turbo (the library Pillow uses, so pixels are
// identical to Pillow's) when it can be loaded, else Go's image/jpeg (up
// to a few levels off, from its IDCT and chroma upsampling).
const (
	JPEGTurbo = "libjpeg-turbo"
	JPEGGo    = "go"
)

// JPEGLibrary is a native decoder imageprep can hand JPEGs to. This
// package stays pure Go: the cgo binding (local/turbojpeg) registers itself
// through UseJPEGLibrary from the engine.
type JPEGLibrary struct {
	// Load says whether the library can be used, and why not.
	Load func() error
	// Decode returns packed pixels of 3 (RGB), 1 (gray) or 4 (CMYK as
	// stored) channels, scaled by 1/scale in the DCT domain when scale > 1,
	// in buf when its capacity suffices.
	Decode func(data []byte, scale int, buf []byte) (w, h, channels int, pix []byte, err error)
}

// NativeJPEG is a native JPEG decoder whose state decodes share, such as
// a fixed set of libjpeg-turbo handles (see [Decoder]). DecodeJPEG keeps
// JPEGLibrary.Decode's contract and is safe for concurrent use.
type NativeJPEG interface {
	DecodeJPEG(data []byte, scale int, buf []byte) (w, h, channels int, pix []byte, err error)
}

var jpegChoice struct {
	mu     sync.RWMutex
	lib    *JPEGLibrary
	forced string // "", JPEGGo or JPEGTurbo
}

// UseJPEGLibrary registers libjpeg-turbo's binding.
func UseJPEGLibrary(lib JPEGLibrary) {
	jpegChoice.mu.Lock()
	jpegChoice.lib = &lib
	jpegChoice.mu.Unlock()
}

// loadTurbo is the registered library's Load, or why there is none.
func loadTurbo() error {
	jpegChoice.mu.RLock()
	lib := jpegChoice.lib
	jpegChoice.mu.RUnlock()
	if lib == nil {
		return errors.New("no libjpeg-turbo binding is linked into this program")
	}
	return lib.Load()
}

// decodeJPEGTurbo decodes with native, else the registered library, and
// converts as Pillow's convert("RGB") does: gray replicated, CMYK through
// PIL's formula, Adobe files inverted first as Pillow reads them
// ("CMYK;I").
func decodeJPEGTurbo(data []byte, scale int, native NativeJPEG) (*RGB, error) {
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	dec := func(data []byte, scale int, buf []byte) (int, int, int, []byte, error) {
		return native.DecodeJPEG(data, scale, buf)
	}
	if native == nil {
		jpegChoice.mu.RLock()
		dec = jpegChoice.lib.Decode
		jpegChoice.mu.RUnlock()
	}
	buf := getPix()
	w, h, ch, pix, err := dec(data, scale, buf)
	if err != nil {
		putPix(buf)
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	out := &RGB{W: w, H: h}
	switch ch {
	case 3:
		out.Pix, out.pooled = pix, true
	case 1:
		out.Pix = make([]byte, w*h*3)
		defer putPix(pix)
		for i, v := range pix {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
		}
	case 4:
		if adobe(data) {
			for i := range pix {
				pix[i] = 255 - pix[i]
			}
		}
		out.Pix = make([]byte, w*h*3)
		cmykToRGB(pix, out.Pix)
		putPix(pix)
	default:
		return nil, fmt.Errorf("%w: %d channels", ErrUnsupported, ch)
	}
	return out, nil
}

// SetJPEGDecoder picks the JPEG decoder: JPEGTurbo, JPEGGo, or "" for the
// default (libjpeg-turbo when it loads; $HYBRIDEMBED_JPEG=go forces Go's).
// Asking for JPEGTurbo when it cannot load returns why.
func SetJPEGDecoder(name string) error {
	switch name {
	case "", JPEGGo:
	case JPEGTurbo:
		if err := loadTurbo(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown JPEG decoder %q (want %s or %s)", name, JPEGTurbo, JPEGGo)
	}
	jpegChoice.mu.Lock()
	jpegChoice.forced = name
	jpegChoice.mu.Unlock()
	return nil
}

// jpegEnvIgnored is set by IgnoreEnvironment.
var jpegEnvIgnored atomic.Bool

// IgnoreEnvironment makes the JPEG decoder choice ignore
// $HYBRIDEMBED_JPEG, for the whole process.
func IgnoreEnvironment() { jpegEnvIgnored.Store(true) }

// JPEGDecoder says which decoder JPEGs go to, and why not libjpeg-turbo
// when it is Go's.
func JPEGDecoder() (name string, why error) {
	jpegChoice.mu.RLock()
	forced := jpegChoice.forced
	jpegChoice.mu.RUnlock()
	if forced == "" && !jpegEnvIgnored.Load() && os.Getenv("HYBRIDEMBED_JPEG") == JPEGGo {
		forced = JPEGGo
	}
	if forced == JPEGGo {
		return JPEGGo, errors.New("chosen by SetJPEGDecoder or $HYBRIDEMBED_JPEG")
	}
	if err := loadTurbo(); err != nil {
		return JPEGGo, err
	}
	return JPEGTurbo, nil
}

// decodeJPEG decodes with the chosen decoder (libjpeg-turbo through native
// when it is set); draft > 0 lets libjpeg-turbo decode at 1/2, 1/4 or 1/8
// scale while the short side (of cfg, the header Decode has read) stays
// >= draft.
func decodeJPEG(data []byte, cfg image.Config, draft int, native NativeJPEG) (*RGB, error) {
	if name, _ := JPEGDecoder(); name == JPEGTurbo {
		return decodeJPEGTurbo(data, draftScale(cfg, draft), native)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return FromImage(img), nil
}

// draftScale is the largest of 8, 4, 2 by which the image can shrink in
// the DCT domain and keep its short side >= draft; 1 when none can.
func draftScale(cfg image.Config, draft int) int {
	if draft <= 0 {
		return 1
	}
	short := min(cfg.Width, cfg.Height)
	for _, s := range []int{8, 4, 2} {
		if (short+s-1)/s >= draft {
			return s
		}
	}
	return 1
}

// adobe reports whether a JPEG has an Adobe APP14 marker before its scan:
// Pillow reads such CMYK files as inverted ("CMYK;I").
func adobe(data []byte) bool {
	s := newJPEGScanner(data)
	for s.scan() {
		if s.seg.marker == markerAPP14 && bytes.HasPrefix(s.seg.payload, []byte("Adobe")) {
			return true
		}
	}
	return false
}

// cmykToRGB converts packed CMYK (ink: 255 is full) with PIL's formula.
func cmykToRGB(cmyk, rgb []byte) {
	for i, j := 0, 0; i+3 < len(cmyk); i, j = i+4, j+3 {
		k := cmyk[i+3]
		rgb[j], rgb[j+1], rgb[j+2] = pilCMYK(cmyk[i], k), pilCMYK(cmyk[i+1], k), pilCMYK(cmyk[i+2], k)
	}
}
