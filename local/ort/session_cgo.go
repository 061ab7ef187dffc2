//go:build cgo

package ort

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"

	"github.com/hybridembed/hybridembed/local/ort/cuda"
)

// SessionOptions configures a [Session].
type SessionOptions struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 means one per core.
	Threads int
	// Device is where to run; the zero value means [DeviceAuto].
	Device Device
	// CUDADeviceID picks the GPU for CUDA.
	CUDADeviceID int
	// NoSpinning stops the intra-op threads from busy-waiting between
	// operators, for sessions that share the cores with other work (image
	// decoding): spinning threads would take the CPU the decoders need.
	NoSpinning bool
	// GPUMemLimit caps the CUDA provider's memory arena, in bytes (its
	// gpu_mem_limit); 0 leaves ONNX Runtime's default (the whole device).
	GPUMemLimit int64
	// Logf receives notes such as why DeviceAuto fell back to the CPU on a
	// machine without a GPU; nil discards them.
	Logf func(format string, args ...any)
	// Warnf receives what the user must hear at normal verbosity: that
	// DeviceAuto fell back to the CPU on a machine that has a GPU (once per
	// process). nil sends it to Logf.
	Warnf func(format string, args ...any)
}

// ErrClosed is returned by [Session.Run] after [Session.Close].
var ErrClosed = errors.New("ort: session closed")

// ErrCUDAUnavailable is returned (wrapped) when DeviceCUDA was asked for and
// CUDA cannot be used; the message says why and what fixes it (see
// [PrepareCUDA]), or carries ONNX Runtime's reason.
var ErrCUDAUnavailable = errors.New("CUDA is not available")

// Session is one loaded model. It is safe for concurrent use: ONNX Runtime
// runs concurrent calls on one session, and Close waits for them.
type Session struct {
	path     string
	inputs   []IOInfo
	outputs  []IOInfo
	provider Device

	mu     sync.RWMutex // Run holds it shared, Close exclusively
	closed bool
	s      *onnx.DynamicAdvancedSession
}

