// Command bench measures end-to-end image embedding throughput (decode,
// preprocess and inference, as `hybridembed embed` runs them) against raw
// ONNX Runtime session throughput on the same model, threads and batch size.
//
//	go run ./scripts/bench -model .bench/vit-b32
//
// It writes its JPEG folders under -work once and reuses them.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/scripts/benchkit"
)

func main() {
	model := flag.String("model", ".bench/vit-b32", "model directory (a full-size ViT-B/32 vision tower)")
	work := flag.String("work", ".bench", "where the JPEG folders are kept")
	threads := flag.Int("threads", runtime.NumCPU(), "ONNX Runtime threads")
	batch := flag.Int("batch", 16, "batch size")
	workers := flag.Int("workers", 0, "decode workers (0: the engine's default)")
	n1 := flag.Int("n1024", 96, "1024x768 JPEGs")
	n12 := flag.Int("n12mp", 16, "12-megapixel JPEGs")
	runs := flag.Int("runs", 3, "timed passes per measurement (the best is kept)")
	pillowPy := flag.String("pillow", "/usr/bin/python3", "a Python with Pillow, for the per-core reference (\"\" skips it)")
	flag.Parse()
	log.SetFlags(0)

	folders := []struct {
		name string
		w, h int
		n    int
	}{{"1024x768", 1024, 768, *n1}, {"12mp", 4000, 3000, *n12}}
	for _, f := range folders {
		if err := benchkit.MakeFolder(filepath.Join(*work, "jpeg-"+f.name), f.w, f.h, f.n); err != nil {
			log.Fatal(err)
		}
	}

	if _, err := ort.Init(ort.Config{CacheDir: layout.HomeDir(), Prefer: ort.DeviceCPU}); err != nil {
		log.Fatal(err)
	}
	raw, err := newRaw(filepath.Join(*model, "onnx", "vision_model.onnx"), *threads, *batch)
	if err != nil {
		log.Fatal(err)
	}
	defer raw.Close()
	emb, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithThreads(*threads),
		hybridembed.WithBatchSize(*batch, 0), hybridembed.WithWorkers(*workers), hybridembed.WithOffline(true))
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()

	fast, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithThreads(*threads),
		hybridembed.WithBatchSize(*batch, 0), hybridembed.WithWorkers(*workers), hybridembed.WithOffline(true),
		hybridembed.WithDecode(hybridembed.DecodeFast))
	if err != nil {
		log.Fatal(err)
	}
	defer fast.Close()
	decoder, why := imageprep.JPEGDecoder()
	fmt.Printf("model %s, ONNX Runtime %s, %d threads, batch %d, %d cores, JPEG decoder %s, best of %d interleaved passes\n",
		*model, ort.Version(), *threads, *batch, runtime.NumCPU(), decoder, *runs)
	if why != nil {
		fmt.Printf("  (libjpeg-turbo unavailable: %v)\n", why)
	}
	var table []row
	// Each measurement's passes alternate with raw passes, so that drift in
	// the machine's speed hits both sides of the ratio alike. prepMs is
	// decode+preprocess time per image on one core (measured below), for
	// the bound: what the ratio could be if the pipeline's only cost were
	// that work, taking cores from inference at its raw rate on every
	// thread (a CPU-only bound: it means nothing when inference runs on a
	// GPU).
	measureAgainst := func(label string, e *hybridembed.Embedder, raw *rawSession, images []hybridembed.Image, jpegDecoder string, prepMs float64) {
		if err := imageprep.SetJPEGDecoder(jpegDecoder); err != nil {
			fmt.Printf("  %s: skipped (%v)\n", label, err)
			return
		}
		defer imageprep.SetJPEGDecoder("")
		if _, err := e.EmbedImages(context.Background(), *model, images[:1]); err != nil { // load, warm up
			log.Fatal(err)
		}
		var bestRaw, bestPipe float64
		for r := 0; r < *runs; r++ {
			rr, err := raw.Pass(len(images))
			if err != nil {
				log.Fatal(err)
			}
			pr, err := pipeline(e, *model, images)
			if err != nil {
				log.Fatal(err)
			}
			bestRaw, bestPipe = math.Max(bestRaw, rr), math.Max(bestPipe, pr)
		}
		rawCoreMs := float64(*threads) * 1000 / bestRaw
		table = append(table, row{label, fmt.Sprintf("%.2f img/s", bestPipe), fmt.Sprintf("%.2f img/s raw ORT", bestRaw), bestPipe / bestRaw,
			rawCoreMs / (rawCoreMs + prepMs)})
	}
	measure := func(label string, e *hybridembed.Embedder, images []hybridembed.Image, jpegDecoder string, prepMs float64) {
		measureAgainst(label, e, raw, images, jpegDecoder, prepMs)
	}
	var photoPrepMs float64
	for _, f := range folders {
		dir := filepath.Join(*work, "jpeg-"+f.name)
		images := benchkit.FolderImages(dir)
		pc := newPerCore(dir)
		exact, draft := pc.ours(0), pc.ours(pc.proc.DraftSize())
		goExact := math.NaN()
		if imageprep.SetJPEGDecoder(imageprep.JPEGGo) == nil {
			goExact = pc.ours(0)
			imageprep.SetJPEGDecoder("")
		}
		if f.name == "1024x768" {
			photoPrepMs = exact
		}
		measure(fmt.Sprintf("embed %d %s JPEGs, exact", f.n, f.name), emb, images, "", exact)
		if f.name == "12mp" {
			measure(fmt.Sprintf("embed %d %s JPEGs, --decode fast", f.n, f.name), fast, images, "", draft)
		}
		measure(fmt.Sprintf("embed %d %s JPEGs, Go's JPEG decoder", f.n, f.name), emb, images, imageprep.JPEGGo, goExact)
		table = append(table, pc.againstPillow(f.name, *pillowPy, exact, draft)...)
		// The image path alone on every core: what this machine's CPU can
		// feed an accelerator, against perfect scaling of the one-core rate.
		all := pc.allCores(exact)
		table = append(table, row{fmt.Sprintf("decode+preprocess %s, all %d cores", f.name, runtime.NumCPU()),
			fmt.Sprintf("%.0f img/s", all), fmt.Sprintf("%.0f img/s = %d x 1 core", float64(runtime.NumCPU())*1000/exact, runtime.NumCPU()),
			all / (float64(runtime.NumCPU()) * 1000 / exact), math.NaN()})
	}
	table = append(table, concurrent(emb, *model, benchkit.FolderImages(filepath.Join(*work, "jpeg-1024x768")), *runs))
	if *threads >= 2 {
		r, err := againstRuns(fmt.Sprintf("raw ORT fp32, 2 runs x %d threads at once", *threads/2), filepath.Join(*model, "onnx", "vision_model.onnx"), raw, *threads, *batch, *n1, *runs)
		if err != nil {
			log.Fatal(err)
		}
		table = append(table, r)
	}

	// The variants transformers.js repos ship, when make_fixtures.py
	// --bench wrote them: dynamic int8 (MatMulInteger) and fp16.
	photos := benchkit.FolderImages(filepath.Join(*work, "jpeg-1024x768"))
	exact, err := emb.EmbedImages(context.Background(), *model, photos[:16])
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"quantized", "fp16"} {
		path := filepath.Join(*model, "onnx", "vision_model_"+v+".onnx")
		if _, err := os.Stat(path); err != nil {
			fmt.Printf("  %s: no %s (make_fixtures.py --bench writes it)\n", v, path)
			continue
		}
		rv, err := newRaw(path, *threads, *batch)
		if err != nil {
			log.Fatal(err)
		}
		ev, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithThreads(*threads),
			hybridembed.WithBatchSize(*batch, 0), hybridembed.WithWorkers(*workers), hybridembed.WithOffline(true), hybridembed.WithVariant(v))
		if err != nil {
			log.Fatal(err)
		}
		measureAgainst(fmt.Sprintf("embed %d 1024x768 JPEGs, %s", len(photos), v), ev, rv, photos, "", photoPrepMs)
		if *threads >= 2 {
			r, err := againstRuns(fmt.Sprintf("raw ORT %s, 2 runs x %d threads at once", v, *threads/2), path, rv, *threads, *batch, len(photos), *runs)
			if err != nil {
				log.Fatal(err)
			}
			table = append(table, r)
		}
		rr, err := rv.Pass(len(photos))
		if err != nil {
			log.Fatal(err)
		}
		r32, err := raw.Pass(len(photos))
		if err != nil {
			log.Fatal(err)
		}
		vecs, err := ev.EmbedImages(context.Background(), *model, photos[:16])
		if err != nil {
			log.Fatal(err)
		}
		worst := 1.0
		for i := range vecs {
			worst = math.Min(worst, hybridembed.Cosine(vecs[i].Vector, exact[i].Vector))
		}
		table = append(table, row{fmt.Sprintf("raw ORT %s vs fp32 (min cosine %.5f)", v, worst),
			fmt.Sprintf("%.2f img/s", rr), fmt.Sprintf("%.2f img/s fp32", r32), rr / r32, math.NaN()})
		ev.Close()
		rv.Close()
	}
	fmt.Println()
	fmt.Printf("%-48s %-16s %-26s %-6s %s\n", "measurement", "hybridembed", "reference (same run)", "ratio", "CPU bound")
	for _, r := range table {
		bound := ""
		if !math.IsNaN(r.bound) {
			bound = fmt.Sprintf("%.3f", r.bound)
		}
		fmt.Printf("%-48s %-16s %-26s %-6.3f %s\n", r.name, r.ours, r.ref, r.ratio, bound)
	}
	fmt.Println("\nCPU bound: the ratio if the pipeline cost only decode+preprocess at its one-core time, taken from\n" +
		"inference running at its raw rate on every thread (so, on this machine, what the cores permit).\n" +
		"The engine runs an image tower as two runs at once, on half the threads each; where those infer faster\n" +
		"than one run on every thread (the \"2 runs\" rows), embed can pass the bound.")
}

