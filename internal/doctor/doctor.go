// Package doctor examines what local inference runs on here: the ONNX
// Runtime library (which build, which version, its providers), the GPUs the
// NVIDIA driver reports, every CUDA library the CUDA provider needs (found
// or missing, and where), libjpeg-turbo, libheif, and the device "auto" would pick,
// and for every problem the command that fixes it. `hybridembed doctor`
// prints its [Report].
package doctor

import (
	"context"
	"errors"
	"os"

	// local registers libjpeg-turbo's and libheif's bindings with
	// imageprep, as in every program that embeds.
	_ "github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/libheif"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/cuda"
	"github.com/hybridembed/hybridembed/models/layout"
)

// ParseDevice reads a --device value for [Options.Device].
func ParseDevice(s string) (ort.Device, error) { return ort.ParseDevice(s) }

// Options say what to examine.
type Options struct {
	// Device is the device asked for (--device): the decision is about it.
	Device ort.Device
	// Library is an explicit ONNX Runtime path (as WithRuntimeLibrary);
	// empty searches as the engine does.
	Library string
	// NoProbe skips opening a test graph on the GPU when CUDA looks ready.
	NoProbe bool
}

// Report is what [Examine] found.
type Report struct {
	Runtime Runtime      `json:"onnxruntime"`
	GPUs    cuda.Devices `json:"gpus"`
	CUDA    CUDA         `json:"cuda"`
	JPEG    JPEG         `json:"jpeg"`
	HEIF    HEIF         `json:"heif"`
	Device  Decision     `json:"device"`
	// Problems are what stands between this machine and the device asked
	// for (or a GPU it has), each with its fix; empty when there is none.
	Problems []Problem `json:"problems"`
}

// Runtime is the ONNX Runtime library loaded.
type Runtime struct {
	ort.RuntimeInfo
	// Build is "cuda" (the CUDA provider is beside the library) or "cpu".
	Build string `json:"build,omitempty"`
	// Error is why no library loaded.
	Error string `json:"error,omitempty"`
}

// CUDA is whether CUDA can be used here, and the libraries it needs.
type CUDA struct {
	Available bool `json:"available"`
	// Reason says why it is not available; Fix what makes it so.
	Reason string `json:"reason,omitempty"`
	Fix    string `json:"fix,omitempty"`
	// Provider is the CUDA provider library whose needs are listed, or ""
	// when the runtime is a CPU build (the libraries listed are then those
	// the CUDA build scripts/install-onnxruntime.sh --gpu installs needs).
	Provider  string `json:"provider,omitempty"`
	CUDAMajor int    `json:"cuda_major,omitempty"`
	// Libraries are the CUDA and cuDNN libraries needed: where each was
	// found, or other versions seen where it was not.
	Libraries []cuda.Library `json:"libraries"`
	// Searched are the folders looked in, in order.
	Searched []cuda.Dir `json:"searched,omitempty"`
	// Probe is "ok" once a convolution ran on the GPU, else why not ("" if
	// not tried).
	Probe string `json:"probe,omitempty"`
}

// JPEG is the JPEG decoder in use.
type JPEG struct {
	Decoder string `json:"decoder"`
	Reason  string `json:"reason,omitempty"`
}

// HEIF is whether HEIC, HEIF and AVIF photos decode here (through
// libheif), and why not.
type HEIF struct {
	Library string `json:"library,omitempty"`
	Version string `json:"version,omitempty"`
	// HEIC and AVIF are "ok", or why not.
	HEIC string `json:"heic"`
	AVIF string `json:"avif"`
}

// Decision is where local models would run.
type Decision struct {
	Requested string `json:"requested"`
	// Runs is "cuda" or "cpu", or "" when local inference cannot run.
	Runs   string `json:"runs"`
	Reason string `json:"reason"`
}

// Problem is one thing to fix.
type Problem struct {
	What string `json:"what"`
	Fix  string `json:"fix"`
}

// pinnedNeeds is what the CUDA build that scripts/install-onnxruntime.sh
// --gpu installs needs (its provider's DT_NEEDED, read with readelf -d
// from com.github.asus4.onnxruntime.linux-x64-gpu 0.4.9, and the cuDNN 9
// it opens at run time; the official CUDA 13 archive needs the same
// families), listed on a CPU build so that a user can see what a GPU build
// would find.
var pinnedNeeds = cuda.Needs{CUDA: 13, Libraries: []string{"libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcudnn.so.9"}}

