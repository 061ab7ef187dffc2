//go:build cgo && !windows

package libheif

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libheif's C API (heif.h, 1.7 and later), bound at run time so that a
// machine without the library still builds and runs. Only the prefix of
// each struct that this code reads or writes is declared: libheif keeps
// those prefixes stable and grows the structs at their ends (options are
// always allocated by the library, never here).
typedef struct { int code; int subcode; const char *message; } hf_error;
typedef struct {
	uint8_t version;
	uint8_t ignore_transformations;
	void *start_progress, *on_progress, *end_progress, *progress_user_data;
	uint8_t convert_hdr_to_8bit; // version 2
} hf_decoding_options;

typedef void *(*hf_context_alloc_t)(void);
typedef void (*hf_context_free_t)(void *);
typedef hf_error (*hf_read_t)(void *, const void *, size_t, const void *);
typedef hf_error (*hf_primary_t)(void *, void **);
typedef void (*hf_handle_release_t)(const void *);
typedef int (*hf_handle_int_t)(const void *);
typedef hf_decoding_options *(*hf_options_alloc_t)(void);
typedef void (*hf_options_free_t)(hf_decoding_options *);
typedef hf_error (*hf_decode_t)(const void *, void **, int, int, const hf_decoding_options *);
typedef const uint8_t *(*hf_plane_t)(const void *, int, int *);
typedef int (*hf_image_dim_t)(const void *, int);
typedef void (*hf_image_release_t)(const void *);
typedef int (*hf_have_decoder_t)(int);
typedef const char *(*hf_version_t)(void);
typedef hf_error (*hf_init_t)(void *);
typedef hf_error (*hf_load_plugins_t)(const char *, const void **, int *, int);

static hf_context_alloc_t p_context_alloc;
static hf_context_free_t p_context_free;
static hf_read_t p_read;
static hf_primary_t p_primary;
static hf_handle_release_t p_handle_release;
static hf_handle_int_t p_width, p_height, p_has_alpha;
static hf_options_alloc_t p_options_alloc;
static hf_options_free_t p_options_free;
static hf_decode_t p_decode;
static hf_plane_t p_plane;
static hf_image_dim_t p_image_width, p_image_height;
static hf_image_release_t p_image_release;
static hf_have_decoder_t p_have_decoder;
static hf_version_t p_version;
static hf_init_t p_init;
static hf_load_plugins_t p_load_plugins;

// hf_preload loads a library the next one needs (a dependency unpacked
// beside it, which the system loader would not find), keeping it loaded
// for the life of the process.
static int hf_preload(const char *path, char **err) {
	if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL)) { *err = dlerror(); return -1; }
	return 0;
}

static int hf_load(const char *path, char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) { *err = dlerror(); return -1; }
	p_context_alloc = (hf_context_alloc_t)dlsym(h, "heif_context_alloc");
	p_context_free = (hf_context_free_t)dlsym(h, "heif_context_free");
	p_read = (hf_read_t)dlsym(h, "heif_context_read_from_memory_without_copy");
	p_primary = (hf_primary_t)dlsym(h, "heif_context_get_primary_image_handle");
	p_handle_release = (hf_handle_release_t)dlsym(h, "heif_image_handle_release");
	p_width = (hf_handle_int_t)dlsym(h, "heif_image_handle_get_width");
	p_height = (hf_handle_int_t)dlsym(h, "heif_image_handle_get_height");
	p_has_alpha = (hf_handle_int_t)dlsym(h, "heif_image_handle_has_alpha_channel");
	p_options_alloc = (hf_options_alloc_t)dlsym(h, "heif_decoding_options_alloc");
	p_options_free = (hf_options_free_t)dlsym(h, "heif_decoding_options_free");
	p_decode = (hf_decode_t)dlsym(h, "heif_decode_image");
	p_plane = (hf_plane_t)dlsym(h, "heif_image_get_plane_readonly");
	p_image_width = (hf_image_dim_t)dlsym(h, "heif_image_get_width");
	p_image_height = (hf_image_dim_t)dlsym(h, "heif_image_get_height");
	p_image_release = (hf_image_release_t)dlsym(h, "heif_image_release");
	p_have_decoder = (hf_have_decoder_t)dlsym(h, "heif_have_decoder_for_format");
	p_version = (hf_version_t)dlsym(h, "heif_get_version");
	p_init = (hf_init_t)dlsym(h, "heif_init");                   // 1.13 and later
	p_load_plugins = (hf_load_plugins_t)dlsym(h, "heif_load_plugins"); // 1.14 and later
	if (!p_context_alloc || !p_context_free || !p_read || !p_primary || !p_handle_release || !p_width ||
		!p_height || !p_has_alpha || !p_options_alloc || !p_options_free || !p_decode || !p_plane ||
		!p_image_width || !p_image_height || !p_image_release || !p_have_decoder || !p_version) {
		*err = "the library lacks parts of libheif's API (heif_context_read_from_memory_without_copy, heif_decode_image, heif_have_decoder_for_format)";
		return -1;
	}
	if (p_init) {
		// Registers the built-in decoders and, from 1.14, the plugins in
		// libheif's own plugin folder (or $LIBHEIF_PLUGIN_PATH).
		hf_error e = p_init(NULL);
		if (e.code != 0) { *err = (char *)e.message; return -1; }
	}
	return 0;
}

