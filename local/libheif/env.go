package libheif

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// EnvError is why the library $LIBHEIF_LIB names cannot be used: it is
// missing, a folder, or not a library. Such a setting is an error, never
// a quiet "HEIF unsupported".
type EnvError struct {
	Var, Path string
	Err       error
	lib       string // the library's file name, for the hint
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%s: %v (point %s at libheif's %s, or unset it to use hybridembed's cache or the system's)", e.Var, e.Path, e.Err, e.Var, e.lib)
}

func (e *EnvError) Unwrap() error { return e.Err }

// statLibrary says why p, named by the environment, cannot be a library
// file, or nil when it may be one.
func statLibrary(p string) error {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case err != nil:
		return err
	case st.IsDir():
		return errors.New("a folder, not a library file")
	}
	return nil
}