// Examine looks at this machine. It loads ONNX Runtime (and, where CUDA
// looks usable, the CUDA libraries) into the process, as an engine would.
func Examine(ctx context.Context, opts Options) (r Report) {
	dev := opts.Device
	if dev == "" {
		dev = ort.DeviceAuto
	}
	r.Device = Decision{Requested: string(dev)}
	defer func() {
		if r.Problems == nil {
			r.Problems = []Problem{}
		}
		if r.GPUs.GPUs == nil {
			r.GPUs.GPUs = []cuda.GPU{}
		}
	}()
	r.JPEG = examineJPEG()
	if r.JPEG.Decoder != imageprep.JPEGTurbo {
		r.problem("JPEGs decode with Go's decoder, within a few levels of Pillow's pixels: "+r.JPEG.Reason,
			"`scripts/install-libjpeg-turbo.sh` (or install libturbojpeg0 and set TURBOJPEG_LIB)")
	}
	r.HEIF = examineHEIF()
	if r.HEIF.HEIC != "ok" {
		r.problem("HEIC photos (what phones write) cannot be decoded, so walks skip them as unsupported: "+r.HEIF.HEIC,
			"`scripts/install-libheif.sh` (or install libheif and set LIBHEIF_LIB)")
	}

	prefer := dev
	if _, err := ort.Init(ort.Config{Library: opts.Library, CacheDir: layout.HomeDir(), Prefer: prefer}); err != nil {
		r.Runtime.Error = err.Error()
		fix := "install it with " + ort.InstallHint
		if errors.Is(err, ort.ErrRuntimeUnusable) && os.Getenv(ort.EnvLibrary) != "" {
			fix = "point " + ort.EnvLibrary + " at libonnxruntime's file, or unset it to use hybridembed's cache"
		}
		r.problem("no usable ONNX Runtime: "+err.Error(), fix)
		r.Device.Reason = "local models cannot run: no ONNX Runtime"
		r.GPUs = cuda.Probe()
		r.CUDA = CUDA{Reason: "no ONNX Runtime is loaded", Fix: fix}
		r.listLibraries(pinnedNeeds, "")
		return r
	}
	info, err := ort.Runtime()
	if err != nil {
		r.Runtime.Error = err.Error()
	}
	r.Runtime.RuntimeInfo, r.Runtime.Build = info, info.Build()

	st := ort.PrepareCUDA()
	r.GPUs = st.Devices
	if len(r.GPUs.GPUs) == 0 && r.GPUs.Error == "" && r.GPUs.Via == "" {
		r.GPUs = cuda.Probe() // a CPU build stops before asking the driver
	}
	switch {
	case st.Libraries != nil:
		r.CUDA.Provider, r.CUDA.CUDAMajor = st.Libraries.Needs.Provider, st.Libraries.Needs.CUDA
		r.CUDA.Libraries, r.CUDA.Searched = st.Libraries.Libraries, st.Libraries.Searched
	case info.CUDAProvider != "":
		if rep, err := cuda.Inspect(info.CUDAProvider, cuda.Env{}); err == nil {
			r.CUDA.Provider, r.CUDA.CUDAMajor, r.CUDA.Libraries, r.CUDA.Searched = rep.Needs.Provider, rep.Needs.CUDA, rep.Libraries, rep.Searched
		} else {
			r.CUDA.Provider = info.CUDAProvider
			r.CUDA.Reason = err.Error()
		}
	default:
		r.listLibraries(pinnedNeeds, "")
	}
	r.CUDA.Available = st.Err == nil
	if st.Err == nil && !opts.NoProbe {
		if err := ort.ProbeCUDA(ctx, 0); err != nil {
			r.CUDA.Available, r.CUDA.Probe = false, err.Error()
			st.Err = err
		} else {
			r.CUDA.Probe = "ok"
		}
	}
	hasGPU := len(r.GPUs.GPUs) > 0 || cuda.HasGPU()
	if st.Err != nil {
		r.CUDA.Reason = st.Err.Error()
		r.CUDA.Fix = r.cudaFix(info, st)
	}
	switch {
	case dev == ort.DeviceCPU:
		r.Device.Runs, r.Device.Reason = "cpu", "asked for"
		if hasGPU && st.Err == nil {
			r.Device.Reason += " (CUDA works here: --device auto would use the GPU)"
		}
	case st.Err == nil:
		r.Device.Runs, r.Device.Reason = "cuda", "CUDA works here"
	case dev == ort.DeviceCUDA:
		r.Device.Reason = "fails: " + st.Err.Error()
		r.problem("--device cuda asked for, but "+st.Err.Error(), r.CUDA.Fix)
	default:
		r.Device.Runs = "cpu"
		if hasGPU {
			r.Device.Reason = "falls back to the CPU although this machine has a GPU: " + st.Err.Error()
			r.problem("this machine has a GPU but models run on the CPU: "+st.Err.Error(), r.CUDA.Fix)
		} else {
			r.Device.Reason = "no GPU here"
		}
	}
	return r
}

// cudaFix is the command that fixes the first thing stopping CUDA.
func (r *Report) cudaFix(info ort.RuntimeInfo, st ort.CUDAStatus) string {
	switch {
	case info.CUDAProvider == "":
		return "install ONNX Runtime's CUDA build: " + ort.InstallGPUHint + ", or point " + ort.EnvLibrary + " at one"
	case len(st.Devices.GPUs) == 0:
		return "install the NVIDIA driver (`nvidia-smi` should list the GPU), or give the container the GPU (`docker run --gpus all`)"
	case st.Libraries != nil && len(st.Libraries.Missing()) > 0:
		return cuda.Fix(st.Libraries.Missing(), st.Libraries.Needs.CUDA)
	}
	return "this ONNX Runtime build cannot run on the GPU (see the reason; a GPU newer than the build, or a driver older than its CUDA): try the other official build, `scripts/install-onnxruntime.sh --gpu --cuda 12 --force` or `--cuda 13`, and update the driver"
}

// listLibraries fills the CUDA libraries from needs alone (no provider to
// read), where they are found.
func (r *Report) listLibraries(needs cuda.Needs, provider string) {
	dirs := cuda.Env{}.Dirs()
	r.CUDA.Provider, r.CUDA.CUDAMajor = provider, needs.CUDA
	r.CUDA.Libraries, r.CUDA.Searched = cuda.Find(needs.Libraries, needs.CUDA, dirs), dirs
}

func (r *Report) problem(what, fix string) {
	r.Problems = append(r.Problems, Problem{What: what, Fix: fix})
}

func examineHEIF() HEIF {
	var h HEIF
	h.Library, h.Version = libheif.Path()
	say := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	h.HEIC, h.AVIF = say(imageprep.Available(imageprep.HEIF)), say(imageprep.Available(imageprep.AVIF))
	return h
}

func examineJPEG() JPEG {
	name, why := imageprep.JPEGDecoder()
	j := JPEG{Decoder: name}
	if why != nil {
		j.Reason = why.Error()
	}
	return j
}
