package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// HEIF containers: HEIC (HEVC-coded, what phones write) and AVIF (AV1).
// Both decode through libheif, a native library loaded at run time: this
// package stays pure Go, and the cgo binding (local/libheif) registers
// itself through UseHEIFLibrary from the engine.
const (
	HEIF Format = "heif"
	AVIF Format = "avif"
)

// HEIFLibrary is a native HEIF decoder imageprep can hand HEIF and AVIF
// files to. Its errors wrap ErrCorrupt, ErrUnsupported or ErrTooLarge.
type HEIFLibrary struct {
	// Supports says whether the library can decode f (it loads, and has a
	// decoder for f's codec), and why not.
	Supports func(f Format) error
	// Config reads the shown dimensions (after rotation and crop) from the
	// container, decoding no pixel.
	Config func(data []byte) (w, h int, err error)
	// Decode returns packed RGB with the file's transformations (irot,
	// imir, clap) applied and any alpha dropped, refusing images over
	// maxPixels before decoding, in buf when its capacity suffices.
	Decode func(data []byte, maxPixels int64, buf []byte) (w, h int, pix []byte, err error)
}

var heifChoice struct {
	mu  sync.RWMutex
	lib *HEIFLibrary
}

// UseHEIFLibrary registers libheif's binding.
func UseHEIFLibrary(lib HEIFLibrary) {
	heifChoice.mu.Lock()
	heifChoice.lib = &lib
	heifChoice.mu.Unlock()
}

func heifLibrary() (*HEIFLibrary, error) {
	heifChoice.mu.RLock()
	lib := heifChoice.lib
	heifChoice.mu.RUnlock()
	if lib == nil {
		return nil, errors.New("no libheif binding is linked into this program")
	}
	return lib, nil
}

// Available says whether this program can decode f here, and why not: the
// formats in Go are always there; HEIF and AVIF need libheif (and, from
// libheif 1.17, its decoder plugins).
func Available(f Format) error {
	switch f {
	case HEIF, AVIF:
		lib, err := heifLibrary()
		if err != nil {
			return err
		}
		return lib.Supports(f)
	case JPEG, PNG, GIF, WebP, BMP, TIFF:
		return nil
	}
	return ErrUnknown
}

// heifBrands are the ftyp brands of still HEIF images and sequences
// (ISO/IEC 23008-12 and the AV1 image format).
var heifBrands = map[string]Format{
	"heic": HEIF, "heix": HEIF, "heim": HEIF, "heis": HEIF,
	"hevc": HEIF, "hevx": HEIF, "hevm": HEIF, "hevs": HEIF,
	"avif": AVIF, "avis": AVIF,
	"mif1": HEIF, "msf1": HEIF, // the generic brands: libheif tells the codec
}

// sniffHEIF identifies a HEIF container by its leading ftyp box: the major
// brand, else the first compatible brand that names a codec, else a
// generic one.
func sniffHEIF(b []byte) (Format, bool) {
	if len(b) < 16 || !bytes.Equal(b[4:8], []byte("ftyp")) {
		return "", false
	}
	size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if size < 16 || size > len(b) {
		size = min(len(b), 256)
	}
	brands := []string{string(b[8:12])}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(b[i:i+4]))
	}
	generic := false
	for _, br := range brands {
		switch f, ok := heifBrands[br]; {
		case !ok:
		case br == "mif1" || br == "msf1":
			generic = true
		default:
			return f, true
		}
	}
	return HEIF, generic
}

func heifConfig(f Format, data []byte) (w, h int, err error) {
	lib, err := heifLibrary()
	if err == nil {
		err = lib.Supports(f)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %v", ErrUnsupported, f, err)
	}
	return lib.Config(data)
}

func decodeHEIF(data []byte, maxPixels int64) (*RGB, error) {
	lib, err := heifLibrary()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	buf := getPix()
	w, h, pix, err := lib.Decode(data, maxPixels, buf)
	if err != nil {
		putPix(buf)
		return nil, err
	}
	return &RGB{W: w, H: h, Pix: pix, pooled: true}, nil
}
