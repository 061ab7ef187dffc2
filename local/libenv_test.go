package local_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local"
)

// TestNamedLibraryMustLoad: a $TURBOJPEG_LIB or $LIBHEIF_LIB that is set
// but names a missing file, a folder or a file that is not the library
// fails the engine with an error naming the variable and the path, as a
// bad $ONNXRUNTIME_LIB does. Before, the engine started and JPEGs went
// quietly to Go's decoder (other pixels, other vectors), HEIF photos to
// "unsupported". Each case runs in a child: the libraries load once per
// process.
func TestNamedLibraryMustLoad(t *testing.T) {
	if os.Getenv("NAMED_LIB_CHILD") != "" {
		if _, err := local.New(local.Options{}).Init(); err != nil {
			os.Stderr.WriteString("init: " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	child := func(env ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNamedLibraryMustLoad$")
		cmd.Env = append(os.Environ(), append([]string{"NAMED_LIB_CHILD=1"}, env...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	base := []string{"TURBOJPEG_LIB=", "LIBHEIF_LIB="}
	if out, err := child(base...); err != nil {
		t.Skipf("the engine does not start here without the variables either: %s", out)
	}
	dir := t.TempDir()
	notLib := filepath.Join(dir, "libfake.so")
	require.NoError(t, os.WriteFile(notLib, []byte("not a shared object\n"), 0o644))
	cases := map[string]struct{ path, says string }{
		"missing": {filepath.Join(dir, "absent.so"), "no such file"},
		"folder":  {dir, "folder"},
		"not ELF": {notLib, "not a usable"},
	}
	for _, v := range []string{"TURBOJPEG_LIB", "LIBHEIF_LIB"} {
		for name, c := range cases {
			t.Run(v+"/"+name, func(t *testing.T) {
				env := append(append([]string{}, base...), v+"="+c.path)
				out, err := child(env...)
				require.Error(t, err, "the engine started with %s=%s: %s", v, c.path, out)
				assert.Contains(t, out, "init: "+v+"="+c.path+":")
				assert.Contains(t, out, c.says)
				assert.Equal(t, 1, strings.Count(out, "init: "), out)
			})
		}
	}
}
