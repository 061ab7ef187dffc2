//go:build cgo && linux

package cuda

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

// open_global dlopens path with RTLD_NOW | RTLD_GLOBAL; on success it
// copies where the loader found the file into where (the soname alone
// names no folder).
static void *open_global(const char *path, char **err, char *where, size_t n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		*err = dlerror();
		return NULL;
	}
	struct link_map *lm = NULL;
	where[0] = 0;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name) {
		strncpy(where, lm->l_name, n - 1);
		where[n - 1] = 0;
	}
	return h;
}

// The CUDA driver API (cuda.h), bound at run time: a machine without the
// driver still runs, and says so.
typedef int (*cuInit_t)(unsigned int);
typedef int (*cuDriverGetVersion_t)(int *);
typedef int (*cuDeviceGetCount_t)(int *);
typedef int (*cuDeviceGet_t)(int *, int);
typedef int (*cuDeviceGetName_t)(char *, int, int);
typedef int (*cuDeviceTotalMem_t)(size_t *, int);
typedef int (*cuDeviceGetAttribute_t)(int *, int, int);
typedef int (*cuGetErrorString_t)(int, const char **);

static cuInit_t p_cuInit;
static cuDriverGetVersion_t p_cuDriverGetVersion;
static cuDeviceGetCount_t p_cuDeviceGetCount;
static cuDeviceGet_t p_cuDeviceGet;
static cuDeviceGetName_t p_cuDeviceGetName;
static cuDeviceTotalMem_t p_cuDeviceTotalMem;
static cuDeviceGetAttribute_t p_cuDeviceGetAttribute;
static cuGetErrorString_t p_cuGetErrorString;

static const char *cu_bind(void *h) {
	p_cuInit = (cuInit_t)dlsym(h, "cuInit");
	p_cuDriverGetVersion = (cuDriverGetVersion_t)dlsym(h, "cuDriverGetVersion");
	p_cuDeviceGetCount = (cuDeviceGetCount_t)dlsym(h, "cuDeviceGetCount");
	p_cuDeviceGet = (cuDeviceGet_t)dlsym(h, "cuDeviceGet");
	p_cuDeviceGetName = (cuDeviceGetName_t)dlsym(h, "cuDeviceGetName");
	p_cuDeviceTotalMem = (cuDeviceTotalMem_t)dlsym(h, "cuDeviceTotalMem_v2");
	p_cuDeviceGetAttribute = (cuDeviceGetAttribute_t)dlsym(h, "cuDeviceGetAttribute");
	p_cuGetErrorString = (cuGetErrorString_t)dlsym(h, "cuGetErrorString");
	if (!p_cuInit || !p_cuDriverGetVersion || !p_cuDeviceGetCount || !p_cuDeviceGet ||
	    !p_cuDeviceGetName || !p_cuDeviceTotalMem || !p_cuDeviceGetAttribute) {
		return "libcuda.so.1 lacks the driver API functions (cuInit, cuDeviceGet...)";
	}
	return NULL;
}

static const char *cu_error(int res) {
	const char *s = NULL;
	if (p_cuGetErrorString && p_cuGetErrorString(res, &s) == 0 && s) return s;
	return "unknown CUDA driver error";
}

static int cu_init(void) { return p_cuInit(0); }
static int cu_driver_version(int *v) { return p_cuDriverGetVersion(v); }
static int cu_count(int *n) { return p_cuDeviceGetCount(n); }

static int cu_device(int i, char *name, int n, size_t *mem, int *major, int *minor) {
	int d, res;
	if ((res = p_cuDeviceGet(&d, i)) != 0) return res;
	if ((res = p_cuDeviceGetName(name, n, d)) != 0) return res;
	if ((res = p_cuDeviceTotalMem(mem, d)) != 0) return res;
	// CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, _MINOR
	if ((res = p_cuDeviceGetAttribute(major, 75, d)) != 0) return res;
	return p_cuDeviceGetAttribute(minor, 76, d);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// dlopenGlobal opens path (a file, or a soname for the loader to resolve)
// with RTLD_NOW | RTLD_GLOBAL and returns where the loader found it. The
// handle is never closed: the library stays for the process's life.
func dlopenGlobal(path string) (string, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	where := make([]byte, 4096)
	h := C.open_global(cpath, &cerr, (*C.char)(unsafe.Pointer(&where[0])), C.size_t(len(where)))
	if h == nil {
		return "", errors.New(C.GoString(cerr))
	}
	return C.GoString((*C.char)(unsafe.Pointer(&where[0]))), nil
}

// probeDriver asks the CUDA driver API for the driver's CUDA version and
// the GPUs.
func probeDriver() (lib string, cudaVersion int, gpus []GPU, err error) {
	cname := C.CString(Driver)
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.char
	where := make([]byte, 4096)
	h := C.open_global(cname, &cerr, (*C.char)(unsafe.Pointer(&where[0])), C.size_t(len(where)))
	if h == nil {
		return "", 0, nil, fmt.Errorf("%w: %s", errNoDriver, C.GoString(cerr))
	}
	lib = C.GoString((*C.char)(unsafe.Pointer(&where[0])))
	if msg := C.cu_bind(h); msg != nil {
		return lib, 0, nil, errors.New(C.GoString(msg))
	}
	if res := C.cu_init(); res != 0 {
		return lib, 0, nil, fmt.Errorf("cuInit: %s (error %d)", C.GoString(C.cu_error(res)), int(res))
	}
	var v C.int
	if res := C.cu_driver_version(&v); res == 0 {
		cudaVersion = int(v)
	}
	var n C.int
	if res := C.cu_count(&n); res != 0 {
		return lib, cudaVersion, nil, fmt.Errorf("cuDeviceGetCount: %s", C.GoString(C.cu_error(res)))
	}
	name := make([]byte, 256)
	for i := 0; i < int(n); i++ {
		var mem C.size_t
		var major, minor C.int
		if res := C.cu_device(C.int(i), (*C.char)(unsafe.Pointer(&name[0])), C.int(len(name)), &mem, &major, &minor); res != 0 {
			return lib, cudaVersion, gpus, fmt.Errorf("GPU %d: %s", i, C.GoString(C.cu_error(res)))
		}
		gpus = append(gpus, GPU{Index: i, Name: C.GoString((*C.char)(unsafe.Pointer(&name[0]))),
			MemoryMiB: int64(mem) >> 20, Compute: fmt.Sprintf("%d.%d", int(major), int(minor))})
	}
	return lib, cudaVersion, gpus, nil
}

const canLoad = true
