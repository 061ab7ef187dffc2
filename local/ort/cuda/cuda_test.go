package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tree lays out files (empty unless given contents) under root.
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
	}
}

// machine is a laid-out machine: a system root with ld.so.conf, a CUDA
// toolkit, a virtualenv whose python3 is on PATH (CUDA 13's consolidated
// wheels and cuDNN's), a user site, and the environment pointing at them.
func machine(t *testing.T) (Env, string) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"etc/ld.so.conf":                                       "include /etc/ld.so.conf.d/*.conf\n",
		"etc/ld.so.conf.d/cuda.conf":                           "# the toolkit's own\n/opt/cuda-12/targets/x86_64-linux/lib\n",
		"etc/ld.so.conf.d/libc.conf":                           "/usr/local/lib\n",
		"opt/cuda-12/targets/x86_64-linux/lib/libcublas.so.12": "",
		"usr/local/lib/.keep":                                  "",
		"usr/lib/x86_64-linux-gnu/libc.so.6":                   "",
		"ldpath/libcudart.so.13":                               "",
		"toolkit/lib64/libcurand.so.10":                        "",
		"venv/bin/python3":                                     "#!/bin/false\n",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13":          "",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13":        "",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13":          "",
		"venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9":           "",
		"home/.local/lib/python3.11/site-packages/nvidia/curand/lib/libcurand.so.10": "",
	})
	vars := map[string]string{
		"LD_LIBRARY_PATH": filepath.Join(root, "ldpath") + ":" + filepath.Join(root, "missing"),
		"CUDA_HOME":       filepath.Join(root, "toolkit"),
		"PATH":            filepath.Join(root, "venv", "bin") + ":" + filepath.Join(root, "nowhere"),
	}
	return Env{Root: root, Home: filepath.Join(root, "home"), Getenv: func(k string) string { return vars[k] }}, root
}

func TestDirsInSearchOrder(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the laid-out tree uses x86_64 folder names")
	}
	env, root := machine(t)
	var got []string
	for _, d := range env.Dirs() {
		rel, err := filepath.Rel(root, d.Path)
		require.NoError(t, err)
		got = append(got, rel+" <"+d.Origin+">")
	}
	sp := filepath.Join(root, "venv/lib/python3.12/site-packages")
	user := filepath.Join(root, "home/.local/lib/python3.11/site-packages")
	assert.Equal(t, []string{
		"ldpath <LD_LIBRARY_PATH>", // the missing LD_LIBRARY_PATH entry is left out
		"opt/cuda-12/targets/x86_64-linux/lib <ld.so.conf>",
		"usr/local/lib <ld.so.conf>",
		"usr/lib/x86_64-linux-gnu <system>",
		"usr/lib <system>",
		"toolkit/lib64 <$CUDA_HOME>",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib <pip wheel in " + sp + ">",
		"venv/lib/python3.12/site-packages/nvidia/cudnn/lib <pip wheel in " + sp + ">",
		"home/.local/lib/python3.11/site-packages/nvidia/curand/lib <pip wheel in " + user + ">",
	}, got)
}

func TestFindReportsWhereAndOtherVersions(t *testing.T) {
	env, root := machine(t)
	libs := Find([]string{"libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcudnn.so.9", "libcufft.so.12"}, 13, env.Dirs())
	where := map[string]string{}
	for _, l := range libs {
		rel := ""
		if l.Found() {
			rel, _ = filepath.Rel(root, l.Path)
		}
		where[l.Name] = rel
	}
	assert.Equal(t, map[string]string{
		"libcublasLt.so.13": "venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13",
		"libcublas.so.13":   "venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"libcurand.so.10":   "toolkit/lib64/libcurand.so.10", // $CUDA_HOME before the wheels
		"libcudart.so.13":   "ldpath/libcudart.so.13",        // the loader path first
		"libcudnn.so.9":     "venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9",
		"libcufft.so.12":    "",
	}, where)
	assert.Equal(t, "LD_LIBRARY_PATH", libs[3].Origin)
	assert.Equal(t, "$CUDA_HOME", libs[2].Origin)
	assert.Equal(t, "cuFFT (CUDA 13)", libs[5].What)
	assert.Equal(t, "nvidia-cufft", libs[5].Pip)

	// Without the CUDA 13 wheels, the CUDA 12 cuBLAS the toolkit has is
	// named as the other version: the mismatch users hit.
	require.NoError(t, os.RemoveAll(filepath.Join(root, "venv/lib/python3.12/site-packages/nvidia/cu13")))
	libs = Find([]string{"libcublas.so.13"}, 13, env.Dirs())
	require.False(t, libs[0].Found())
	assert.Equal(t, []string{filepath.Join(root, "opt/cuda-12/targets/x86_64-linux/lib/libcublas.so.12")}, libs[0].Others)
	err := &MissingError{Libraries: libs, CUDA: 13}
	assert.Contains(t, err.Error(), "libcublas.so.13 (cuBLAS (CUDA 13)) not found; found "+filepath.Join(root, "opt/cuda-12/targets/x86_64-linux/lib/libcublas.so.12")+", another version")
	assert.Contains(t, err.Error(), "`pip install nvidia-cublas`")
	assert.Contains(t, err.Error(), "CUDA_HOME to a CUDA 13 toolkit")
}

