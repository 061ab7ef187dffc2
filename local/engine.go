package local

import (
	"errors"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models"
)

// Options configure an [Engine]. The zero value is usable.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 means all cores.
	Threads int
	// Device is cpu, cuda or auto (the default).
	Device ort.Device
	// Library is an explicit path to libonnxruntime; empty means search
	// ($ONNXRUNTIME_LIB, hybridembed's cache, the system loader path).
	Library string
	// BatchSize is how many images run at once (default 16); TextBatchSize
	// how many texts (default 32).
	BatchSize, TextBatchSize int
	// Workers decode and preprocess images while the runtime infers;
	// 0 means one per core.
	Workers int
	// Limits bound image decoding (PIL's pixel limit by default).
	Limits imageprep.Limits
	// Logf receives notes, such as why "auto" fell back to the CPU.
	Logf func(format string, args ...any)
}

// ErrClosed is returned after [Engine.Close].
var ErrClosed = errors.New("local engine closed")

// Engine runs models on this machine through ONNX Runtime. It loads each
// model directory once and keeps its sessions; it is safe for concurrent
// use, and Close releases everything.
type Engine struct {
	opts Options

	mu       sync.Mutex
	closed   bool
	models   map[string]*Model
	sessions []*ort.Session
}

// New returns an engine. ONNX Runtime itself is loaded on first use, so an
// engine that only ever routes to the network needs no runtime installed.
func New(opts Options) *Engine {
	return &Engine{opts: opts, models: map[string]*Model{}}
}

// Init loads ONNX Runtime now, returning the library path (or why none
// could be loaded, with the command that fixes it).
func (e *Engine) Init() (string, error) {
	prefer := e.opts.Device
	if prefer == "" {
		prefer = ort.DeviceAuto
	}
	return ort.Init(ort.Config{Library: e.opts.Library, CacheDir: models.HomeDir(), Prefer: prefer})
}

// Load opens the model in dir (any layout [findFiles] knows), or returns the
// one already open. variant picks transformers.js-style file variants:
// "" (fp32), "quantized", "fp16" ... (the suffix of *_<variant>.onnx).
func (e *Engine) Load(dir, variant string) (*Model, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	key := abs + "\x00" + variant
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if m, ok := e.models[key]; ok {
		return m, nil
	}
	if _, err := e.Init(); err != nil {
		return nil, err
	}
	m, err := loadModel(e, abs, variant)
	if err != nil {
		return nil, err
	}
	e.models[key] = m
	return m, nil
}

func (e *Engine) session(path string, inputs []string, output string) (*ort.Session, error) {
	s, err := ort.NewSession(path, inputs, []string{output}, ort.SessionOptions{
		Threads: e.opts.Threads, Device: e.opts.Device, Logf: e.opts.Logf,
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.Join(ErrClosed, s.Close())
	}
	e.sessions = append(e.sessions, s)
	return s, nil
}

func (e *Engine) imageBatch() int { return positive(e.opts.BatchSize, 16) }
func (e *Engine) textBatch() int  { return positive(e.opts.TextBatchSize, 32) }
func (e *Engine) workers() int    { return positive(e.opts.Workers, runtime.NumCPU()) }

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Close releases every session, waiting for runs in flight. It is safe to
// call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for _, s := range e.sessions {
		errs = append(errs, s.Close())
	}
	e.sessions, e.models = nil, nil
	return errors.Join(errs...)
}
