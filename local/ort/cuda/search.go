package cuda

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Dir is one folder the search looks in, and why it is on the list.
type Dir struct {
	Path string `json:"path"`
	// Origin says how the folder was found: "LD_LIBRARY_PATH",
	// "ld.so.conf", "system", "$CUDA_HOME", "$CUDA_PATH",
	// "/usr/local/cuda", or "pip wheel in SITE-PACKAGES".
	Origin string `json:"origin"`
	// Loader marks folders the dynamic loader searches by itself.
	Loader bool `json:"loader_path"`
}

// Env is what the search reads of the machine. The zero value reads this
// machine; tests lay out a folder tree and point Root (prepended to every
// absolute system folder), Home and Getenv at it.
type Env struct {
	Getenv func(string) string
	Root   string
	Home   string
}

func (e Env) getenv(k string) string {
	if e.Getenv != nil {
		return e.Getenv(k)
	}
	return os.Getenv(k)
}

func (e Env) home() string {
	if e.Home != "" {
		return e.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

// sys is an absolute system folder under Root.
func (e Env) sys(p string) string {
	if e.Root == "" {
		return p
	}
	return filepath.Join(e.Root, p)
}

// multiarch is Debian's folder name for this architecture's libraries.
func multiarch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// Dirs lists the folders to search, in the order a library is looked for:
// the loader path first (what the loader would use anyway), then CUDA
// toolkits, then Python's pip wheels. Folders that do not exist are left
// out, and each appears once.
func (e Env) Dirs() []Dir {
	var out []Dir
	seen := map[string]bool{}
	add := func(path, origin string, loader bool) {
		if path == "" {
			return
		}
		path = filepath.Clean(path)
		if seen[path] {
			return
		}
		if st, err := os.Stat(path); err != nil || !st.IsDir() {
			return
		}
		seen[path] = true
		out = append(out, Dir{Path: path, Origin: origin, Loader: loader})
	}
	for _, p := range filepath.SplitList(e.getenv("LD_LIBRARY_PATH")) {
		add(p, "LD_LIBRARY_PATH", true)
	}
	for _, p := range e.ldSoConf() {
		add(p, "ld.so.conf", true)
	}
	for _, p := range []string{"/lib/" + multiarch(), "/usr/lib/" + multiarch(), "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
		add(e.sys(p), "system", true)
	}
	// WSL's driver folder (also listed in its ld.so.conf.d).
	add(e.sys("/usr/lib/wsl/lib"), "system", true)

	for _, home := range []struct{ dir, origin string }{
		{e.getenv("CUDA_HOME"), "$CUDA_HOME"},
		{e.getenv("CUDA_PATH"), "$CUDA_PATH"},
		{e.sys("/usr/local/cuda"), "/usr/local/cuda"},
	} {
		if home.dir == "" {
			continue
		}
		for _, sub := range []string{"lib64", "lib", filepath.Join("targets", strings.TrimSuffix(multiarch(), "-gnu"), "lib")} {
			add(filepath.Join(home.dir, sub), home.origin, false)
		}
	}

	for _, sp := range e.sitePackages() {
		libs, _ := filepath.Glob(filepath.Join(sp, "nvidia", "*", "lib"))
		sort.Strings(libs)
		for _, l := range libs {
			add(l, "pip wheel in "+sp, false)
		}
	}
	return out
}

// ldSoConf lists the folders /etc/ld.so.conf names, following its include
// lines (globs, relative to /etc), as ldconfig does.
func (e Env) ldSoConf() []string {
	var out []string
	seen := map[string]bool{}
	var read func(path string, depth int)
	read = func(path string, depth int) {
		if depth > 8 || seen[path] {
			return
		}
		seen[path] = true
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "include") && len(line) > 7 && (line[7] == ' ' || line[7] == '\t'):
				pat := strings.TrimSpace(line[8:])
				if !filepath.IsAbs(pat) {
					pat = filepath.Join("/etc", pat)
				}
				matches, _ := filepath.Glob(e.sys(pat))
				sort.Strings(matches)
				for _, m := range matches {
					read(m, depth+1)
				}
			default:
				// "dir=TYPE" (old libc5 syntax) and lists: the folder is
				// the first field.
				fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ':' || r == '=' })
				if len(fields) > 0 && filepath.IsAbs(fields[0]) {
					out = append(out, e.sys(fields[0]))
				}
			}
		}
	}
	read(e.sys("/etc/ld.so.conf"), 0)
	return out
}

// sitePackages lists the Python package folders where pip puts the
// nvidia-* wheels: the active virtualenv or conda prefix, $PYTHONPATH, the
// prefix of every python3 and python on $PATH (a venv's bin/python3 is a
// link, so its folder, not the link's target, names the venv), the user's
// site, and the system's. No Python is run.
func (e Env) sitePackages() []string {
	var prefixes []string
	for _, k := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := e.getenv(k); v != "" {
			prefixes = append(prefixes, v)
		}
	}
	for _, dir := range filepath.SplitList(e.getenv("PATH")) {
		if dir == "" {
			continue
		}
		for _, name := range []string{"python3", "python"} {
			exe := filepath.Join(dir, name)
			if st, err := os.Stat(exe); err != nil || st.IsDir() {
				continue
			}
			prefixes = append(prefixes, filepath.Dir(filepath.Clean(dir)))
			if real, err := filepath.EvalSymlinks(exe); err == nil {
				prefixes = append(prefixes, filepath.Dir(filepath.Dir(real)))
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(patterns ...string) {
		for _, pat := range patterns {
			matches, _ := filepath.Glob(pat)
			sort.SliceStable(matches, func(i, j int) bool { return naturalLess(matches[j], matches[i]) }) // python3.12 before python3.9
			for _, m := range matches {
				if !seen[m] {
					seen[m] = true
					out = append(out, m)
				}
			}
		}
	}
	for _, p := range filepath.SplitList(e.getenv("PYTHONPATH")) {
		if p != "" {
			add(p)
		}
	}
	for _, p := range prefixes {
		add(filepath.Join(p, "lib", "python3*", "site-packages"), filepath.Join(p, "lib", "python3*", "dist-packages"))
	}
	if h := e.home(); h != "" {
		add(filepath.Join(h, ".local", "lib", "python3*", "site-packages"))
	}
	add(e.sys("/usr/local/lib/python3*/dist-packages"), e.sys("/usr/local/lib/python3*/site-packages"),
		e.sys("/usr/lib/python3/dist-packages"), e.sys("/usr/lib/python3*/site-packages"),
		e.sys("/opt/conda/lib/python3*/site-packages"))
	return out
}

// naturalLess orders names with their runs of digits compared as numbers,
// so that python3.9 comes before python3.12.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		na, nb := digitRun(a), digitRun(b)
		if na == 0 || nb == 0 {
			if a[0] != b[0] {
				return a[0] < b[0]
			}
			a, b = a[1:], b[1:]
			continue
		}
		x, y := strings.TrimLeft(a[:na], "0"), strings.TrimLeft(b[:nb], "0")
		if len(x) != len(y) {
			return len(x) < len(y)
		}
		if x != y {
			return x < y
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) < len(b)
}

// digitRun is the length of the run of ASCII digits s starts with.
func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