// NewSession loads the model at path, to be fed the named inputs and to
// return the named outputs (a subset of what the model declares, in the
// order [Session.Run] takes and returns them).
func NewSession(path string, inputs, outputs []string, opts SessionOptions) (*Session, error) {
	declIn, declOut, err := ReadInfo(path)
	if err != nil {
		return nil, err
	}
	s := &Session{path: path}
	if s.inputs, err = pick(declIn, inputs, path, "input"); err != nil {
		return nil, err
	}
	if s.outputs, err = pick(declOut, outputs, path, "output"); err != nil {
		return nil, err
	}
	dev := opts.Device
	if dev == "" {
		dev = DeviceAuto
	}
	if dev != DeviceCPU {
		sess, err := newSession(path, inputs, outputs, opts, true)
		if err == nil {
			s.s, s.provider = sess, DeviceCUDA
			return s, nil
		}
		if !errors.Is(err, ErrCUDAUnavailable) {
			err = fmt.Errorf("%w: %w", ErrCUDAUnavailable, err)
		}
		if dev == DeviceCUDA {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		fallbackNote(path, err, opts)
	}
	sess, err := newSession(path, inputs, outputs, opts, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.s, s.provider = sess, DeviceCPU
	return s, nil
}

func pick(declared []IOInfo, names []string, path, kind string) ([]IOInfo, error) {
	out := make([]IOInfo, 0, len(names))
	for _, n := range names {
		found := false
		for _, d := range declared {
			if d.Name == n {
				out = append(out, d)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: model has no %s named %q", path, kind, n)
		}
	}
	return out, nil
}

// cudaScope is what a remembered CUDA failure covers: a device (path ""),
// where the provider could not be registered on it, or one model on a
// device, where ONNX Runtime could not open that model there.
type cudaScope struct {
	path   string
	device int
}

// cudaKnownBad reports why CUDA failed earlier in this process for any of
// scopes, so that "auto" does not pay for the same failure once per
// session; nil when it has not.
func cudaKnownBad(scopes ...cudaScope) error {
	env.Lock()
	defer env.Unlock()
	for _, sc := range scopes {
		if err := env.cudaFailed[sc]; err != nil {
			return err
		}
	}
	return nil
}

func rememberCUDA(sc cudaScope, err error) {
	env.Lock()
	defer env.Unlock()
	if env.cudaFailed == nil {
		env.cudaFailed = map[cudaScope]error{}
	}
	env.cudaFailed[sc] = err
}

// modelCUDAError is CUDA failing for one model only (ONNX Runtime could not
// open it on the CUDA provider, e.g. for an operator CUDA has no kernel
// for): CUDA itself works, and other models still use it.
type modelCUDAError struct{ err error }

func (e *modelCUDAError) Error() string { return e.err.Error() }
func (e *modelCUDAError) Unwrap() error { return e.err }

// Seams for the tests, which stand in a machine where CUDA is ready.
var prepareCUDAHook, appendCUDAHook, openCUDAHook = PrepareCUDA, appendCUDA, onnx.NewDynamicAdvancedSession

// hasGPU is cuda.HasGPU; tests stand in a machine with a GPU.
var hasGPU = cuda.HasGPU

// fallbackNote says that "auto" runs path on the CPU, and why. Where CUDA
// failed for this model only, it warns (Warnf, once per model), naming the
// model and ONNX Runtime's reason: that model is slower than the user
// expects, and no setup fixes it. Where CUDA failed for every model, it
// warns at normal verbosity (Warnf, once per process) where the machine
// has a GPU, since then it is a setup problem the user wants to hear of
// (onnxruntime-gpu falling back in silence is what GPU users of embedding
// tools report most), and notes it (Logf) where it has none.
func fallbackNote(path string, err error, opts SessionOptions) {
	warn := opts.Warnf
	if warn == nil {
		warn = opts.Logf
	}
	if me := (*modelCUDAError)(nil); errors.As(err, &me) {
		env.Lock()
		first := !env.warnedModels[path]
		if env.warnedModels == nil {
			env.warnedModels = map[string]bool{}
		}
		env.warnedModels[path] = true
		env.Unlock()
		if first && warn != nil {
			warn("CUDA cannot run %s, so it runs on the CPU (--device auto; other models still use the GPU): %v", path, err)
		} else if opts.Logf != nil {
			opts.Logf("running %s on the CPU: %v", path, err)
		}
		return
	}
	if hasGPU() {
		env.Lock()
		first := !env.warned
		env.warned = true
		env.Unlock()
		if first && warn != nil {
			name := "an NVIDIA GPU"
			if g := cuda.Probe().GPUs; len(g) > 0 {
				name = g[0].Name
			}
			warn("this machine has %s but models run on the CPU (--device auto): %v; `hybridembed doctor` shows what is missing", name, err)
			return
		}
	}
	if opts.Logf != nil {
		opts.Logf("CUDA unavailable, running %s on the CPU: %v", path, err)
	}
}

func newSession(path string, inputs, outputs []string, opts SessionOptions, useCUDA bool) (*onnx.DynamicAdvancedSession, error) {
	device := cudaScope{device: opts.CUDADeviceID}
	model := cudaScope{path: path, device: opts.CUDADeviceID}
	if useCUDA {
		// PrepareCUDA remembers its own result: the libraries and the
		// driver are the same for every model.
		if st := prepareCUDAHook(); st.Err != nil {
			return nil, st.Err
		}
		if err := cudaKnownBad(device, model); err != nil {
			return nil, err
		}
	}
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	if opts.NoSpinning {
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return nil, err
		}
	}
	if !useCUDA {
		return onnx.NewDynamicAdvancedSession(path, inputs, outputs, so)
	}
	if err := appendCUDAHook(so, opts.CUDADeviceID, opts.GPUMemLimit); err != nil {
		err = fmt.Errorf("%w: registering the CUDA provider for GPU %d: %w", ErrCUDAUnavailable, opts.CUDADeviceID, err)
		rememberCUDA(device, err)
		return nil, err
	}
	sess, err := openCUDAHook(path, inputs, outputs, so)
	if err != nil && isOutOfMemory(err) {
		// A GPU full now (other models, another process) may not be at the
		// next load: this one falls back, nothing is remembered.
		return nil, &modelCUDAError{fmt.Errorf("%w: GPU %d is out of memory for this model now: %w", ErrCUDAUnavailable, opts.CUDADeviceID, err)}
	}
	if err != nil && deviceWide(err) {
		// ONNX Runtime builds the CUDA provider when it opens a session:
		// a driver or library failure there fails every model alike.
		err = fmt.Errorf("%w: opening a session on GPU %d: %w", ErrCUDAUnavailable, opts.CUDADeviceID, err)
		rememberCUDA(device, err)
		return nil, err
	}
	if err != nil {
		err = &modelCUDAError{fmt.Errorf("%w on GPU %d for this model: %w", ErrCUDAUnavailable, opts.CUDADeviceID, err)}
		rememberCUDA(model, err)
		return nil, err
	}
	return sess, nil
}

func appendCUDA(so *onnx.SessionOptions, device int, memLimit int64) error {
	co, err := onnx.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer co.Destroy()
	o := map[string]string{"device_id": strconv.Itoa(device)}
	if memLimit > 0 {
		o["gpu_mem_limit"] = strconv.FormatInt(memLimit, 10)
	}
	if err := co.Update(o); err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(co)
}

// Path is the model file.
func (s *Session) Path() string { return s.path }

// Provider is where the session runs: DeviceCPU or DeviceCUDA.
func (s *Session) Provider() Device { return s.provider }

// Inputs are the inputs Run takes, in order, as the model declares them.
func (s *Session) Inputs() []IOInfo { return s.inputs }

// Outputs are the outputs Run returns, in order.
func (s *Session) Outputs() []IOInfo { return s.outputs }

// Run feeds inputs (in [Session.Inputs] order) and returns the outputs as
// float32 tensors. outShapes, when not nil, gives each output's shape so that
// its memory is allocated in Go up front; an entry may be nil to let ONNX
// Runtime allocate it (float32 outputs only). Cancelling ctx terminates the
// run; Run returns only once ONNX Runtime has let go of every buffer.
func (s *Session) Run(ctx context.Context, inputs []Tensor, outShapes [][]int64) (_ []Tensor, err error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("%s: got %d inputs, the session takes %d", s.path, len(inputs), len(s.inputs))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}

	var owned []onnx.Value
	defer func() {
		for _, v := range owned {
			if v != nil {
				if derr := v.Destroy(); derr != nil && err == nil {
					err = derr
				}
			}
		}
	}()
	in := make([]onnx.Value, len(inputs))
	for i, t := range inputs {
		v, err := toValue(s.inputs[i], t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		owned = append(owned, v)
		in[i] = v
	}
	out := make([]onnx.Value, len(s.outputs))
	for i := range s.outputs {
		if outShapes == nil || outShapes[i] == nil {
			if s.outputs[i].Type != TypeFloat32 {
				return nil, fmt.Errorf("%s: output %s is %s; its shape must be known in advance", s.path, s.outputs[i].Name, s.outputs[i].Type)
			}
			continue
		}
		v, err := emptyValue(s.outputs[i], outShapes[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		owned = append(owned, v)
		out[i] = v
	}

	ro, err := onnx.NewRunOptions()
	if err != nil {
		return nil, err
	}
	defer ro.Destroy()
	// The context is watched without a goroutine per batch: AfterFunc
	// terminates the run if ctx ends while it is in ONNX Runtime. Where the
	// terminate has already started when the run ends, wait for it, since
	// ro is destroyed on return.
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		_ = ro.Terminate()
	})
	runErr := s.s.RunWithOptions(in, out, ro)
	if !stop() {
		<-terminated
	}
	// Outputs ONNX Runtime allocated are ours to destroy, error or not.
	for i := range out {
		if outShapes == nil || outShapes[i] == nil {
			owned = append(owned, out[i])
		}
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isOutOfMemory(runErr) {
			return nil, fmt.Errorf("%s: %w (batch of %d): %v", s.path, ErrOutOfMemory, batchRows(inputs), runErr)
		}
		return nil, fmt.Errorf("%s: %w", s.path, runErr)
	}
	res := make([]Tensor, len(out))
	for i, v := range out {
		if res[i], err = fromValue(v); err != nil {
			return nil, fmt.Errorf("%s: output %s: %w", s.path, s.outputs[i].Name, err)
		}
	}
	return res, nil
}

// Close releases the session after in-flight runs finish. It is safe to
// call more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.s.Destroy()
}

func toValue(info IOInfo, t Tensor) (onnx.Value, error) {
	if err := t.check(info.Name); err != nil {
		return nil, err
	}
	shape := onnx.NewShape(t.Shape...)
	switch {
	case t.Int64 != nil && info.Type == TypeInt64:
		return onnx.NewTensor(shape, t.Int64)
	case t.Int64 != nil && info.Type == TypeInt32:
		d := make([]int32, len(t.Int64))
		for i, x := range t.Int64 {
			d[i] = int32(x)
		}
		return onnx.NewTensor(shape, d)
	case t.Float32 != nil && info.Type == TypeFloat32:
		return onnx.NewTensor(shape, t.Float32)
	case t.Float32 != nil && info.Type == TypeFloat16:
		b := make([]byte, 2*len(t.Float32))
		for i, x := range t.Float32 {
			h := Float32ToFloat16(x)
			b[2*i], b[2*i+1] = byte(h), byte(h>>8)
		}
		return onnx.NewCustomDataTensor(shape, b, onnx.TensorElementDataTypeFloat16)
	case t.Uint8 != nil && info.Type == TypeUint8:
		return onnx.NewTensor(shape, t.Uint8)
	}
	have := "float32"
	switch {
	case t.Int64 != nil:
		have = "int64"
	case t.Uint8 != nil:
		have = "uint8"
	}
	return nil, fmt.Errorf("input %s is declared %s; cannot feed %s data", info.Name, info.Type, have)
}

func emptyValue(info IOInfo, shape []int64) (onnx.Value, error) {
	s := onnx.NewShape(shape...)
	switch info.Type {
	case TypeFloat32:
		return onnx.NewEmptyTensor[float32](s)
	case TypeFloat16:
		return onnx.NewCustomDataTensor(s, make([]byte, 2*s.FlattenedSize()), onnx.TensorElementDataTypeFloat16)
	}
	return nil, fmt.Errorf("output %s is %s; only float32 and float16 outputs are read", info.Name, info.Type)
}

func fromValue(v onnx.Value) (Tensor, error) {
	shape := []int64(v.GetShape().Clone())
	switch t := v.(type) {
	case *onnx.Tensor[float32]:
		return Tensor{Shape: shape, Float32: append([]float32(nil), t.GetData()...)}, nil
	case *onnx.CustomDataTensor:
		if onnx.TensorElementDataType(t.DataType()) != onnx.TensorElementDataTypeFloat16 {
			break
		}
		b := t.GetData()
		f := make([]float32, len(b)/2)
		for i := range f {
			f[i] = Float16ToFloat32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		return Tensor{Shape: shape, Float32: f}, nil
	}
	return Tensor{}, fmt.Errorf("unsupported output value %T", v)
}

// batchRows is the first input's leading dimension.
func batchRows(inputs []Tensor) int64 {
	if len(inputs) == 0 || len(inputs[0].Shape) == 0 {
		return 0
	}
	return inputs[0].Shape[0]
}
