package local

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/libenv"
	"github.com/hybridembed/hybridembed/local/libheif"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/turbojpeg"
	"github.com/hybridembed/hybridembed/models/layout"
)

// Options configure an [Engine]. The zero value is usable.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 means all cores.
	// An image tower that runs several batches at once (Runs) splits them
	// between its runs.
	Threads int
	// Runs is how many batches an image tower runs at once, each on an
	// equal share of Threads; 0 means imageRuns' default.
	Runs int
	// Device is cpu, cuda or auto (the default).
	Device ort.Device
	// Library is an explicit path to libonnxruntime; empty means search
	// ($ONNXRUNTIME_LIB, hybridembed's cache, the system loader path).
	Library string
	// IgnoreEnv leaves the environment out: $ONNXRUNTIME_LIB and
	// $HYBRIDEMBED_CACHE for this engine's runtime, and for the process's
	// JPEG decoding (loaded once per process) $TURBOJPEG_LIB and
	// $HYBRIDEMBED_JPEG.
	IgnoreEnv bool
	// BatchSize is the most images one run takes (default 16), shared
	// between an image tower's Runs; TextBatchSize the most texts (default
	// 32).
	BatchSize, TextBatchSize int
	// MaxWait is how long a tower waits, after the first input of a batch
	// arrives, for more inputs to join it (default 2ms). Inputs that arrive
	// while the tower is busy join the next batch anyway.
	MaxWait time.Duration
	// Workers decode and preprocess images for every caller of the engine
	// while the runtime infers; 0 means decodeWorkers' default.
	Workers int
	// KeepAlive is how long a model stays loaded after its last use
	// (default 5 minutes, as ollama's keep_alive); negative keeps models
	// until Unload or Close.
	KeepAlive time.Duration
	// Limits bound image decoding (PIL's pixel limit by default).
	Limits imageprep.Limits
	// FastDecode lets large JPEGs decode at a reduced scale in the DCT
	// domain (Pillow's draft mode) while they stay at least twice the
	// model's input size: much faster for camera photos, close to but not
	// the exact pixels. Off by default.
	FastDecode bool
	// GPUMemLimit caps each CUDA session's memory arena, in bytes (0: ONNX
	// Runtime's default, the whole device). A batch that does not fit is
	// run in smaller parts (see oomSplit).
	GPUMemLimit int64
	// QuietTexts stops a text tower's ONNX Runtime threads from
	// busy-waiting between operators and after a run. Off (the default),
	// batch text throughput is up to a tenth higher; on, a call gives the
	// cores back to the process as it returns, for work that follows each
	// text at once: a search's scan of an index ran at half speed while
	// the threads spun (100,000 vectors: 29 ms, 15 ms with this on). Image
	// towers never spin: they share the cores with the decoders.
	QuietTexts bool
	// Logf receives notes, such as why "auto" fell back to the CPU on a
	// machine without a GPU.
	Logf func(format string, args ...any)
	// Warnf receives what the user must hear at normal verbosity, such as
	// "auto" falling back to the CPU on a machine that has a GPU; nil sends
	// it to Logf.
	Warnf func(format string, args ...any)
}

// DefaultKeepAlive is how long an idle model stays loaded.
const DefaultKeepAlive = 5 * time.Minute

// ErrClosed is returned after [Engine.Close].
var ErrClosed = errors.New("local engine closed")

// Engine runs models on this machine through ONNX Runtime. Each loaded
// model's towers have one batcher that all callers share, and image
// decoding runs on one pool of workers for the whole engine, so concurrent
// callers neither multiply decoders nor runtime runs. It is safe for
// concurrent use; Close cancels runs in flight and releases everything.
type Engine struct {
	opts     Options
	jpegNote sync.Once
	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc

	mu     sync.Mutex
	closed bool
	models map[string]*slot

	poolSize atomic.Int64
	poolOnce sync.Once
	jobs     chan func()
	poolWG   sync.WaitGroup
	// jpegs are the decoding workers' libjpeg-turbo handles, one per
	// worker at most, destroyed by Close.
	jpegs atomic.Pointer[turbojpeg.Decoders]
}

