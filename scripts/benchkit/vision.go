package benchkit

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
)

// RawVision is the ceiling a benchmark holds the engine to: a CLIP vision
// graph alone, fed a ready batch of 224x224 pixels; with runs > 1, that
// many runs at once, each on a share of the threads and of the batch, as
// the engine runs an image tower on the CPU.
type RawVision struct {
	s     *ort.Session
	in    []ort.Tensor
	out   [][]int64
	batch int // per run
	runs  int
}

// NewRawVision opens path on device with threads split between runs, and
// runs it once (a warm-up).
func NewRawVision(path string, device ort.Device, threads, batch, runs int) (*RawVision, error) {
	batch /= runs
	s, err := ort.NewSession(path, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Threads: max(1, threads/runs), Device: device})
	if err != nil {
		return nil, err
	}
	px := make([]float32, batch*3*224*224)
	for i := range px {
		px[i] = float32(math.Sin(float64(i)))
	}
	// Output shapes given up front: float16 outputs need them.
	r := &RawVision{s: s, in: []ort.Tensor{{Shape: []int64{int64(batch), 3, 224, 224}, Float32: px}}, batch: batch,
		out: [][]int64{{int64(batch), 512}}, runs: runs}
	if _, err := s.Run(context.Background(), r.in, r.out); err != nil {
		s.Close()
		return nil, err
	}
	return r, nil
}

// Pass runs about n images' worth of batches and returns images/s.
func (r *RawVision) Pass(n int) (float64, error) {
	iters := max(1, n/(r.batch*r.runs))
	start := time.Now()
	errs := make(chan error, r.runs)
	for range r.runs {
		go func() {
			for range iters {
				if _, err := r.s.Run(context.Background(), r.in, r.out); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range r.runs {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return float64(iters*r.batch*r.runs) / time.Since(start).Seconds(), nil
}

// Close closes the session.
func (r *RawVision) Close() error { return r.s.Close() }

// ReadJPEGs reads every .jpg in dir, in name order.
func ReadJPEGs(dir string) ([][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	data := make([][]byte, len(paths))
	for i, p := range paths {
		if data[i], err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// DecodeAllCores is exact decode+preprocess (for a 224-pixel CLIP) of n
// images taken in turn from data, a goroutine per core each taking the
// next: the image path's throughput, in images/s.
func DecodeAllCores(data [][]byte, n int) (float64, error) {
	proc := imageprep.CLIPProcessor(224)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for k := next.Add(1) - 1; k < int64(n) && failed.Load() == nil; k = next.Add(1) - 1 {
				img, err := imageprep.Decode(data[int(k)%len(data)], imageprep.Limits{})
				if err == nil {
					_, err = proc.Pixels(img)
					imageprep.Recycle(img)
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return 0, *err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
