// Command benchcuda measures image embedding on CUDA: raw ONNX Runtime on
// the GPU (fp32 and fp16 vision towers, fed ready tensors, over batch
// sizes 32 to 256) against `embed` (decode and preprocess on every core,
// then the same towers) on 1024x768 and 12 MP JPEGs, the image path alone
// on every core (what the CPU can feed the GPU), and CPU-against-CUDA
// parity of the vectors. Where CUDA is unavailable it says why and exits 0
// (1 with HYBRIDEMBED_REQUIRE_CUDA=1).
//
//	go run ./scripts/benchcuda -model .bench/vit-b32 -work .bench
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/scripts/benchkit"
)

func main() {
	model := flag.String("model", ".bench/vit-b32", "model directory (a full-size ViT-B/32, with onnx/vision_model_fp16.onnx for the fp16 rows)")
	work := flag.String("work", ".bench", "where the JPEG folders are kept (cuda-jpeg-*, apart from scripts/bench's smaller ones)")
	n1 := flag.Int("n1024", 1024, "1024x768 JPEGs")
	n12 := flag.Int("n12mp", 128, "12-megapixel JPEGs")
	runs := flag.Int("runs", 3, "timed passes per measurement (the best is kept)")
	flag.Parse()
	log.SetFlags(0)

	if _, err := ort.Init(ort.Config{CacheDir: layout.HomeDir(), Prefer: ort.DeviceCUDA}); err != nil {
		skip(err)
		return
	}
	if st := ort.PrepareCUDA(); st.Err != nil {
		skip(st.Err)
		return
	}
	if err := ort.ProbeCUDA(context.Background(), 0); err != nil {
		skip(err)
		return
	}
	st := ort.PrepareCUDA()
	gpu := st.Devices.GPUs[0]
	fmt.Printf("CUDA: %s (%d MiB, compute %s), driver %s, ONNX Runtime %s (%s), %d cores, JPEG decoder %s, best of %d passes\n",
		gpu.Name, gpu.MemoryMiB, gpu.Compute, st.Devices.Driver, st.Runtime.Version, st.Runtime.Library, runtime.NumCPU(), decoderName(), *runs)
	for _, l := range st.Libraries.Libraries {
		fmt.Printf("  %s: %s (%s)\n", l.Name, l.Path, l.Origin)
	}

	folders := []struct {
		name string
		w, h int
		n    int
	}{{"1024x768", 1024, 768, *n1}, {"12mp", 4000, 3000, *n12}}
	for _, f := range folders {
		if err := benchkit.MakeFolder(filepath.Join(*work, "cuda-jpeg-"+f.name), f.w, f.h, f.n); err != nil {
			log.Fatal(err)
		}
	}
	var table []row
	// What the CPU can feed the GPU: decode+preprocess on every core.
	path := map[string]float64{}
	for _, f := range folders {
		path[f.name] = imagePath(filepath.Join(*work, "cuda-jpeg-"+f.name), *runs)
		table = append(table, row{fmt.Sprintf("image path alone, %s, %d cores", f.name, runtime.NumCPU()), fmt.Sprintf("%.0f img/s", path[f.name]), "", math.NaN()})
	}

	photos := benchkit.FolderImages(filepath.Join(*work, "cuda-jpeg-1024x768"))
	cpu, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithOffline(true))
	if err != nil {
		log.Fatal(err)
	}
	defer cpu.Close()
	for _, v := range []struct{ variant, file string }{{"", "vision_model.onnx"}, {"fp16", "vision_model_fp16.onnx"}} {
		label := "fp32"
		if v.variant != "" {
			label = v.variant
		}
		graph := filepath.Join(*model, "onnx", v.file)
		if _, err := os.Stat(graph); err != nil {
			fmt.Printf("  %s: no %s (make_fixtures.py --bench writes it)\n", label, graph)
			continue
		}
		// Raw ORT on the GPU over batch sizes: the ceiling, and the batch
		// size embed then uses.
		best, bestBatch := 0.0, 0
		for _, b := range []int{32, 64, 128, 256} {
			r, err := rawRate(graph, b, *n1, *runs)
			if err != nil {
				fmt.Printf("  raw ORT CUDA %s batch %d: %v\n", label, b, err)
				continue
			}
			table = append(table, row{fmt.Sprintf("raw ORT CUDA %s, batch %d", label, b), fmt.Sprintf("%.0f img/s", r), "", math.NaN()})
			if r > best {
				best, bestBatch = r, b
			}
		}
		if bestBatch == 0 {
			continue
		}
		emb, err := hybridembed.New(hybridembed.WithDevice("cuda"), hybridembed.WithBatchSize(bestBatch, 0),
			hybridembed.WithOffline(true), hybridembed.WithVariant(v.variant))
		if err != nil {
			log.Fatal(err)
		}
		for _, f := range folders {
			images := benchkit.FolderImages(filepath.Join(*work, "cuda-jpeg-"+f.name))
			if _, err := emb.EmbedImages(context.Background(), *model, images[:min(len(images), bestBatch)]); err != nil { // load, warm up
				log.Fatal(err)
			}
			rate := 0.0
			for range *runs {
				start := time.Now()
				if _, err := emb.EmbedImages(context.Background(), *model, images); err != nil {
					log.Fatal(err)
				}
				rate = math.Max(rate, float64(len(images))/time.Since(start).Seconds())
			}
			// The goal: 0.9 of raw ORT where the image path is not the
			// bound, else 0.9 of the image path's own rate.
			ref, refName := best, fmt.Sprintf("raw ORT CUDA %s batch %d", label, bestBatch)
			if path[f.name] < best {
				ref, refName = path[f.name], "the image path alone"
			}
			table = append(table, row{fmt.Sprintf("embed %d %s JPEGs, CUDA %s, batch %d", len(images), f.name, label, bestBatch),
				fmt.Sprintf("%.0f img/s", rate), fmt.Sprintf("%.0f img/s %s", ref, refName), rate / ref})
		}
		// Parity: the same photos on the CPU (fp32) and on CUDA.
		want, err := cpu.EmbedImages(context.Background(), *model, photos[:16])
		if err != nil {
			log.Fatal(err)
		}
		got, err := emb.EmbedImages(context.Background(), *model, photos[:16])
		if err != nil {
			log.Fatal(err)
		}
		worst := 1.0
		for i := range got {
			worst = math.Min(worst, hybridembed.Cosine(got[i].Vector, want[i].Vector))
		}
		goal := 0.9999
		if v.variant == "fp16" {
			goal = 0.999
		}
		verdict := "PASS"
		if worst < goal {
			verdict = "FAIL"
		}
		table = append(table, row{fmt.Sprintf("parity CUDA %s vs CPU fp32, 16 photos: min cosine", label), fmt.Sprintf("%.6f", worst),
			fmt.Sprintf("goal >= %g: %s", goal, verdict), math.NaN()})
		emb.Close()
	}
	fmt.Println()
	fmt.Printf("%-52s %-14s %-44s %s\n", "measurement", "hybridembed", "reference (same run)", "ratio")
	for _, r := range table {
		ratio := ""
		if !math.IsNaN(r.ratio) {
			ratio = fmt.Sprintf("%.3f", r.ratio)
		}
		fmt.Printf("%-52s %-14s %-44s %s\n", r.name, r.ours, r.ref, ratio)
	}
}

