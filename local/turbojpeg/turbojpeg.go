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
	"sync/atomic"
	"unsafe"

	"github.com/hybridembed/hybridembed/local/libenv"
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
	once      sync.Once
	path      string
	err       error
	ignoreEnv atomic.Bool
}

// IgnoreEnvironment leaves $TURBOJPEG_LIB, $HYBRIDEMBED_CACHE and
// $XDG_CACHE_HOME out of the search for the library. The library is
// loaded once per process: this counts only before the first [Load].
func IgnoreEnvironment() { turbo.ignoreEnv.Store(true) }

// handles counts TurboJPEG handles made and destroyed in this process.
var handles struct{ made, destroyed atomic.Int64 }

// Handles reports how many TurboJPEG handles this process has made and
// destroyed; made - destroyed are alive now. Tests and leak checks read it.
func Handles() (made, destroyed int64) { return handles.made.Load(), handles.destroyed.Load() }

func newHandle() (C.tjhandle, error) {
	h := C.tj_init()
	if h == nil {
		return nil, errors.New("tjInitDecompress failed")
	}
	handles.made.Add(1)
	return h, nil
}

func destroyHandle(h C.tjhandle) {
	C.tj_destroy(h)
	handles.destroyed.Add(1)
}

// Decoders is a fixed set of TurboJPEG handles: at most n exist at once,
// each used by one decode at a time, made when first needed and destroyed
// by Close. A handle holds C memory that Go's collector neither sees nor
// frees, so handles live here, never in a sync.Pool (which drops what it
// holds at a collection without destroying it). Decoders is safe for
// concurrent use; a decode waits while all n handles are busy.
type Decoders struct {
	free chan C.tjhandle // made and not in use
	done chan struct{}   // closed by Close

	mu     sync.Mutex
	n      int
	made   int
	closed bool
}

// NewDecoders returns a set of at most n handles (at least 1).
func NewDecoders(n int) *Decoders {
	n = max(n, 1)
	return &Decoders{free: make(chan C.tjhandle, n), done: make(chan struct{}), n: n}
}

// get takes a free handle, makes one while fewer than n exist, or waits
// for one to be put back.
func (d *Decoders) get() (C.tjhandle, error) {
	select {
	case h := <-d.free:
		return h, nil
	default:
	}
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return nil, ErrClosed
	case d.made < d.n:
		d.made++
		d.mu.Unlock()
		h, err := newHandle()
		if err != nil {
			d.mu.Lock()
			d.made--
			d.mu.Unlock()
		}
		return h, err
	}
	d.mu.Unlock()
	select {
	case h := <-d.free:
		return h, nil
	case <-d.done:
		return nil, ErrClosed
	}
}

// put returns a handle to the set, or destroys it once the set is closed.
func (d *Decoders) put(h C.tjhandle) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		destroyHandle(h)
		return
	}
	d.free <- h // never blocks: at most n handles exist
}

// Close destroys the handles; one in use is destroyed when its decode
// ends. Later decodes return ErrClosed. It is safe to call more than once.
func (d *Decoders) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.done)
	for {
		select {
		case h := <-d.free:
			destroyHandle(h)
		default:
			return nil
		}
	}
}

// Decode decodes with one of the set's handles; see the package function
// [Decode].
func (d *Decoders) Decode(data []byte, scale int, dst []byte) (Image, error) {
	if err := Load(); err != nil {
		return Image{}, err
	}
	if len(data) == 0 {
		return Image{}, errors.New("empty data")
	}
	h, err := d.get()
	if err != nil {
		return Image{}, err
	}
	defer d.put(h)
	return decode(h, data, scale, dst)
}

// turboCandidates is where the library is looked for when $TURBOJPEG_LIB
// is not set: hybridembed's cache (where the install script puts it), then
// the system loader path.
func turboCandidates() []string {
	var out []string
	if dir := cacheDir(); dir != "" {
		out = append(out, filepath.Join(dir, turboCacheSubdir, turboLibraryName))
	}
	return append(out, turboLibraryName)
}

// cacheDir is hybridembed's cache ($HYBRIDEMBED_CACHE, else
// $XDG_CACHE_HOME/hybridembed, else ~/.cache/hybridembed).
func cacheDir() string {
	if turbo.ignoreEnv.Load() {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".cache", "hybridembed")
		}
		return ""
	}
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

// loadNamed loads the library $TURBOJPEG_LIB names, or says why it cannot.
func loadNamed(p string) error {
	if err := libenv.Stat(p); err != nil {
		return &libenv.Error{Var: turboLibraryEnv, Path: p, Lib: turboLibraryName, Err: err}
	}
	cp := C.CString(p)
	defer C.free(unsafe.Pointer(cp))
	var cerr *C.char
	if C.tj_load(cp, &cerr) != 0 {
		return &libenv.Error{Var: turboLibraryEnv, Path: p, Lib: turboLibraryName, Err: fmt.Errorf("not a usable TurboJPEG library: %s", C.GoString(cerr))}
	}
	return nil
}

// Load loads the library once; later calls return the same result. A
// $TURBOJPEG_LIB that is set is the only place looked in, and when it
// cannot be used the error is a [*libenv.Error].
func Load() error {
	turbo.once.Do(func() {
		if p := os.Getenv(turboLibraryEnv); p != "" && !turbo.ignoreEnv.Load() {
			turbo.err = loadNamed(p)
			if turbo.err == nil {
				turbo.path = p
			}
			return
		}
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
//
// Decode makes a handle for the one image and destroys it after; callers
// that decode many images keep a fixed set of handles in [Decoders].
func Decode(data []byte, scale int, dst []byte) (Image, error) {
	if err := Load(); err != nil {
		return Image{}, err
	}
	if len(data) == 0 {
		return Image{}, errors.New("empty data")
	}
	h, err := newHandle()
	if err != nil {
		return Image{}, err
	}
	defer destroyHandle(h)
	return decode(h, data, scale, dst)
}

// decode decodes data with the handle h, which it alone uses meanwhile.
func decode(h C.tjhandle, data []byte, scale int, dst []byte) (Image, error) {
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
// libjpeg's warnings. Like Decode it makes a handle for the call and
// destroys it after: it is for tests and tools that compare what libjpeg
// reads with another reader, not for the decoding path.
func Header(data []byte) (Image, error) {
	if err := Load(); err != nil {
		return Image{}, err
	}
	if len(data) == 0 {
		return Image{}, errors.New("empty data")
	}
	h, err := newHandle()
	if err != nil {
		return Image{}, err
	}
	defer destroyHandle(h)
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
