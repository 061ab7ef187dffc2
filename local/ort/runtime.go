package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Device selects where inference runs.
type Device string

const (
	// DeviceAuto uses CUDA when the loaded runtime and the machine support
	// it, and the CPU otherwise.
	DeviceAuto Device = "auto"
	// DeviceCPU always runs on the CPU.
	DeviceCPU Device = "cpu"
	// DeviceCUDA requires CUDA and fails when it is unavailable.
	DeviceCUDA Device = "cuda"
)

// ParseDevice parses "cpu", "cuda" or "auto"; the empty string means auto.
func ParseDevice(s string) (Device, error) {
	switch d := Device(strings.ToLower(strings.TrimSpace(s))); d {
	case "":
		return DeviceAuto, nil
	case DeviceAuto, DeviceCPU, DeviceCUDA:
		return d, nil
	}
	return "", fmt.Errorf("unknown device %q (want cpu, cuda or auto)", s)
}

// EnvLibrary names the environment variable that points at the library.
const EnvLibrary = "ONNXRUNTIME_LIB"

// InstallHint is the command that installs the runtime where [Init] looks.
var InstallHint = "`scripts/install-onnxruntime.sh` (from a hybridembed checkout; `--gpu` for CUDA) or set " + EnvLibrary + "=/path/to/" + libraryFile

// ErrRuntimeNotFound is returned (wrapped in a *[LoadError]) when no ONNX
// Runtime library could be loaded.
var ErrRuntimeNotFound = errors.New("ONNX Runtime library not found")

// Config says where to look for the ONNX Runtime library.
type Config struct {
	// Library is an explicit path; it wins over everything else.
	Library string
	// CacheDir is hybridembed's cache root; the installer puts the library
	// under CacheDir/onnxruntime/GOOS-GOARCH/{cpu,gpu}/lib, so one cache can
	// hold several platforms' builds (an arm64 test run under emulation).
	CacheDir string
	// Prefer says which installed build to try first: the CUDA build for
	// DeviceCUDA and DeviceAuto, the CPU build for DeviceCPU.
	Prefer Device
}

// attempt records one place the loader tried and why it was not used.
type attempt struct {
	where string
	why   string
}

// LoadError lists every place the loader tried.
type LoadError struct {
	tried []attempt
	err   error
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.err.Error())
	b.WriteString("; install it with " + InstallHint + " (tried ")
	for i, a := range e.tried {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", a.where, a.why)
	}
	b.WriteString(")")
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.err }

// candidate is a library to try; system candidates are bare sonames that the
// dynamic loader resolves itself.
type candidate struct {
	path   string
	label  string
	system bool
}

func (c Config) candidates() []candidate {
	var out []candidate
	if c.Library != "" {
		out = append(out, candidate{path: c.Library, label: "explicit path " + c.Library})
	}
	if env := os.Getenv(EnvLibrary); env != "" {
		out = append(out, candidate{path: env, label: "$" + EnvLibrary + "=" + env})
	}
	if c.CacheDir != "" {
		flavors := []string{"cpu", "gpu"}
		if c.Prefer != DeviceCPU {
			flavors = []string{"gpu", "cpu"}
		}
		for _, f := range flavors {
			p := filepath.Join(c.CacheDir, "onnxruntime", Platform(), f, "lib", libraryFile)
			out = append(out, candidate{path: p, label: p})
		}
	}
	for _, so := range systemNames {
		out = append(out, candidate{path: so, label: "system loader path (" + so + ")", system: true})
	}
	return out
}

// Platform is this build's GOOS-GOARCH, the installer's name for the
// cache folder of this platform's runtime.
func Platform() string { return runtime.GOOS + "-" + runtime.GOARCH }

// The runtime's file name on each platform, as the official archives and
// the onnxruntime-node package ship it, and the names the system loader
// resolves.
var libraryFile, systemNames = func() (string, []string) {
	switch runtime.GOOS {
	case "darwin":
		return "libonnxruntime.dylib", []string{"libonnxruntime.dylib", "libonnxruntime.1.dylib"}
	case "windows":
		return "onnxruntime.dll", []string{"onnxruntime.dll"}
	}
	return "libonnxruntime.so", []string{"libonnxruntime.so", "libonnxruntime.so.1"}
}()