// concurrent times 32 goroutines that each embed one image against one
// call with the same 32 images: the engine's shared batcher should make
// them cost the same, in batches of more than one.
func concurrent(e *hybridembed.Embedder, model string, images []hybridembed.Image, runs int) row {
	images = images[:min(32, len(images))]
	var bestOne, bestMany float64
	var batches, inputs int64
	for range runs {
		start := time.Now()
		if _, err := e.EmbedImages(context.Background(), model, images); err != nil {
			log.Fatal(err)
		}
		bestOne = math.Max(bestOne, float64(len(images))/time.Since(start).Seconds())
		b0, i0 := visionBatches(e)
		start = time.Now()
		var wg sync.WaitGroup
		for _, im := range images {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.EmbedImages(context.Background(), model, []hybridembed.Image{im}); err != nil {
					log.Fatal(err)
				}
			}()
		}
		wg.Wait()
		bestMany = math.Max(bestMany, float64(len(images))/time.Since(start).Seconds())
		b1, i1 := visionBatches(e)
		batches, inputs = b1-b0, i1-i0
	}
	return row{fmt.Sprintf("32 goroutines x 1 image (mean batch %.1f)", float64(inputs)/float64(max(batches, 1))),
		fmt.Sprintf("%.2f img/s", bestMany), fmt.Sprintf("%.2f img/s one 32-image call", bestOne), bestMany / bestOne, math.NaN()}
}

