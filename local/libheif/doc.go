// Package libheif binds libheif at run time (dlopen), so that HEIF/HEIC
// photos (what phones write) and AVIF decode to exactly the pixels
// Pillow-heif gets (it decodes with the same library and the same options)
// and a machine without the library still builds and runs. It is a cgo
// leaf: it knows nothing of images beyond bytes; local/imageprep, which is
// pure Go, takes what it returns.
//
// Its loader is its own, apart from local/turbojpeg's: the two libraries
// are found, loaded and fail independently.
package libheif

// Image is a decoded HEIF image: W x H pixels, packed RGB (3 bytes a pixel,
// no padding), with the file's transformations (irot, imir, clap) applied.
type Image struct {
	W, H int
	Pix  []byte
}

// Codec is a compression a HEIF container can hold.
type Codec int

const (
	HEVC Codec = 1 // heif_compression_HEVC: HEIC, what phones write
	AV1  Codec = 4 // heif_compression_AV1: AVIF
)

func (c Codec) String() string {
	switch c {
	case HEVC:
		return "HEVC"
	case AV1:
		return "AV1"
	}
	return "unknown"
}

// Error is a file libheif refused: Kind is ErrCorrupt, ErrUnsupported or
// ErrTooLarge (errors.Is matches it), Message libheif's own words.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Kind }
