//go:build !cgo

package ort

import (
	"context"
	"errors"
)

// errNoCgo says how to get local inference: ONNX Runtime is reached through cgo.
var errNoCgo = errors.New("local inference needs cgo: this binary was built with CGO_ENABLED=0; rebuild with CGO_ENABLED=1 and a C compiler")

// SessionOptions configures a [Session].
type SessionOptions struct {
	Threads      int
	Device       Device
	CUDADeviceID int
	NoSpinning   bool
	GPUMemLimit  int64
	Logf         func(format string, args ...any)
	Warnf        func(format string, args ...any)
}

// ErrClosed is returned by [Session.Run] after [Session.Close].
var ErrClosed = errors.New("ort: session closed")

// ErrCUDAUnavailable is returned (wrapped) when CUDA cannot be used.
var ErrCUDAUnavailable = errors.New("CUDA is not available")

// Session is unavailable without cgo.
type Session struct{}

// Init fails: this build has no cgo.
func Init(Config) (string, error) { return "", errNoCgo }

// Loaded is always "" without cgo.
func Loaded() string { return "" }

// Version is always "" without cgo.
func Version() string { return "" }

// ReadInfo fails: this build has no cgo.
func ReadInfo(string) ([]IOInfo, []IOInfo, error) { return nil, nil, errNoCgo }

// NewSession fails: this build has no cgo.
func NewSession(string, []string, []string, SessionOptions) (*Session, error) { return nil, errNoCgo }

func (*Session) Path() string                                               { return "" }
func (*Session) Provider() Device                                           { return DeviceCPU }
func (*Session) Inputs() []IOInfo                                           { return nil }
func (*Session) Outputs() []IOInfo                                          { return nil }
func (*Session) Run(context.Context, []Tensor, [][]int64) ([]Tensor, error) { return nil, errNoCgo }
func (*Session) Close() error                                               { return nil }

// Runtime fails: this build has no cgo.
func Runtime() (RuntimeInfo, error) { return RuntimeInfo{}, errNoCgo }

// PrepareCUDA reports that this build cannot use CUDA.
func PrepareCUDA() CUDAStatus { return CUDAStatus{Err: errNoCgo} }

// ProbeCUDA fails: this build has no cgo.
func ProbeCUDA(context.Context, int) error { return errNoCgo }

func libraryInfo(string) (string, []string, error) { return "", nil, errNoCgo }