func visionBatches(e *hybridembed.Embedder) (batches, inputs int64) {
	for _, st := range e.Stats() {
		if strings.Contains(st.Graph, "vision") {
			batches += st.Batches
			inputs += st.Inputs
		}
	}
	return
}

type row struct {
	name, ours, ref string
	ratio, bound    float64 // bound: NaN where it does not apply
}

// perCore times decode + CLIP preprocessing (to the 224x224 RGB the model
// is fed) on one core, ours against Pillow's (the reference every Python
// peer uses, with libjpeg-turbo inside) on the same files: exact, and
// draft/fast.
type perCore struct {
	dir  string
	data [][]byte
	proc imageprep.Processor
}

func newPerCore(dir string) *perCore {
	data, err := benchkit.ReadJPEGs(dir)
	if err != nil {
		log.Fatal(err)
	}
	return &perCore{dir: dir, data: data, proc: imageprep.CLIPProcessor(224)}
}

// ours is our time per image on one core (GOMAXPROCS 1), best of 3.
func (pc *perCore) ours(draft int) float64 {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	best := math.Inf(1)
	for range 3 {
		start := time.Now()
		for _, d := range pc.data {
			img, err := imageprep.Decode(d, imageprep.Limits{Draft: draft})
			if err != nil {
				log.Fatal(err)
			}
			if _, err := pc.proc.Pixels(img); err != nil {
				log.Fatal(err)
			}
			imageprep.Recycle(img)
		}
		best = math.Min(best, float64(time.Since(start))/float64(time.Millisecond)/float64(len(pc.data)))
	}
	return best
}