func TestWheelNamesPerCUDAVersion(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cuda      int
		what, pip string
	}{
		{"libcublas.so.13", 13, "cuBLAS (CUDA 13)", "nvidia-cublas"},
		{"libcublas.so.12", 12, "cuBLAS (CUDA 12)", "nvidia-cublas-cu12"},
		{"libcudart.so.12", 12, "CUDA runtime (CUDA 12)", "nvidia-cuda-runtime-cu12"},
		{"libcudnn.so.9", 13, "cuDNN 9", "nvidia-cudnn-cu13"},
		{"libcudnn.so.9", 12, "cuDNN 9", "nvidia-cudnn-cu12"},
		{"libcufft.so.11", 12, "cuFFT (CUDA 12)", "nvidia-cufft-cu12"},
	} {
		what, pip := describe(tc.name, tc.cuda)
		assert.Equal(t, tc.what, what, tc.name)
		assert.Equal(t, tc.pip, pip, tc.name)
	}
}

func TestParseNvidiaSMI(t *testing.T) {
	d := parseSMI("0, NVIDIA H200, 143771, 580.159.03, 9.0\n1, NVIDIA A100-SXM4-80GB, 81920, 580.159.03, [N/A]\n")
	assert.Equal(t, "580.159.03", d.Driver)
	assert.Equal(t, []GPU{{0, "NVIDIA H200", 143771, "9.0"}, {1, "NVIDIA A100-SXM4-80GB", 81920, ""}}, d.GPUs)
}

// gcc builds a shared object named soname in dir from C source, linked
// against the given libraries (found in dir), with extra flags.
func gcc(t *testing.T, dir, soname, src string, flags ...string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc to build shared objects with DT_NEEDED entries")
	}
	c := filepath.Join(t.TempDir(), "src.c")
	require.NoError(t, os.WriteFile(c, []byte(src), 0o644))
	out := filepath.Join(dir, soname)
	args := append([]string{"-shared", "-fPIC", "-o", out, c, "-Wl,-soname," + soname, "-L" + dir}, flags...)
	b, err := exec.Command(cc, args...).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// TestReadNeedsFromDTNeeded reads a provider's needs from its DT_NEEDED,
// as readelf -d shows them: the CUDA libraries, the CUDA version from the
// runtime's soname, the driver apart, and cuDNN 9 added when the provider
// opens it at run time.
func TestReadNeedsFromDTNeeded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF shared objects")
	}
	dir := t.TempDir()
	for _, so := range []string{"libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcuda.so.1"} {
		gcc(t, dir, so, "int f_"+strings.NewReplacer(".", "_").Replace(so)+"(void) { return 1; }\n")
	}
	prov := gcc(t, dir, ProviderFile, "int provider(void) { return 0; }\n", "-Wl,--no-as-needed",
		"-l:libcublasLt.so.13", "-l:libcublas.so.13", "-l:libcurand.so.10", "-l:libcudart.so.13", "-l:libcuda.so.1")
	n, err := ReadNeeds(prov)
	require.NoError(t, err)
	assert.Equal(t, 13, n.CUDA)
	assert.True(t, n.Driver)
	assert.Equal(t, []string{"libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcudnn.so.9"}, n.Libraries)

	_, err = ReadNeeds(filepath.Join(dir, "nope.so"))
	assert.Error(t, err)
}

// TestLoadInDependencyOrder loads a cuBLAS that needs cuBLASLt from a
// folder the loader does not search, listed before it: dlopen succeeds
// only if cuBLASLt is loaded first.
func TestLoadInDependencyOrder(t *testing.T) {
	if !canLoad {
		t.Skip("loading needs cgo on Linux")
	}
	dir := t.TempDir()
	// Unique sonames: a library loaded once stays for the test process.
	lt := gcc(t, dir, "libcublasLt.so.913", "int lt(void) { return 13; }\n")
	gcc(t, dir, "libcublas.so.913", "int lt(void); int blas(void) { return lt(); }\n", "-Wl,--no-as-needed", "-l:libcublasLt.so.913")
	r := Report{Needs: Needs{CUDA: 13, Libraries: []string{"libcublas.so.913", "libcublasLt.so.913"}}}
	r.Libraries = Find(r.Needs.Libraries, 13, []Dir{{Path: dir, Origin: "$CUDA_HOME"}})
	require.NoError(t, Load(&r))
	for _, l := range r.Libraries {
		assert.True(t, l.Loaded, l.Name)
		assert.Empty(t, l.Error, l.Name)
	}
	assert.Equal(t, "libcublas.so.913", r.Libraries[0].Name, "reported in the provider's order")
	assert.Equal(t, lt, r.Libraries[1].Path)

	// A library found nowhere is asked of the loader by soname, and named
	// with the fix when it has none.
	r = Report{Needs: Needs{CUDA: 13}, Libraries: Find([]string{"libcudnn.so.909"}, 13, nil)}
	err := Load(&r)
	var missing *MissingError
	require.ErrorAs(t, err, &missing)
	assert.Contains(t, err.Error(), "libcudnn.so.909 (cuDNN 909) not found")
	assert.Contains(t, err.Error(), "nvidia-cudnn-cu13")

	// A file that is there but will not load says why.
	bad := filepath.Join(dir, "libcurand.so.910")
	require.NoError(t, os.WriteFile(bad, []byte("not ELF"), 0o755))
	r = Report{Libraries: Find([]string{"libcurand.so.910"}, 13, []Dir{{Path: dir}})}
	err = Load(&r)
	require.ErrorAs(t, err, &missing)
	assert.Contains(t, r.Libraries[0].Error, "libcurand.so.910")
}

