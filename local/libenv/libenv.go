// Package libenv checks a native library that an environment variable
// names ($TURBOJPEG_LIB, $LIBHEIF_LIB): such a setting is the user's
// choice, so a path that is missing, a folder or not the library is an
// error that names the variable and the path, never a quiet fallback to
// another decoder or to none.
package libenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Error is why the library the variable Var names, at Path, cannot be
// used.
type Error struct {
	Var, Path string
	Lib       string // the library's file name, for the hint
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s=%s: %v (point %s at %s, or unset it to use hybridembed's cache or the system's)", e.Var, e.Path, e.Err, e.Var, e.Lib)
}

func (e *Error) Unwrap() error { return e.Err }

// Stat says why p cannot be a library file (missing, a folder), or nil
// when it may be one.
func Stat(p string) error {
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
