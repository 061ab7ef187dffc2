//go:build cgo && linux

package ort

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>

// glibc's M_MMAP_THRESHOLD (malloc.h). mallopt is looked up at run time,
// and called only where the C library is glibc: a binary linked against
// another (musl's mallopt does nothing) must still build and run.
#define GLIBC_M_MMAP_THRESHOLD (-3)

static int pin_mmap_threshold(int bytes) {
	if (!dlsym(RTLD_DEFAULT, "gnu_get_libc_version")) return -1;
	int (*fn)(int, int) = (int (*)(int, int))dlsym(RTLD_DEFAULT, "mallopt");
	if (!fn) return -1;
	return fn(GLIBC_M_MMAP_THRESHOLD, bytes);
}
*/
import "C"

import (
	"os"
	"strings"
)

// mmapThreshold is glibc's own default threshold above which malloc maps
// a block of its own (returned to the system by free), held fixed.
const mmapThreshold = 128 << 10

// pinMallocThreshold stops glibc from raising its mmap threshold, which
// it otherwise does each time a mapped block is freed, up to 32 MiB: after
// ONNX Runtime frees its first large buffer (the parsed protobuf, a
// temporary session's weights), blocks up to that size come from malloc's
// heaps instead, and whatever is freed there stays resident behind the
// blocks still live. With full-size ViT-B/32 (505 MB of weights) that was
// 0.8-1.6 GB resident with both towers loaded, varying with which threads
// the loads ran on (each has its own 64 MiB heap), and 650 MB still
// resident once both sessions were closed; held at 128 KiB, 550 MB and
// 48 MB. Inference keeps its speed (its buffers come from ONNX Runtime's
// arena, which keeps them), and so does JPEG decoding, whose large
// buffers are now mapped fresh each time: decode + preprocess measured
// 0.418-0.420 of Pillow's time at 1024x768 and 0.407-0.418 at 12 MP, with
// the threshold held and with it fixed at 32 MiB, in one session. Loading
// pays for fresh pages each time.
//
// A threshold the user set ($MALLOC_MMAP_THRESHOLD_, $GLIBC_TUNABLES) is
// left alone, and so is every C library but glibc.
func pinMallocThreshold() {
	if os.Getenv("MALLOC_MMAP_THRESHOLD_") != "" || strings.Contains(os.Getenv("GLIBC_TUNABLES"), "malloc.mmap_threshold") {
		return
	}
	C.pin_mmap_threshold(C.int(mmapThreshold))
}
