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

// ErrRuntimeUnusable is returned (wrapped in a *[LoadError]) when the
// library named explicitly ($ONNXRUNTIME_LIB or [Config.Library]) is
// missing or does not load: a setting that is wrong is an error, never
// quietly replaced by another build.
var ErrRuntimeUnusable = errors.New("the ONNX Runtime library named is unusable")

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
	// IgnoreEnv leaves $ONNXRUNTIME_LIB out of the search.
	IgnoreEnv bool
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
	if errors.Is(e.err, ErrRuntimeUnusable) && len(e.tried) == 1 {
		a := e.tried[0]
		fmt.Fprintf(&b, "%s: %s: %s; ", e.err.Error(), a.where, a.why)
		if strings.HasPrefix(a.where, "$"+EnvLibrary) {
			b.WriteString("point " + EnvLibrary + " at libonnxruntime's file, or unset it to use hybridembed's cache (installed by " + InstallHint + ")")
		} else {
			b.WriteString("pass the path of libonnxruntime's file, or none to search ($" + EnvLibrary + ", hybridembed's cache, the system)")
		}
		return b.String()
	}
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
// dynamic loader resolves itself. An explicit candidate is the only one
// tried: if it does not load, that is the error.
type candidate struct {
	path     string
	label    string
	system   bool
	explicit bool
}

func (c Config) candidates() []candidate {
	if c.Library != "" {
		return []candidate{{path: c.Library, label: "explicit path " + c.Library, explicit: true}}
	}
	if env := os.Getenv(EnvLibrary); env != "" && !c.IgnoreEnv {
		return []candidate{{path: env, label: "$" + EnvLibrary + "=" + env, explicit: true}}
	}
	var out []candidate
	if c.CacheDir != "" {
		flavors := []string{"cpu", "gpu"}
		if c.Prefer != DeviceCPU {
			flavors = []string{"gpu", "cpu"}
		}
		for _, f := range flavors {
			p := filepath.Join(c.CacheDir, "onnxruntime", Platform(), f, "lib", libraryFile)
			out = append(out, candidate{path: p, label: "hybridembed's cache " + p})
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

// RuntimeInfo describes the loaded ONNX Runtime library.
type RuntimeInfo struct {
	// Library is the file loaded (where the loader found it, when it was
	// loaded by soname from the system loader path).
	Library string `json:"library"`
	// Source says how it was found: $ONNXRUNTIME_LIB=..., an explicit
	// path, hybridembed's cache, or the system loader path.
	Source  string `json:"found_by"`
	Version string `json:"version"`
	// Providers are the execution providers the library says it was built
	// with (ONNX Runtime's GetAvailableProviders). A core built with CUDA
	// lists CUDAExecutionProvider even where the provider library is
	// absent, so the build is told by CUDAProvider.
	Providers []string `json:"providers,omitempty"`
	// CUDAProvider is libonnxruntime_providers_cuda.so beside the library
	// (what ONNX Runtime opens to register CUDA); "" for a CPU build.
	CUDAProvider string `json:"cuda_provider,omitempty"`
	// Installed is what scripts/install-onnxruntime.sh recorded about the
	// build (its SOURCE file), when it installed this one.
	Installed string `json:"installed,omitempty"`
}

// Build is "cuda" when the CUDA provider library is beside the runtime,
// else "cpu".
func (r RuntimeInfo) Build() string {
	if r.CUDAProvider != "" {
		return "cuda"
	}
	return "cpu"
}

// runtimeInfo fills in what the files beside the library say.
func runtimeInfo(lib, source, version string) RuntimeInfo {
	info := RuntimeInfo{Library: lib, Source: source, Version: version}
	file, providers, err := libraryInfo(lib)
	if err == nil {
		info.Providers = providers
		if file != "" {
			info.Library = file
		}
	}
	if filepath.IsAbs(info.Library) {
		if real, err := filepath.EvalSymlinks(info.Library); err == nil {
			info.Library = real
		}
		dir := filepath.Dir(info.Library)
		if st, err := os.Stat(filepath.Join(dir, cudaProviderFile)); err == nil && st.Mode().IsRegular() {
			info.CUDAProvider = filepath.Join(dir, cudaProviderFile)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "..", "SOURCE")); err == nil {
			info.Installed = strings.TrimSpace(string(b))
		}
	}
	return info
}

// cudaProviderFile is the CUDA provider's file name on this platform.
var cudaProviderFile = func() string {
	if runtime.GOOS == "windows" {
		return "onnxruntime_providers_cuda.dll"
	}
	return "libonnxruntime_providers_cuda.so"
}()

// InstallGPUHint is the command that installs ONNX Runtime's CUDA build.
const InstallGPUHint = "`scripts/install-onnxruntime.sh --gpu` (from a hybridembed checkout; on a machine without a network, `--gpu --from DIR` with the archives copied there)"