// slot is one model's place in the engine: loading (done open), loaded, or
// failed (removed, so that the next Acquire tries again).
type slot struct {
	key      string
	done     chan struct{}
	m        *Model
	err      error
	refs     int
	unloaded bool
	idle     *time.Timer
}

// New returns an engine. ONNX Runtime itself is loaded on first use, so an
// engine that only ever routes to the network needs no runtime installed.
func New(opts Options) *Engine {
	if opts.IgnoreEnv {
		turbojpeg.IgnoreEnvironment()
		libheif.IgnoreEnvironment()
		imageprep.IgnoreEnvironment()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{opts: opts, ctx: ctx, cancel: cancel, models: map[string]*slot{}}
}

// Init loads ONNX Runtime now, returning the library path (or why none
// could be loaded, with the command that fixes it).
func (e *Engine) Init() (string, error) {
	prefer := e.opts.Device
	if prefer == "" {
		prefer = ort.DeviceAuto
	}
	home := layout.HomeDir()
	if e.opts.IgnoreEnv {
		home = layout.DefaultHomeDir()
	}
	path, err := ort.Init(ort.Config{Library: e.opts.Library, CacheDir: home, Prefer: prefer, IgnoreEnv: e.opts.IgnoreEnv})
	if err == nil {
		err = namedLibraryError()
	}
	e.jpegNote.Do(func() {
		if name, why := imageprep.JPEGDecoder(); name == imageprep.JPEGTurbo {
			e.logf("JPEG decoding: libjpeg-turbo (pixels identical to Pillow's)")
		} else {
			e.logf("JPEG decoding: Go's image/jpeg, within a few levels of Pillow: %v", why)
		}
	})
	return path, err
}

func modelKey(dir, variant string) (string, error) {
	abs, err := filepath.Abs(dir)
	return abs + "\x00" + variant, err
}

// Acquire opens the model in dir (any layout [findFiles] knows), or returns
// the one already open, and holds it loaded until release is called.
// Concurrent first calls share one load, which runs without any engine-wide
// lock; a load that fails is not remembered, so the next call tries again.
// variant picks transformers.js-style file variants: "" (fp32),
// "quantized", "fp16" ... (the suffix of *_<variant>.onnx).
func (e *Engine) Acquire(ctx context.Context, dir, variant string) (m *Model, release func(), err error) {
	key, err := modelKey(dir, variant)
	if err != nil {
		return nil, nil, err
	}
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, nil, ErrClosed
		}
		s, ok := e.models[key]
		if !ok {
			s = &slot{key: key, done: make(chan struct{})}
			e.models[key] = s
			e.mu.Unlock()
			s.m, s.err = e.open(key[:len(key)-len(variant)-1], variant)
			e.mu.Lock()
			if s.err != nil || e.closed {
				if e.models[key] == s {
					delete(e.models, key)
				}
				if s.err == nil { // closed while loading
					s.m.close()
					s.err = ErrClosed
				}
			}
			close(s.done)
			if s.err != nil {
				e.mu.Unlock()
				return nil, nil, s.err
			}
			e.mu.Unlock()
			continue // take a reference like any other caller
		}
		e.mu.Unlock()
		select {
		case <-s.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		e.mu.Lock()
		if e.models[key] != s { // failed, or unloaded meanwhile
			e.mu.Unlock()
			if s.err != nil && !errors.Is(s.err, ErrClosed) {
				return nil, nil, s.err
			}
			continue
		}
		s.refs++
		if s.idle != nil {
			s.idle.Stop()
			s.idle = nil
		}
		e.mu.Unlock()
		var once sync.Once
		return s.m, func() { once.Do(func() { e.release(s) }) }, nil
	}
}

// Load is Acquire for callers that keep the model for the engine's
// lifetime (it is never unloaded for being idle).
func (e *Engine) Load(dir, variant string) (*Model, error) {
	m, _, err := e.Acquire(context.Background(), dir, variant)
	return m, err
}

