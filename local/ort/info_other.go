//go:build cgo && !linux

package ort

import "path/filepath"

// libraryInfo: outside Linux the loaded file is the path given (a soname
// stays a soname) and the providers are not listed.
func libraryInfo(lib string) (string, []string, error) {
	if filepath.IsAbs(lib) {
		return lib, nil, nil
	}
	return "", nil, nil
}
