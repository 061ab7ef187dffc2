package cuda

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Report is what [Inspect] found for one provider library.
type Report struct {
	Needs Needs `json:"needs"`
	// Libraries are the provider's CUDA and cuDNN libraries, found or not,
	// then any helpers loaded for them.
	Libraries []Library `json:"libraries"`
	// Searched are the folders looked in, in order.
	Searched []Dir `json:"searched"`
}

// Missing lists the needed libraries that were not found (or, after
// [Load], could not be loaded).
func (r Report) Missing() []Library {
	var out []Library
	for _, l := range r.Libraries {
		if !l.Helper && (!l.Found() || l.Error != "") {
			out = append(out, l)
		}
	}
	return out
}

// Inspect reads what the CUDA provider library at provider needs and looks
// for each library in env's folders ([Env.Dirs]). Nothing is loaded.
func Inspect(provider string, env Env) (Report, error) {
	if runtime.GOOS != "linux" {
		return Report{}, fmt.Errorf("CUDA library discovery is implemented for Linux only (this is %s)", runtime.GOOS)
	}
	needs, err := ReadNeeds(provider)
	if err != nil {
		return Report{}, err
	}
	dirs := env.Dirs()
	libs := cudnnHelpers(Find(needs.Libraries, needs.CUDA, dirs), dirs)
	return Report{Needs: needs, Libraries: libs, Searched: dirs}, nil
}

// Load opens the report's libraries with RTLD_GLOBAL, each after those it
// needs. A library that was not found in the searched folders is still
// asked of the loader by soname (its cache may know folders ld.so.conf
// does not list), and where it was found is recorded. Load returns an
// error naming every library that is missing or would not load; the
// others stay loaded either way.
func Load(r *Report) error {
	if !canLoad {
		return errUnsupported
	}
	ordered := loadOrder(r.Libraries)
	for i := range ordered {
		l := &ordered[i]
		target := l.Path
		if target == "" {
			target = l.Name
		}
		where, err := dlopenGlobal(target)
		if err != nil {
			if l.Found() {
				l.Error = err.Error()
			}
			continue
		}
		l.Loaded = true
		if !l.Found() {
			l.Path, l.Origin = where, "loader cache (ld.so.cache)"
			if where == "" {
				l.Path = l.Name
			}
		}
	}
	// Report in the provider's order, not the load order.
	byName := map[string]Library{}
	for _, l := range ordered {
		byName[l.Name] = l
	}
	for i, l := range r.Libraries {
		r.Libraries[i] = byName[l.Name]
	}
	if missing := r.Missing(); len(missing) > 0 {
		return &MissingError{Libraries: missing, CUDA: r.Needs.CUDA}
	}
	return nil
}

// MissingError names the CUDA libraries that could not be found or loaded,
// and what installs them.
type MissingError struct {
	Libraries []Library
	CUDA      int
}