static const char *hf_version(void) { return p_version(); }
static int hf_have_decoder(int codec) { return p_have_decoder(codec); }

static int hf_load_plugins(const char *dir, char *msg, int msglen) {
	if (!p_load_plugins) { snprintf(msg, msglen, "this libheif loads no plugins (it is older than 1.14)"); return -1; }
	int n = 0;
	hf_error e = p_load_plugins(dir, NULL, &n, 0);
	if (e.code != 0) { snprintf(msg, msglen, "%s", e.message); return -1; }
	return 0;
}

// hf_open reads the container and finds the primary image. Error texts
// are copied at once: libheif may keep them in the context.
static int hf_open(const void *data, size_t n, void **ctx, void **handle, int *w, int *h, char *msg, int msglen) {
	*ctx = p_context_alloc();
	*handle = NULL;
	if (!*ctx) { snprintf(msg, msglen, "heif_context_alloc failed"); return -1; }
	hf_error e = p_read(*ctx, data, n, NULL);
	if (e.code == 0) e = p_primary(*ctx, handle);
	if (e.code != 0) {
		snprintf(msg, msglen, "%s", e.message);
		p_context_free(*ctx);
		*ctx = NULL;
		return e.code;
	}
	*w = p_width(*handle);
	*h = p_height(*handle);
	return 0;
}

static void hf_close(void *ctx, void *handle) {
	if (handle) p_handle_release(handle);
	if (ctx) p_context_free(ctx);
}

enum { RGB = 1, INTERLEAVED_RGB = 10, INTERLEAVED_RGBA = 11, CHANNEL_INTERLEAVED = 10 };

// hf_decode decodes the primary image as Pillow-heif does (libheif's
// default options, so that irot, imir and clap are applied; 10- and 12-bit
// images converted to 8 bits; RGBA when there is alpha) into dst, packed
// RGB with the alpha dropped, as PIL's convert("RGB") drops it.
static int hf_decode(void *handle, uint8_t *dst, int w, int h, char *msg, int msglen) {
	int alpha = p_has_alpha(handle) != 0;
	hf_decoding_options *opt = p_options_alloc();
	if (!opt) { snprintf(msg, msglen, "heif_decoding_options_alloc failed"); return -1; }
	if (opt->version >= 2) opt->convert_hdr_to_8bit = 1;
	void *img = NULL;
	hf_error e = p_decode(handle, &img, RGB, alpha ? INTERLEAVED_RGBA : INTERLEAVED_RGB, opt);
	p_options_free(opt);
	if (e.code != 0) { snprintf(msg, msglen, "%s", e.message); return e.code; }
	int stride = 0;
	const uint8_t *src = p_plane(img, CHANNEL_INTERLEAVED, &stride);
	int rc = 0;
	if (!src) {
		snprintf(msg, msglen, "the decoded image has no interleaved RGB plane");
		rc = -1;
	} else if (p_image_width(img, CHANNEL_INTERLEAVED) != w || p_image_height(img, CHANNEL_INTERLEAVED) != h) {
		snprintf(msg, msglen, "decoded %dx%d pixels where the header says %dx%d",
			p_image_width(img, CHANNEL_INTERLEAVED), p_image_height(img, CHANNEL_INTERLEAVED), w, h);
		rc = -1;
	} else if (!alpha) {
		for (int y = 0; y < h; y++) memcpy(dst + (size_t)y * w * 3, src + (size_t)y * stride, (size_t)w * 3);
	} else {
		for (int y = 0; y < h; y++) {
			const uint8_t *s = src + (size_t)y * stride;
			uint8_t *d = dst + (size_t)y * w * 3;
			for (int x = 0; x < w; x++, s += 4, d += 3) { d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; }
		}
	}
	p_image_release(img);
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hybridembed/hybridembed/local/libenv"
	"github.com/hybridembed/hybridembed/models/layout"
)

// Error codes of libheif (heif_error_code) this package tells apart.
const (
	errUnsupportedFiletype = 3
	errUnsupportedFeature  = 4
	errMemory              = 6
)

