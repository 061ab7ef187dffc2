//go:build cgo && linux

package ort

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// OrtApiBase, and the OrtApi entries used here by their index: OrtApi is a
// table of function pointers that ONNX Runtime only ever appends to, so
// an entry's index is fixed (onnxruntime_c_api.h: GetErrorMessage 2,
// ReleaseStatus 93, GetAvailableProviders 125, ReleaseAvailableProviders
// 126).
typedef struct {
	const void *const *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} ort_api_base;

typedef void *(*get_providers_t)(char ***, int *);
typedef void *(*release_providers_t)(char **, int);
typedef const char *(*error_message_t)(const void *);
typedef void (*release_status_t)(void *);

// ort_info finds the already loaded library at path (a file or a soname),
// copies the file the loader mapped into where, and lists the execution
// providers it was built with. The caller frees *out with
// ort_release_providers.
static const char *ort_info(const char *path, uint32_t api_version, char *where, size_t n, char ***out, int *count, void **api_out) {
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (!h) return dlerror();
	struct link_map *lm = NULL;
	where[0] = 0;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name) {
		strncpy(where, lm->l_name, n - 1);
		where[n - 1] = 0;
	}
	ort_api_base *(*get_base)(void) = (ort_api_base *(*)(void))dlsym(h, "OrtGetApiBase");
	dlclose(h); // drops only the reference taken above
	if (!get_base) return "no OrtGetApiBase";
	const void *const *api = get_base()->GetApi(api_version);
	if (!api) return "the library does not offer the ONNX Runtime API version this build uses";
	void *status = ((get_providers_t)api[125])(out, count);
	if (status) {
		static char msg[512];
		strncpy(msg, ((error_message_t)api[2])(status), sizeof msg - 1);
		msg[sizeof msg - 1] = 0;
		((release_status_t)api[93])(status);
		return msg;
	}
	*api_out = (void *)api;
	return NULL;
}

static void ort_release_providers(void *api, char **p, int n) {
	((release_providers_t)((const void *const *)api)[126])(p, n);
}

static char *provider_at(char **p, int i) { return p[i]; }
*/
import "C"

import (
	"errors"
	"unsafe"
)

// ortAPIVersion is the OrtApi version onnxruntime_go asks for (its
// onnxruntime_c_api.h's ORT_API_VERSION): a library that loads at all
// offers it.
const ortAPIVersion = 24

// libraryInfo resolves the loaded library's file and lists its providers.
func libraryInfo(lib string) (file string, providers []string, err error) {
	cpath := C.CString(lib)
	defer C.free(unsafe.Pointer(cpath))
	where := make([]byte, 4096)
	var list **C.char
	var n C.int
	var api unsafe.Pointer
	if msg := C.ort_info(cpath, ortAPIVersion, (*C.char)(unsafe.Pointer(&where[0])), C.size_t(len(where)), &list, &n, &api); msg != nil {
		return "", nil, errors.New(C.GoString(msg))
	}
	file = C.GoString((*C.char)(unsafe.Pointer(&where[0])))
	for i := 0; i < int(n); i++ {
		providers = append(providers, C.GoString(C.provider_at(list, C.int(i))))
	}
	C.ort_release_providers(api, list, n)
	return file, providers, nil
}