func (e *Engine) open(dir, variant string) (*Model, error) {
	if _, err := e.Init(); err != nil {
		return nil, err
	}
	return loadModel(e, dir, variant)
}

func (e *Engine) release(s *slot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s.refs--
	if s.refs > 0 || e.closed {
		return
	}
	if s.unloaded {
		go s.m.close()
		return
	}
	keep := e.opts.KeepAlive
	if keep == 0 {
		keep = DefaultKeepAlive
	}
	if keep > 0 {
		s.idle = time.AfterFunc(keep, func() { e.unloadSlot(s) })
	}
}

// Unload frees the model in dir (variant) once its calls in flight end; the
// next call loads it again. It reports whether the model was loaded.
func (e *Engine) Unload(dir, variant string) bool {
	key, err := modelKey(dir, variant)
	if err != nil {
		return false
	}
	e.mu.Lock()
	s, ok := e.models[key]
	e.mu.Unlock()
	if !ok {
		return false
	}
	<-s.done
	return e.unloadSlot(s)
}

func (e *Engine) unloadSlot(s *slot) bool {
	e.mu.Lock()
	if e.models[s.key] != s || s.err != nil {
		e.mu.Unlock()
		return false
	}
	delete(e.models, s.key)
	s.unloaded = true
	idle := s.refs == 0
	e.mu.Unlock()
	if idle {
		s.m.close()
	}
	return true
}

// Loaded lists the models loaded now.
func (e *Engine) Loaded() []*Model {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*Model
	for _, s := range e.models {
		select {
		case <-s.done:
			if s.err == nil {
				out = append(out, s.m)
			}
		default:
		}
	}
	return out
}

// decode runs fn on the engine's decoding pool, waiting for a free worker
// unless ctx ends first. The pool is sized (see decodeWorkers) for the
// device of the first tower that uses it.
func (e *Engine) decode(ctx context.Context, dev ort.Device, fn func()) error {
	e.poolOnce.Do(func() {
		e.jobs = make(chan func())
		e.poolSize.Store(int64(decodeWorkers(e.opts.Workers, dev, runtime.NumCPU())))
		// Workers start under mu, and not once Close has begun: Close
		// marks the engine closed under mu before it waits for them, so
		// no worker is added while (or after) it waits. Without workers
		// the send below ends with ctx or the engine's cancellation.
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed {
			return
		}
		e.jpegs.Store(turbojpeg.NewDecoders(e.workers()))
		for range e.workers() {
			e.poolWG.Add(1)
			go func() {
				defer e.poolWG.Done()
				for {
					select {
					case job := <-e.jobs:
						job()
					case <-e.ctx.Done():
						return
					}
				}
			}()
		}
	})
	select {
	case e.jobs <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.ctx.Done():
		return ErrClosed
	}
}

func (e *Engine) imageBatch() int { return positive(e.opts.BatchSize, 16) }
func (e *Engine) textBatch() int  { return positive(e.opts.TextBatchSize, 32) }

// workers is the decoding pool's size, or what it will be on a CPU.
func (e *Engine) workers() int {
	if n := e.poolSize.Load(); n > 0 {
		return int(n)
	}
	return decodeWorkers(e.opts.Workers, ort.DeviceCPU, runtime.NumCPU())
}

// decodeWorkers is how many goroutines decode and preprocess images: the
// number asked for, else one per core when inference runs on a GPU (the
// image path is then the throughput), else half the cores and at least 2,
// since the decoders share the cores with ONNX Runtime's threads. Measured
// with full-size ViT-B/32 on 1024x768 JPEGs: on 2 cores 2 workers beat 1
// and 3; on 16 cores, over 384 photos, 8 workers ran at 81 img/s, 16 at
// 79 and 4 at 78 (within the machine's noise), and over only 96 photos 16
// workers lost a quarter to their start-up burst, which takes cores from
// inference mid-batch. Camera-size photos need the decoders: at 12 MP
// decoding costs about as much CPU as inference, and half the cores still
// keep up with it.
func decodeWorkers(asked int, dev ort.Device, cores int) int {
	switch {
	case asked > 0:
		return asked
	case dev == ort.DeviceCUDA:
		return cores
	}
	return max(2, cores/2)
}

