//go:build !cgo || !linux

package cuda

func dlopenGlobal(string) (string, error) { return "", errUnsupported }

func probeDriver() (string, int, []GPU, error) { return "", 0, nil, errUnsupported }

const canLoad = false