// allCores is exact decode+preprocess throughput with a goroutine per
// core, each taking the next file, best of 3 passes of about 2 s (given
// the one-core time per image).
func (pc *perCore) allCores(oneCoreMs float64) float64 {
	best := 0.0
	for range 3 {
		r, err := benchkit.DecodeAllCores(pc.data, max(len(pc.data), int(2000/oneCoreMs)*runtime.NumCPU()))
		if err != nil {
			log.Fatal(err)
		}
		best = math.Max(best, r)
	}
	return best
}

func (pc *perCore) againstPillow(name, py string, exact, draft float64) []row {
	var out []row
	for _, c := range []struct {
		label string
		ms    float64
		mode  string
	}{{"exact", exact, "exact"}, {"fast/draft", draft, "draft"}} {
		ref, err := pillowMs(py, pc.dir, c.mode)
		label := fmt.Sprintf("decode+preprocess %s, 1 core, %s", name, c.label)
		if err != nil {
			out = append(out, row{label, fmt.Sprintf("%.1f ms/img", c.ms), "Pillow: " + err.Error(), math.NaN(), math.NaN()})
			continue
		}
		out = append(out, row{label, fmt.Sprintf("%.1f ms/img", c.ms), fmt.Sprintf("%.1f ms/img Pillow", ref), c.ms / ref, math.NaN()})
	}
	return out
}

// pillowMs is Pillow's time per image for what CLIPImageProcessor does
// before normalising (open, draft when asked, convert RGB, bicubic resize
// of the short side to 224, centre crop), best of 3, in one process.
func pillowMs(py, dir, mode string) (float64, error) {
	if py == "" {
		return 0, fmt.Errorf("no python")
	}
	script := `
import glob, sys, time
from PIL import Image
paths = sorted(glob.glob(sys.argv[1] + "/*.jpg"))
datas = [open(p, "rb").read() for p in paths]
import io
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    for d in datas:
        im = Image.open(io.BytesIO(d))
        if sys.argv[2] == "draft":
            im.draft("RGB", (448, 448))
        im = im.convert("RGB")
        w, h = im.size
        s = 224 / min(w, h)
        im = im.resize((max(224, int(w * s)) if w > h else 224, max(224, int(h * s)) if h > w else 224), Image.BICUBIC)
        w, h = im.size
        l, tp = (w - 224) // 2, (h - 224) // 2
        im.crop((l, tp, l + 224, tp + 224)).tobytes()
    best = min(best, (time.perf_counter() - t) * 1000 / len(datas))
print(best)
`
	out, err := exec.Command(py, "-c", script, dir, mode).Output()
	if err != nil {
		return 0, fmt.Errorf("no Pillow at %s: %v", py, err)
	}
	var ms float64
	_, err = fmt.Sscan(string(out), &ms)
	return ms, err
}

// rawSession names the type where a variable called raw hides it.
type rawSession = benchkit.RawVision

// newRaw is raw ORT on the CPU, one run on every thread.
func newRaw(path string, threads, batch int) (*rawSession, error) {
	return benchkit.NewRawVision(path, ort.DeviceCPU, threads, batch, 1)
}

// againstRuns compares raw ORT run as the engine runs an image tower on
// the CPU (two runs at once, each on half the threads and half the batch)
// with one run on every thread: what the engine's runs gain before any
// image is decoded.
func againstRuns(label, path string, one *rawSession, threads, batch, n, passes int) (row, error) {
	two, err := benchkit.NewRawVision(path, ort.DeviceCPU, threads, batch, 2)
	if err != nil {
		return row{}, err
	}
	defer two.Close()
	var best2, best1 float64
	for range passes {
		r2, err := two.Pass(n)
		if err != nil {
			return row{}, err
		}
		r1, err := one.Pass(n)
		if err != nil {
			return row{}, err
		}
		best2, best1 = math.Max(best2, r2), math.Max(best1, r1)
	}
	return row{label, fmt.Sprintf("%.2f img/s", best2), fmt.Sprintf("%.2f img/s 1 run", best1), best2 / best1, math.NaN()}, nil
}

// pipeline times one EmbedImages pass, as the embed command runs it.
func pipeline(emb *hybridembed.Embedder, model string, images []hybridembed.Image) (float64, error) {
	start := time.Now()
	if _, err := emb.EmbedImages(context.Background(), model, images); err != nil {
		return 0, err
	}
	return float64(len(images)) / time.Since(start).Seconds(), nil
}