func (e *MissingError) Error() string {
	var parts []string
	for _, l := range e.Libraries {
		s := fmt.Sprintf("%s (%s)", l.Name, l.What)
		switch {
		case l.Error != "":
			s += ": " + l.Error
		case len(l.Others) > 0:
			s += fmt.Sprintf(" not found; found %s, another version", strings.Join(l.Others, ", "))
		default:
			s += " not found"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("CUDA libraries missing: %s; %s", strings.Join(parts, "; "), e.Fix())
}

// Fix is the command (or setting) that provides the missing libraries.
func (e *MissingError) Fix() string { return Fix(e.Libraries, e.CUDA) }

// Fix says how to get libs: the pip wheels (what PyTorch's CUDA builds
// install), or a toolkit on the loader path or under $CUDA_HOME.
func Fix(libs []Library, cudaMajor int) string {
	var pips []string
	for _, l := range libs {
		if l.Pip != "" && !slices.Contains(pips, l.Pip) {
			pips = append(pips, l.Pip)
		}
	}
	toolkit := "a CUDA toolkit"
	if cudaMajor > 0 {
		toolkit = fmt.Sprintf("a CUDA %d toolkit", cudaMajor)
	}
	fix := fmt.Sprintf("install them with `pip install %s` (found in Python's site-packages), or set CUDA_HOME to %s with cuDNN 9 (or add its lib64 to LD_LIBRARY_PATH)",
		strings.Join(pips, " "), toolkit)
	if len(pips) == 0 {
		fix = fmt.Sprintf("set CUDA_HOME to %s with cuDNN 9 (or add its lib64 to LD_LIBRARY_PATH)", toolkit)
	}
	return fix
}

// GPU is one device the driver reports.
type GPU struct {
	Index     int    `json:"index"`
	Name      string `json:"name"`
	MemoryMiB int64  `json:"memory_mib"`
	// Compute is the compute capability, e.g. "9.0".
	Compute string `json:"compute_capability,omitempty"`
}

// Devices is what the driver says about this machine's GPUs.
type Devices struct {
	// Via is how they were read: "libcuda.so.1" (the CUDA driver API,
	// loaded at run time) or "nvidia-smi".
	Via string `json:"via,omitempty"`
	// Library is the driver library loaded.
	Library string `json:"library,omitempty"`
	// Driver is the kernel driver's version (e.g. 580.159.03).
	Driver string `json:"driver,omitempty"`
	// CUDA is the newest CUDA version the driver supports (e.g. 13.0).
	CUDA string `json:"cuda,omitempty"`
	GPUs []GPU  `json:"gpus"`
	// Error says why no GPU could be listed.
	Error string `json:"error,omitempty"`
}

var errUnsupported = errors.New("CUDA libraries are loaded by Linux builds with cgo only (this is " + runtime.GOOS + ", or a build without cgo)")

var errNoDriver = errors.New("no NVIDIA driver (libcuda.so.1 cannot be loaded)")

var (
	probeOnce sync.Once
	probed    Devices
)

// Probe lists the GPUs through the CUDA driver API, else through
// nvidia-smi. It runs once per process (cuInit is not cheap) and is safe
// for concurrent use.
func Probe() Devices {
	probeOnce.Do(func() { probed = probe() })
	return probed
}

func probe() Devices {
	d := Devices{Driver: kernelDriver()}
	lib, ver, gpus, err := probeDriver()
	if err == nil {
		d.Via, d.Library, d.GPUs = Driver, lib, gpus
		if ver > 0 {
			d.CUDA = fmt.Sprintf("%d.%d", ver/1000, ver%1000/10)
		}
		return d
	}
	if smi, serr := nvidiaSMI(); serr == nil {
		smi.Error = "" // nvidia-smi answered
		if smi.Driver == "" {
			smi.Driver = d.Driver
		}
		smi.Library = lib
		return smi
	}
	d.Error = err.Error()
	if lib != "" {
		d.Library = lib
	}
	return d
}

// HasGPU reports whether the machine has an NVIDIA GPU, even one that
// CUDA cannot use now (the device nodes or the kernel driver say so).
func HasGPU() bool {
	if len(Probe().GPUs) > 0 {
		return true
	}
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		return true
	}
	entries, _ := os.ReadDir("/proc/driver/nvidia/gpus")
	return len(entries) > 0
}

// kernelDriver reads the NVIDIA kernel module's version.
func kernelDriver() string {
	b, err := os.ReadFile("/proc/driver/nvidia/version")
	if err != nil {
		return ""
	}
	// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.03  Tue ..."
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	for i, w := range f {
		if w == "Module" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// nvidiaSMI asks nvidia-smi, for machines where the driver library cannot
// be loaded into this process but the tool works.
func nvidiaSMI() (Devices, error) {
	exe, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return Devices{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "--query-gpu=index,name,memory.total,driver_version,compute_cap", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return Devices{}, fmt.Errorf("nvidia-smi: %w", err)
	}
	return parseSMI(string(out)), nil
}

// parseSMI reads nvidia-smi's CSV answer (index, name, memory in MiB,
// driver version, compute capability).
func parseSMI(out string) Devices {
	d := Devices{Via: "nvidia-smi"}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 4 {
			continue
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		idx, _ := strconv.Atoi(f[0])
		mem, _ := strconv.ParseInt(f[2], 10, 64)
		g := GPU{Index: idx, Name: f[1], MemoryMiB: mem}
		if len(f) > 4 && f[4] != "[N/A]" {
			g.Compute = f[4]
		}
		d.Driver = f[3]
		d.GPUs = append(d.GPUs, g)
	}
	return d
}