type row struct {
	name, ours, ref string
	ratio           float64
}

func skip(err error) {
	fmt.Printf("CUDA rows: skipped (%v)\n", err)
	if os.Getenv("HYBRIDEMBED_REQUIRE_CUDA") != "" {
		os.Exit(1)
	}
}

func decoderName() string {
	name, _ := imageprep.JPEGDecoder()
	return name
}

// rawRate is raw ORT on the GPU: one session fed a ready batch of tensors,
// about n images per pass, best of runs.
func rawRate(graph string, batch, n, runs int) (float64, error) {
	r, err := benchkit.NewRawVision(graph, ort.DeviceCUDA, runtime.NumCPU(), batch, 1)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	best := 0.0
	for range runs {
		rate, err := r.Pass(n)
		if err != nil {
			return 0, err
		}
		best = math.Max(best, rate)
	}
	return best, nil
}

// imagePath is exact decode+preprocess throughput with a goroutine per
// core over the folder's JPEGs, best of runs.
func imagePath(dir string, runs int) float64 {
	data, err := benchkit.ReadJPEGs(dir)
	if err != nil {
		log.Fatal(err)
	}
	best := 0.0
	for range runs {
		r, err := benchkit.DecodeAllCores(data, max(len(data), 4*runtime.NumCPU()))
		if err != nil {
			log.Fatal(err)
		}
		best = math.Max(best, r)
	}
	return best
}