const (
	libraryEnv    = "LIBHEIF_LIB"
	cacheSubdir   = "libheif"
	installScript = "scripts/install-libheif.sh"
)

// libraryName is the library's file name on this system.
func libraryName() string {
	if runtime.GOOS == "darwin" {
		return "libheif.1.dylib"
	}
	return "libheif.so.1"
}

var lib struct {
	once      sync.Once
	path      string
	version   string
	err       error
	ignoreEnv atomic.Bool
}

// IgnoreEnvironment leaves $LIBHEIF_LIB, $HYBRIDEMBED_CACHE and
// $XDG_CACHE_HOME out of the search for the library (the cache is then
// ~/.cache/hybridembed). The library is loaded once per process: this
// counts only before the first [Load].
func IgnoreEnvironment() { lib.ignoreEnv.Store(true) }

// candidates is where the library is looked for when $LIBHEIF_LIB is not
// set: hybridembed's cache (where the install script puts it, with any dependencies the system
// lacks in deps/ and decoder plugins in plugins/), then the system loader
// path (and Homebrew's folders on macOS).
func candidates() []string {
	ignore := lib.ignoreEnv.Load()
	var out []string
	dir := layout.HomeDir()
	if ignore {
		dir = ""
		if h, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(h, ".cache", "hybridembed")
		}
	}
	if dir != "" {
		out = append(out, filepath.Join(dir, cacheSubdir, libraryName()))
	}
	if runtime.GOOS == "darwin" {
		out = append(out, "/opt/homebrew/lib/libheif.1.dylib", "/usr/local/lib/libheif.1.dylib")
	}
	return append(out, libraryName())
}

// Load loads the library once; later calls return the same result. A
// $LIBHEIF_LIB that is set is the only place looked in, and when it cannot
// be used the error is a [*libenv.Error].
func Load() error {
	lib.once.Do(func() {
		if p := os.Getenv(libraryEnv); p != "" && !lib.ignoreEnv.Load() {
			lib.err = libenv.Stat(p)
			if lib.err == nil {
				if err := open(p); err != nil {
					lib.err = fmt.Errorf("not a usable libheif library: %w", err)
				}
			}
			if lib.err != nil {
				lib.err = &libenv.Error{Var: libraryEnv, Path: p, Lib: libraryName(), Err: lib.err}
				return
			}
			lib.path, lib.version = p, C.GoString(C.hf_version())
			return
		}
		var msgs []string
		for _, p := range candidates() {
			if strings.Contains(p, "/") {
				if _, err := os.Stat(p); err != nil {
					continue
				}
			}
			if err := open(p); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s: %v", p, err))
				continue
			}
			lib.path, lib.version = p, C.GoString(C.hf_version())
			return
		}
		lib.err = fmt.Errorf("libheif (%s) is not installed; install it with %s, or set %s", libraryName(), installScript, libraryEnv)
		if len(msgs) > 0 {
			lib.err = fmt.Errorf("libheif (%s) was not found or not usable (%s); install it with %s, or set %s",
				libraryName(), strings.Join(msgs, "; "), installScript, libraryEnv)
		}
	})
	return lib.err
}

