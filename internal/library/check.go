package library

import (
	"os"
	"strings"
)

// ArgError is an argument that cannot be stat'ed: a typo, or a folder that
// is not mounted.
type ArgError struct {
	Path string
	Err  error
}

func (e *ArgError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *ArgError) Unwrap() error { return e.Err }

// ArgErrors are the arguments [Check] found that cannot be stat'ed, in
// order; errors.As finds each [*ArgError].
type ArgErrors []*ArgError

func (e ArgErrors) Error() string {
	s := make([]string, len(e))
	for i, a := range e {
		s[i] = a.Error()
	}
	return strings.Join(s, "; ")
}

func (e ArgErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, a := range e {
		errs[i] = a
	}
	return errs
}

// Check stats every argument and returns [ArgErrors] naming each that
// cannot be, so that a run stops before it writes or deletes anything on
// a mistyped or unmounted path.
func Check(args []string) error {
	var errs ArgErrors
	for _, arg := range args {
		if _, err := os.Stat(arg); err != nil {
			errs = append(errs, &ArgError{Path: arg, Err: unwrapPath(err)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