// imageRuns is how many batches an image tower runs at once: the number
// asked for, else one on a GPU or with a single thread, else two, each on
// half the threads (and half the batch size: see visionTower). One run on
// two threads waits at every operator for the thread that lost its core to
// a decoder; two single-threaded runs never wait for each other, and
// single-threaded ONNX Runtime spends nothing on synchronising. Measured
// with full-size ViT-B/32 on 2 cores, three alternating rounds against raw
// ONNX Runtime on both threads: 96 1024x768 JPEGs went from 0.90 to
// 0.93-0.96 (fp32) and from 0.62-0.67 to 0.72-0.76 (int8); 16 12 MP JPEGs
// stayed at 0.43-0.48. Splitting every batch between idle runs did worse
// (fp32 0.86-0.90); only a job's last batch is split (see batcher). The
// cost is latency: a lone image runs on half the threads (ViT-B/32 fp32 on
// 2 cores: 86-92 ms instead of 58).
func imageRuns(asked int, dev ort.Device, threads int) int {
	switch {
	case asked > 0:
		return asked
	case dev == ort.DeviceCUDA || threads == 1:
		return 1
	}
	return 2
}

func (e *Engine) maxWait() time.Duration {
	if e.opts.MaxWait > 0 {
		return e.opts.MaxWait
	}
	return 2 * time.Millisecond
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Close cancels runs in flight, waits for them, and releases every model.
// It is safe to call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	slots := e.models
	e.models = map[string]*slot{}
	for _, s := range slots {
		if s.idle != nil {
			s.idle.Stop()
		}
	}
	e.mu.Unlock()
	e.cancel()
	var errs []error
	for _, s := range slots {
		<-s.done
		if s.err == nil {
			errs = append(errs, s.m.close())
		}
	}
	e.poolWG.Wait()
	if d := e.jpegs.Load(); d != nil { // no worker decodes now
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// session opens a graph for a tower that runs runs batches at once (and,
// for images, shares the cores with the decoders): each run gets an equal
// share of the threads.
func (e *Engine) session(path string, inputs []string, output string, runs int, sharesCores bool) (*ort.Session, error) {
	return ort.NewSession(path, inputs, []string{output}, e.sessionOptions(runs, sharesCores))
}

// sessionOptions are session's ONNX Runtime settings.
func (e *Engine) sessionOptions(runs int, sharesCores bool) ort.SessionOptions {
	threads := e.opts.Threads
	if runs > 1 {
		threads = max(1, e.threads()/runs)
	}
	return ort.SessionOptions{
		Threads: threads, Device: e.opts.Device, Logf: e.opts.Logf, Warnf: e.opts.Warnf,
		NoSpinning: sharesCores || e.opts.QuietTexts, GPUMemLimit: e.opts.GPUMemLimit,
	}
}

// threads is the intra-op thread count Options.Threads means.
func (e *Engine) threads() int { return positive(e.opts.Threads, runtime.NumCPU()) }

func (e *Engine) logf(format string, args ...any) {
	if e.opts.Logf != nil {
		e.opts.Logf(format, args...)
	}
}

// namedLibraryError is why a library the environment names
// ($TURBOJPEG_LIB, $LIBHEIF_LIB) cannot be used, or nil. Such a setting
// fails the engine as a bad $ONNXRUNTIME_LIB does, rather than falling
// back to Go's JPEG decoder (other pixels) or to no HEIF at all.
func namedLibraryError() error {
	var named *libenv.Error
	if err := turbojpeg.Load(); errors.As(err, &named) {
		return err
	}
	if err := libheif.Load(); errors.As(err, &named) {
		return err
	}
	return nil
}