// open loads the library at p: first the dependencies an install put in
// deps/ beside it (each may need another, so they are retried until none
// more loads), then the library, then the plugins in plugins/.
func open(p string) error {
	dir := filepath.Dir(p)
	deps, _ := filepath.Glob(filepath.Join(dir, "deps", "*.so*"))
	for len(deps) > 0 {
		var left []string
		for _, d := range deps {
			if preload(d) != nil {
				left = append(left, d)
			}
		}
		if len(left) == len(deps) {
			return fmt.Errorf("cannot load %s: %v", left[0], preload(left[0]))
		}
		deps = left
	}
	cp := C.CString(p)
	defer C.free(unsafe.Pointer(cp))
	var cerr *C.char
	if C.hf_load(cp, &cerr) != 0 {
		return errors.New(C.GoString(cerr))
	}
	plugins := filepath.Join(dir, "plugins")
	if !strings.Contains(p, "/") || !isDir(plugins) {
		return nil
	}
	cd := C.CString(plugins)
	defer C.free(unsafe.Pointer(cd))
	var msg [256]C.char
	if C.hf_load_plugins(cd, &msg[0], C.int(len(msg))) != 0 {
		return fmt.Errorf("loading the plugins in %s: %s", plugins, C.GoString(&msg[0]))
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func preload(p string) error {
	cp := C.CString(p)
	defer C.free(unsafe.Pointer(cp))
	var cerr *C.char
	if C.hf_preload(cp, &cerr) != 0 {
		return errors.New(C.GoString(cerr))
	}
	return nil
}

// Path is the library loaded and its version, once Load succeeded.
func Path() (path, version string) {
	if Load() != nil {
		return "", ""
	}
	return lib.path, lib.version
}

// Supports reports whether the loaded library can decode codec, and why
// not: libheif 1.17 and later decode through plugins, packaged apart
// (Debian's libheif-plugin-libde265 for HEVC, libheif-plugin-dav1d for
// AV1).
func Supports(codec Codec) error {
	if err := Load(); err != nil {
		return err
	}
	if C.hf_have_decoder(C.int(codec)) == 0 {
		plugin := "libheif-plugin-libde265"
		if codec == AV1 {
			plugin = "libheif-plugin-dav1d"
		}
		return fmt.Errorf("libheif %s (%s) has no %s decoder: install its plugin (Debian/Ubuntu: %s) or run %s",
			lib.version, lib.path, codec, plugin, installScript)
	}
	return nil
}

// Errors callers can match with errors.Is.
var (
	// ErrCorrupt is a file libheif cannot read: not HEIF, truncated, or
	// broken.
	ErrCorrupt = errors.New("corrupt HEIF file")
	// ErrUnsupported is a HEIF file using what this libheif cannot decode.
	ErrUnsupported = errors.New("unsupported HEIF feature")
	// ErrTooLarge is an image over the pixel limit given to Decode.
	ErrTooLarge = errors.New("image too large")
)

// handle is an open file: its context and primary image.
type handle struct {
	ctx, img unsafe.Pointer
	w, h     int
}

// openFile reads data's container (boxes only, no pixels). data must
// stay alive and unchanged until the handle is closed: libheif reads it
// in place.
func openFile(data []byte) (handle, error) {
	if err := Load(); err != nil {
		return handle{}, err
	}
	if len(data) == 0 {
		return handle{}, &Error{Kind: ErrCorrupt, Message: "empty data"}
	}
	var hd handle
	var w, h C.int
	var msg [256]C.char
	rc := C.hf_open(unsafe.Pointer(&data[0]), C.size_t(len(data)), &hd.ctx, &hd.img, &w, &h, &msg[0], C.int(len(msg)))
	if rc != 0 {
		return handle{}, classify(int(rc), C.GoString(&msg[0]))
	}
	hd.w, hd.h = int(w), int(h)
	if hd.w <= 0 || hd.h <= 0 {
		hd.close()
		return handle{}, &Error{Kind: ErrCorrupt, Message: fmt.Sprintf("the primary image is %dx%d", hd.w, hd.h)}
	}
	return hd, nil
}

func (hd handle) close() { C.hf_close(hd.ctx, hd.img) }

func classify(code int, msg string) error {
	kind := ErrCorrupt
	switch code {
	case errUnsupportedFiletype, errUnsupportedFeature:
		kind = ErrUnsupported
	case errMemory:
		kind = ErrTooLarge
	}
	return &Error{Kind: kind, Message: strings.TrimSpace(msg)}
}

// Config reads the dimensions of data's primary image as it is shown,
// that is after its rotation and crop, without decoding any pixel.
func Config(data []byte) (w, h int, err error) {
	hd, err := openFile(data)
	if err != nil {
		return 0, 0, err
	}
	defer runtime.KeepAlive(data)
	defer hd.close()
	return hd.w, hd.h, nil
}

// Decode decodes data's primary image as Pillow-heif does (see Image),
// refusing before any pixel is decoded an image over maxPixels (when > 0).
// The pixels go into dst when it has the capacity, so that a caller can
// reuse one buffer across images.
func Decode(data []byte, maxPixels int64, dst []byte) (Image, error) {
	hd, err := openFile(data)
	if err != nil {
		return Image{}, err
	}
	defer runtime.KeepAlive(data)
	defer hd.close()
	if px := int64(hd.w) * int64(hd.h); maxPixels > 0 && px > maxPixels {
		return Image{}, &Error{Kind: ErrTooLarge, Message: fmt.Sprintf("%dx%d is %d pixels, over the limit of %d", hd.w, hd.h, px, maxPixels)}
	}
	img := Image{W: hd.w, H: hd.h}
	if n := img.W * img.H * 3; cap(dst) >= n {
		img.Pix = dst[:n]
	} else {
		img.Pix = make([]byte, n)
	}
	var msg [256]C.char
	if rc := C.hf_decode(hd.img, (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(img.W), C.int(img.H), &msg[0], C.int(len(msg))); rc != 0 {
		return Image{}, classify(int(rc), C.GoString(&msg[0]))
	}
	return img, nil
}
