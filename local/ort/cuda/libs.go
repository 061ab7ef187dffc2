package cuda

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Driver is the NVIDIA driver's user-space library: the provider needs it,
// but it comes with the driver (or the container runtime injects it), never
// from a toolkit or a wheel, so it is reported and not preloaded.
const Driver = "libcuda.so.1"

// ProviderFile is the CUDA provider's file name beside libonnxruntime.so.
const ProviderFile = "libonnxruntime_providers_cuda.so"

// cudnnDefault is the cuDNN the provider needs when its DT_NEEDED does not
// name one: ONNX Runtime's recent CUDA providers open libcudnn.so.9 at run
// time (cuDNN frontend's dynamic loading), and CLIP's patch embedding is a
// convolution, which runs on cuDNN.
const cudnnDefault = "libcudnn.so.9"

// Library is one CUDA library the provider needs, and where it was found.
type Library struct {
	// Name is the soname, e.g. libcublas.so.13.
	Name string `json:"name"`
	// What says what it is, e.g. "cuBLAS (CUDA 13)".
	What string `json:"what"`
	// Path is where it was found ("" when it was not).
	Path string `json:"path,omitempty"`
	// Origin is the found folder's [Dir.Origin].
	Origin string `json:"origin,omitempty"`
	// Others are other versions of the same library found meanwhile
	// (libcublas.so.12 where .13 is needed): the usual reason a CUDA
	// provider will not load.
	Others []string `json:"other_versions,omitempty"`
	// Pip is the pip package that ships it (for the CUDA version needed).
	Pip string `json:"pip,omitempty"`
	// Loaded is set once [Load] has opened it; Error says why it could not.
	Loaded bool   `json:"loaded,omitempty"`
	Error  string `json:"error,omitempty"`
	// Helper marks a library loaded only because another needs it and the
	// loader would not find it by itself (cuDNN's sub-libraries outside the
	// loader path).
	Helper bool `json:"helper,omitempty"`
}

// Found reports whether the library was found.
func (l Library) Found() bool { return l.Path != "" }

// Needs is what a CUDA provider library needs.
type Needs struct {
	// Provider is the provider library read.
	Provider string `json:"provider"`
	// CUDA is the CUDA major version it was built for (from libcudart.so.N),
	// 0 when it names none.
	CUDA int `json:"cuda_major,omitempty"`
	// Driver reports whether it needs libcuda.so.1.
	Driver bool `json:"-"`
	// Libraries are the CUDA and cuDNN sonames it needs, in DT_NEEDED
	// order, cuDNN last when it is opened at run time.
	Libraries []string `json:"libraries"`
}

// cudaLib matches the sonames of NVIDIA's CUDA libraries (not the driver).
var cudaLib = regexp.MustCompile(`^lib(cudart|cublas|cublasLt|curand|cufft|cufftw|cusparse|cusolver|cudnn[a-z_]*|nvrtc|nvrtc-builtins|nvJitLink|nvjpeg|npp[a-z]*)\.so\.(\d+)`)

// ReadNeeds reads what the provider library at path needs.
func ReadNeeds(path string) (Needs, error) {
	names, err := dtNeeded(path)
	if err != nil {
		return Needs{}, fmt.Errorf("%s: %w", path, err)
	}
	n := Needs{Provider: path}
	cudnn := false
	for _, name := range names {
		if name == Driver {
			n.Driver = true
			continue
		}
		m := cudaLib.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		n.Libraries = append(n.Libraries, name)
		if m[1] == "cudart" {
			n.CUDA, _ = strconv.Atoi(m[2])
		}
		if strings.HasPrefix(m[1], "cudnn") {
			cudnn = true
		}
	}
	if !cudnn {
		n.Libraries = append(n.Libraries, cudnnDefault)
	}
	return n, nil
}

// dtNeeded is a shared object's DT_NEEDED list.
func dtNeeded(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ImportedLibraries()
}

// runpathHasOrigin reports whether a library's RUNPATH or RPATH names its
// own folder ($ORIGIN), so that what it opens by soname is found beside it.
func runpathHasOrigin(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, p := range strings.Split(v, ":") {
				if p == "$ORIGIN" || p == "${ORIGIN}" || p == "$ORIGIN/" {
					return true
				}
			}
		}
	}
	return false
}

// base and major split a soname: libcublas.so.13 -> libcublas, 13.
func splitSoname(name string) (base string, major int) {
	i := strings.Index(name, ".so.")
	if i < 0 {
		return strings.TrimSuffix(name, ".so"), -1
	}
	major, err := strconv.Atoi(strings.SplitN(name[i+4:], ".", 2)[0])
	if err != nil {
		major = -1
	}
	return name[:i], major
}

