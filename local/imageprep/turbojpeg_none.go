//go:build !cgo || windows

package imageprep

import "errors"

func loadTurbo() error {
	return errors.New("this build has no cgo: libjpeg-turbo cannot be loaded")
}

func decodeJPEGTurbo([]byte, int) (*RGB, error) {
	return nil, errors.New("libjpeg-turbo is not available")
}
