//go:build cgo && !windows

package turbojpeg

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

// The TurboJPEG API (libjpeg-turbo's turbojpeg.h, 2.x), bound at run time
// so that a machine without the library still builds and runs.
typedef void *tjhandle;
typedef tjhandle (*tjInitDecompress_t)(void);
typedef int (*tjDecompressHeader3_t)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
typedef int (*tjDecompress2_t)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
typedef int (*tjDestroy_t)(tjhandle);
typedef char *(*tjGetErrorStr2_t)(tjhandle);
typedef int (*tjGetErrorCode_t)(tjhandle);

static tjInitDecompress_t p_init;
static tjDecompressHeader3_t p_header;
static tjDecompress2_t p_decompress;
static tjDestroy_t p_destroy;
static tjGetErrorStr2_t p_errstr;
static tjGetErrorCode_t p_errcode;

static int tj_load(const char *path, char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) { *err = dlerror(); return -1; }
	p_init = (tjInitDecompress_t)dlsym(h, "tjInitDecompress");
	p_header = (tjDecompressHeader3_t)dlsym(h, "tjDecompressHeader3");
	p_decompress = (tjDecompress2_t)dlsym(h, "tjDecompress2");
	p_destroy = (tjDestroy_t)dlsym(h, "tjDestroy");
	p_errstr = (tjGetErrorStr2_t)dlsym(h, "tjGetErrorStr2");
	p_errcode = (tjGetErrorCode_t)dlsym(h, "tjGetErrorCode");
	if (!p_init || !p_header || !p_decompress || !p_destroy || !p_errstr || !p_errcode) {
		*err = "the library lacks the TurboJPEG 2 API (tjDecompressHeader3, tjDecompress2, tjGetErrorCode)";
		return -1;
	}
	return 0;
}