// describe names a library and the pip package that ships it for the CUDA
// major version cuda (0: unknown).
func describe(name string, cuda int) (what, pip string) {
	base, major := splitSoname(name)
	ver := ""
	if cuda > 0 {
		ver = fmt.Sprintf(" (CUDA %d)", cuda)
	}
	// CUDA 13's wheels dropped the -cuNN suffix (they share nvidia/cu13);
	// cuDNN's kept it.
	wheel := func(pkg string) string {
		switch {
		case cuda >= 13:
			return pkg
		case cuda > 0:
			return fmt.Sprintf("%s-cu%d", pkg, cuda)
		}
		return pkg
	}
	cudnnWheel := "nvidia-cudnn-cu13"
	if cuda > 0 {
		cudnnWheel = fmt.Sprintf("nvidia-cudnn-cu%d", cuda)
	}
	switch base {
	case "libcudart":
		return "CUDA runtime" + ver, wheel("nvidia-cuda-runtime")
	case "libcublas":
		return "cuBLAS" + ver, wheel("nvidia-cublas")
	case "libcublasLt":
		return "cuBLASLt" + ver, wheel("nvidia-cublas")
	case "libcurand":
		return "cuRAND" + ver, wheel("nvidia-curand")
	case "libcufft", "libcufftw":
		return "cuFFT" + ver, wheel("nvidia-cufft")
	case "libcusparse":
		return "cuSPARSE" + ver, wheel("nvidia-cusparse")
	case "libcusolver":
		return "cuSOLVER" + ver, wheel("nvidia-cusolver")
	case "libnvrtc", "libnvrtc-builtins":
		return "NVRTC" + ver, wheel("nvidia-cuda-nvrtc")
	case "libnvJitLink":
		return "nvJitLink" + ver, wheel("nvidia-nvjitlink")
	case "libnvjpeg":
		return "nvJPEG" + ver, wheel("nvidia-nvjpeg")
	}
	if strings.HasPrefix(base, "libcudnn") {
		if major > 0 {
			return fmt.Sprintf("cuDNN %d", major), cudnnWheel
		}
		return "cuDNN", cudnnWheel
	}
	return base, ""
}

// Find looks for each soname in dirs, in order: the first folder holding it
// wins. Folders that hold another major version of a library not found
// are noted in [Library.Others].
func Find(names []string, cudaMajor int, dirs []Dir) []Library {
	out := make([]Library, 0, len(names))
	for _, name := range names {
		lib := Library{Name: name}
		lib.What, lib.Pip = describe(name, cudaMajor)
		base, major := splitSoname(name)
		for _, d := range dirs {
			p := filepath.Join(d.Path, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				lib.Path, lib.Origin = p, d.Origin
				break
			}
		}
		if !lib.Found() {
			for _, d := range dirs {
				others, _ := filepath.Glob(filepath.Join(d.Path, base+".so.*"))
				sort.Strings(others)
				for _, o := range others {
					if _, m := splitSoname(filepath.Base(o)); m >= 0 && m != major && strings.Count(filepath.Base(o), ".") == strings.Count(name, ".") {
						lib.Others = append(lib.Others, o)
					}
				}
			}
		}
		out = append(out, lib)
	}
	return out
}

// cudnnHelpers adds, for a libcudnn.so.N found outside the loader path
// without $ORIGIN in its RUNPATH, the sub-libraries it opens by soname at
// run time (libcudnn_graph.so.N, libcudnn_ops.so.N, ...): the loader would
// not find them, and cuDNN would fail at its first convolution. The pip
// wheels set RUNPATH=$ORIGIN, so there (as PyTorch and ONNX Runtime do)
// only libcudnn.so.N itself is loaded.
func cudnnHelpers(libs []Library, dirs []Dir) []Library {
	loader := map[string]bool{}
	for _, d := range dirs {
		if d.Loader {
			loader[d.Path] = true
		}
	}
	out := libs
	for _, l := range libs {
		base, major := splitSoname(l.Name)
		if base != "libcudnn" || !l.Found() || loader[filepath.Dir(l.Path)] || runpathHasOrigin(l.Path) {
			continue
		}
		subs, _ := filepath.Glob(filepath.Join(filepath.Dir(l.Path), fmt.Sprintf("libcudnn_*.so.%d", major)))
		sort.Strings(subs)
		for _, s := range subs {
			name := filepath.Base(s)
			if slices.ContainsFunc(out, func(x Library) bool { return x.Name == name }) {
				continue
			}
			out = append(out, Library{Name: name, What: "cuDNN sub-library", Path: s, Origin: l.Origin, Pip: l.Pip, Helper: true})
		}
	}
	return out
}

// loadOrder sorts the found libraries so that each comes after the found
// libraries it needs (its own DT_NEEDED), keeping the given order
// otherwise: dlopen of libcublas.so.13 from a folder the loader does not
// search succeeds only once libcublasLt.so.13 is loaded. Files that are not
// ELF (or cycles) keep their place.
func loadOrder(libs []Library) []Library {
	idx := map[string]int{}
	for i, l := range libs {
		idx[l.Name] = i
	}
	deps := make([][]int, len(libs))
	for i, l := range libs {
		if !l.Found() {
			continue
		}
		needed, _ := dtNeeded(l.Path)
		for _, n := range needed {
			if j, ok := idx[n]; ok && j != i && libs[j].Found() {
				deps[i] = append(deps[i], j)
			}
		}
	}
	state := make([]int, len(libs)) // 0 new, 1 visiting, 2 done
	out := make([]Library, 0, len(libs))
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, libs[i])
	}
	for i := range libs {
		visit(i)
	}
	return out
}