// TestCuDNNSubLibraries: cuDNN opens its sub-libraries by soname; outside
// the loader path, without $ORIGIN in its RUNPATH, they are loaded too.
func TestCuDNNSubLibraries(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF shared objects")
	}
	toolkit, wheel := t.TempDir(), t.TempDir()
	gcc(t, toolkit, "libcudnn.so.9", "int cudnn(void) { return 9; }\n")
	gcc(t, toolkit, "libcudnn_graph.so.9", "int graph(void) { return 9; }\n")
	gcc(t, toolkit, "libcudnn_ops.so.9", "int ops(void) { return 9; }\n")
	gcc(t, wheel, "libcudnn.so.9", "int cudnn(void) { return 9; }\n", "-Wl,--enable-new-dtags,-rpath,$ORIGIN")
	gcc(t, wheel, "libcudnn_graph.so.9", "int graph(void) { return 9; }\n")

	dirs := []Dir{{Path: toolkit, Origin: "$CUDA_HOME"}}
	libs := cudnnHelpers(Find([]string{"libcudnn.so.9"}, 13, dirs), dirs)
	var names []string
	for _, l := range libs {
		names = append(names, l.Name)
		assert.Equal(t, l.Name != "libcudnn.so.9", l.Helper)
	}
	assert.Equal(t, []string{"libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn_ops.so.9"}, names)
	r := Report{Libraries: libs}
	assert.Empty(t, r.Missing())

	for _, dirs := range [][]Dir{
		{{Path: wheel, Origin: "pip wheel"}},              // RUNPATH=$ORIGIN finds them
		{{Path: toolkit, Origin: "system", Loader: true}}, // the loader finds them
	} {
		libs := cudnnHelpers(Find([]string{"libcudnn.so.9"}, 13, dirs), dirs)
		assert.Len(t, libs, 1, dirs[0].Origin)
	}
}

// TestSitePackagesNewestPythonFirst: of several Pythons' site-packages, the
// newest version's wheels come first, by version number (python3.12
// before python3.9, which a reverse sort of the names put first).
func TestSitePackagesNewestPythonFirst(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"usr/local/lib/python3.9/dist-packages/nvidia/cudnn/lib/libcudnn.so.9":  "",
		"usr/local/lib/python3.12/dist-packages/nvidia/cudnn/lib/libcudnn.so.9": "",
		"usr/local/lib/python3.11/dist-packages/nvidia/cudnn/lib/libcudnn.so.9": "",
	})
	env := Env{Root: root, Getenv: func(string) string { return "" }}
	var got []string
	for _, sp := range env.sitePackages() {
		rel, err := filepath.Rel(root, sp)
		require.NoError(t, err)
		got = append(got, rel)
	}
	assert.Equal(t, []string{
		"usr/local/lib/python3.12/dist-packages",
		"usr/local/lib/python3.11/dist-packages",
		"usr/local/lib/python3.9/dist-packages",
	}, got)
	libs := Find([]string{"libcudnn.so.9"}, 13, env.Dirs())
	require.True(t, libs[0].Found())
	assert.Equal(t, filepath.Join(root, "usr/local/lib/python3.12/dist-packages/nvidia/cudnn/lib/libcudnn.so.9"), libs[0].Path)
}

func TestNaturalLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"python3.9", "python3.12", true},
		{"python3.12", "python3.9", false},
		{"python3.10", "python3.10", false},
		{"python3", "python3.1", true},
		{"lib007", "lib7", false}, // equal numbers: neither is less
		{"lib7", "lib007", false},
		{"a", "b", true},
		{"python3.99999999999999999999", "python3.100000000000000000000", true},
	} {
		assert.Equal(t, c.less, naturalLess(c.a, c.b), "%s < %s", c.a, c.b)
	}
}