static tjhandle tj_init(void) { return p_init(); }
static int tj_destroy(tjhandle h) { return p_destroy(h); }
// tj_decompress decompresses and, on failure, copies the error code and
// message in the same call: TurboJPEG keeps warning messages in a
// thread-local buffer, and a later cgo call may run on another thread.
static int tj_decompress(tjhandle h, const unsigned char *buf, unsigned long n, unsigned char *dst, int w, int ht, int pf, int flags,
		int *code, char *msg, int msglen) {
	int rc = p_decompress(h, buf, n, dst, w, 0, ht, pf, flags);
	if (rc != 0) {
		*code = p_errcode(h);
		snprintf(msg, msglen, "%s", p_errstr(h));
	}
	return rc;
}
// tj_header_msg reads the header, copying the error code and message on
// failure as tj_decompress does. After an error inside libjpeg,
// tjDecompressHeader3 returns without aborting the decompressor (2.x and
// 3.x alike): the handle stays mid-header, still remembering the SOI it
// saw, and every later header read on it fails ("two SOI markers"). A
// tjDecompress2 call with no destination buffer goes straight to its
// bailout, which aborts the decompressor and so resets the handle; it
// reads no data.
static int tj_header_msg(tjhandle h, const unsigned char *buf, unsigned long n, int *w, int *ht, int *ss, int *cs,
		int *code, char *msg, int msglen) {
	int rc = p_header(h, buf, n, w, ht, ss, cs);
	if (rc != 0) {
		*code = p_errcode(h);
		snprintf(msg, msglen, "%s", p_errstr(h));
		p_decompress(h, buf, n, NULL, 0, 0, 0, 0, 0);
	}
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// TurboJPEG constants (turbojpeg.h).
const (
	tjpfRGB            = 0
	tjpfGray           = 6
	tjpfCMYK           = 11
	tjcsGray           = 2
	tjcsCMYK           = 3
	tjcsYCCK           = 4
	tjflagAccurateDCT  = 4096
	tjerrWarning       = 0
	turboLibraryName   = "libturbojpeg.so.0"
	turboLibraryEnv    = "TURBOJPEG_LIB"
	turboCacheSubdir   = "libjpeg-turbo"
	turboInstallScript = "scripts/install-libjpeg-turbo.sh"
)

var turbo struct {
	once sync.Once
	path string
	err  error
	pool sync.Pool // tjhandle per goroutine at a time
}

// turboCandidates is where the library is looked for: $TURBOJPEG_LIB,
// hybridembed's cache (where the install script puts it), then the system
// loader path.
func turboCandidates() []string {
	var out []string
	if p := os.Getenv(turboLibraryEnv); p != "" {
		return []string{p}
	}
	if dir := cacheDir(); dir != "" {
		out = append(out, filepath.Join(dir, turboCacheSubdir, turboLibraryName))
	}
	return append(out, turboLibraryName)
}

// cacheDir is hybridembed's cache ($HYBRIDEMBED_CACHE, else
// $XDG_CACHE_HOME/hybridembed, else ~/.cache/hybridembed).
func cacheDir() string {
	if d := os.Getenv("HYBRIDEMBED_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "hybridembed")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "hybridembed")
	}
	return ""
}

// Load loads the library once; later calls return the same result.
func Load() error {
	turbo.once.Do(func() {
		var msgs []string
		for _, p := range turboCandidates() {
			if strings.Contains(p, "/") {
				if _, err := os.Stat(p); err != nil {
					continue
				}
			}
			cp := C.CString(p)
			var cerr *C.char
			rc := C.tj_load(cp, &cerr)
			C.free(unsafe.Pointer(cp))
			if rc == 0 {
				turbo.path = p
				turbo.pool.New = func() any { return C.tj_init() }
				return
			}
			msgs = append(msgs, C.GoString(cerr))
		}
		turbo.err = fmt.Errorf("libjpeg-turbo's TurboJPEG library (%s) was not found or not usable (%s); install it with %s, or set %s",
			turboLibraryName, strings.Join(msgs, "; "), turboInstallScript, turboLibraryEnv)
		if len(msgs) == 0 {
			turbo.err = fmt.Errorf("libjpeg-turbo's TurboJPEG library (%s) is not installed; install it with %s, or set %s",
				turboLibraryName, turboInstallScript, turboLibraryEnv)
		}
	})
	return turbo.err
}

// Decode decodes a JPEG with libjpeg-turbo's defaults as Pillow uses them
// (islow IDCT, fancy upsampling, its YCbCr tables), scaled by 1/scale in
// the DCT domain when scale > 1. Channels is 3 (RGB), 1 (gray) or 4 (CMYK
// as stored, not inverted). A file cut short is an error (Pillow refuses
// truncated images); libjpeg's other warnings leave a usable image and are
// ignored, as Pillow ignores them. The pixels go into dst when it has the
// capacity, so that a caller can reuse one buffer across images.
func Decode(data []byte, scale int, dst []byte) (Image, error) {
	if err := Load(); err != nil {
		return Image{}, err
	}
	if len(data) == 0 {
		return Image{}, errors.New("empty data")
	}
	h := turbo.pool.Get().(C.tjhandle)
	if h == nil {
		return Image{}, errors.New("tjInitDecompress failed")
	}
	defer turbo.pool.Put(h)
	buf := (*C.uchar)(unsafe.Pointer(&data[0]))
	n := C.ulong(len(data))
	var w, ht, ss, cs, code C.int
	var msg [256]C.char
	if err := header(h, buf, n, &w, &ht, &ss, &cs, &msg); err != nil {
		return Image{}, err
	}
	img := Image{W: int(w), H: int(ht), Channels: 3}
	if scale > 1 {
		img.W, img.H = (img.W+scale-1)/scale, (img.H+scale-1)/scale
	}
	var pf int
	pf, img.Channels = pixelFormat(cs)
	if n := img.W * img.H * img.Channels; cap(dst) >= n {
		img.Pix = dst[:n]
	} else {
		img.Pix = make([]byte, n)
	}
	if C.tj_decompress(h, buf, n, (*C.uchar)(unsafe.Pointer(&img.Pix[0])), C.int(img.W), C.int(img.H), C.int(pf), tjflagAccurateDCT,
		&code, &msg[0], C.int(len(msg))) != 0 {
		text := C.GoString(&msg[0])
		if code != tjerrWarning || strings.Contains(text, "Premature end") {
			return Image{}, errors.New(text)
		}
	}
	return img, nil
}

// Header reads only the frame header, as Decode reads it before decoding:
// the size libjpeg will decode (Pix is nil), with Decode's tolerance of
// libjpeg's warnings. It uses a handle of its own, made and destroyed in
// the call: it is for tests and tools that compare what libjpeg reads
// with another reader, not for the decoding path.
func Header(data []byte) (Image, error) {
	if err := Load(); err != nil {
		return Image{}, err
	}
	if len(data) == 0 {
		return Image{}, errors.New("empty data")
	}
	h := C.tj_init()
	if h == nil {
		return Image{}, errors.New("tjInitDecompress failed")
	}
	defer C.tj_destroy(h)
	var w, ht, ss, cs C.int
	var msg [256]C.char
	if err := header(h, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &w, &ht, &ss, &cs, &msg); err != nil {
		return Image{}, err
	}
	_, ch := pixelFormat(cs)
	return Image{W: int(w), H: int(ht), Channels: ch}, nil
}

// pixelFormat is what a JPEG of colorspace cs decodes to: RGB, gray, or
// CMYK as stored.
func pixelFormat(cs C.int) (pf, channels int) {
	switch cs {
	case tjcsGray:
		return tjpfGray, 1
	case tjcsCMYK, tjcsYCCK:
		return tjpfCMYK, 4
	}
	return tjpfRGB, 3
}

// header reads the frame header into w, ht, ss and cs. libjpeg's warnings
// are ignored here as Decode ignores them (tjDecompressHeader3 fails on
// any, such as "extraneous bytes before marker", which libjpeg and Pillow
// read past), except a file that ends early; and so is a sampling layout
// TurboJPEG has no name for (libjpeg-turbo issue 323: it throws after
// reading the size, and tjDecompress2 decodes the file). A header with no
// frame in it (a tables-only stream, or one cut before its SOF) is an
// error: tjDecompressHeader3 reports it as success with no size.
func header(h C.tjhandle, buf *C.uchar, n C.ulong, w, ht, ss, cs *C.int, msg *[256]C.char) error {
	*w, *ht, *cs = 0, 0, -1
	var code C.int
	if C.tj_header_msg(h, buf, n, w, ht, ss, cs, &code, &msg[0], C.int(len(msg))) != 0 {
		text := C.GoString(&msg[0])
		tolerated := code == tjerrWarning && !strings.Contains(text, "Premature end") ||
			strings.Contains(text, "Could not determine subsampling type")
		if !tolerated || *w < 1 || *ht < 1 || *cs < 0 {
			return errors.New(text)
		}
	}
	if *w < 1 || *ht < 1 {
		return errors.New("no frame header (SOF) in the JPEG")
	}
	return nil
}
