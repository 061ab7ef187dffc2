// Command benchfamily measures a SigLIP 2 base model (generated full-size
// with random weights by make_fixtures.py --bench) end to end against raw
// ONNX Runtime on the same model, threads and batch size: EmbedImages over
// a folder of JPEGs against the vision session fed ready tensors, and
// EmbedTexts against the text session fed the same padded batches; and
// the Gemma tokenizer's load time and memory against reading the file and
// decoding it with encoding/json.
//
//	go run ./scripts/benchfamily -model .bench/siglip2-base -images .bench/jpeg-1024x768
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/tokenize"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/scripts/benchkit"
)

func main() {
	model := flag.String("model", ".bench/siglip2-base", "a SigLIP 2 model directory in the onnx-community layout")
	images := flag.String("images", ".bench/jpeg-1024x768", "a folder of JPEGs (scripts/bench writes one)")
	threads := flag.Int("threads", runtime.NumCPU(), "ONNX Runtime threads")
	batch := flag.Int("batch", 16, "images per batch")
	textBatch := flag.Int("text-batch", 32, "texts per batch")
	nTexts := flag.Int("texts", 512, "texts per pass")
	runs := flag.Int("runs", 3, "timed passes per side (the best is kept)")
	flag.Parse()
	log.SetFlags(0)
	if _, err := os.Stat(filepath.Join(*model, "onnx", "vision_model.onnx")); err != nil {
		fmt.Printf("siglip2: %s: skipped (%v)\n", *model, err)
		return
	}
	tokenizerLoad(*model, *runs)
	if _, err := ort.Init(ort.Config{CacheDir: layout.HomeDir(), Prefer: ort.DeviceCPU}); err != nil {
		log.Fatal(err)
	}
	emb, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithThreads(*threads), hybridembed.WithOffline(true),
		hybridembed.WithBatchSize(*batch, *textBatch), hybridembed.WithPolicy(hybridembed.PolicyLocal))
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	ctx := context.Background()
	m, err := emb.Model(ctx, *model)
	if err != nil {
		log.Fatal(err)
	}
	info := m.Info()
	fmt.Printf("siglip2: %s (family %s, layout %s, %d-d), ONNX Runtime %s, %d threads, %d cores, best of %d interleaved passes\n",
		*model, info.Family, info.Layout, info.Dim, ort.Version(), *threads, runtime.NumCPU(), *runs)
	imagesBench(ctx, m, *model, *images, *threads, *batch, *runs)
	textsBench(ctx, m, *model, *threads, *textBatch, *nTexts, *runs)
}

// tokenizerLoad loads the model's tokenizer.json as the engine does, and
// the same bytes with encoding/json into a generic value (what a plain Go
// loader does), reporting the best time of each, what the load allocated
// and what it keeps.
func tokenizerLoad(model string, runs int) {
	path := filepath.Join(model, "tokenizer.json")
	st, err := os.Stat(path)
	if err != nil {
		log.Fatal(err)
	}
	var best, ref, bestCPU time.Duration = math.MaxInt64, math.MaxInt64, math.MaxInt64
	var allocated, kept uint64
	for range runs {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu0 := benchkit.CPUTime()
		start := time.Now()
		tok, err := tokenize.Load(model, tokenize.Options{Fixed: true, PadRight: true, Lowercase: true, Cap: 64})
		if err != nil {
			log.Fatal(err)
		}
		best = min(best, time.Since(start))
		bestCPU = min(bestCPU, benchkit.CPUTime()-cpu0)
		runtime.ReadMemStats(&after)
		allocated = after.TotalAlloc - before.TotalAlloc
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
		runtime.KeepAlive(tok)

		start = time.Now()
		data, err := os.ReadFile(path)
		if err != nil {
			log.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			log.Fatal(err)
		}
		ref = min(ref, time.Since(start))
	}
	fmt.Printf("siglip2 tokenizer: %s (%.1f MB): load %.0f ms (%.0f ms of CPU; allocates %d MB, keeps %d MB of heap); os.ReadFile + encoding/json into any %.0f ms; ratio %.2f\n",
		path, float64(st.Size())/1e6, benchkit.Ms(best), benchkit.Ms(bestCPU), allocated>>20, kept>>20, benchkit.Ms(ref), benchkit.Ms(best)/benchkit.Ms(ref))
}

func imagesBench(ctx context.Context, m *hybridembed.Model, model, dir string, threads, batch, runs int) {
	imgs := benchkit.FolderImages(dir)
	if len(imgs) == 0 {
		fmt.Printf("  images: skipped (no JPEGs in %s; scripts/bench writes them)\n", dir)
		return
	}
	sess, err := ort.NewSession(filepath.Join(model, "onnx", "vision_model.onnx"), []string{"pixel_values"}, []string{"pooler_output"},
		ort.SessionOptions{Threads: threads, Device: ort.DeviceCPU})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	px := make([]float32, batch*3*224*224)
	for i := range px {
		px[i] = float32(math.Sin(float64(i)))
	}
	in := []ort.Tensor{{Shape: []int64{int64(batch), 3, 224, 224}, Float32: px}}
	if _, err := m.EmbedImages(ctx, imgs[:1]); err != nil { // load, warm up
		log.Fatal(err)
	}
	if _, err := sess.Run(ctx, in, nil); err != nil {
		log.Fatal(err)
	}
	iters := max(1, len(imgs)/batch)
	batches := make([][]ort.Tensor, iters)
	for i := range batches {
		batches[i] = in
	}
	best, err := benchkit.BestRates(runs, benchkit.RawPass(ctx, sess, iters*batch, batches), benchkit.Side{Items: len(imgs), Run: func() error {
		_, err := m.EmbedImages(ctx, imgs)
		return err
	}})
	if err != nil {
		log.Fatal(err)
	}
	bestRaw, bestOurs := best[0], best[1]
	fmt.Printf("  embed %d JPEGs from %s: %.1f img/s; raw ONNX Runtime on ready batches of %d: %.1f img/s; ratio %.3f (goal >= 0.9)\n",
		len(imgs), dir, bestOurs, batch, bestRaw, bestOurs/bestRaw)
}

func textsBench(ctx context.Context, m *hybridembed.Model, model string, threads, batch, n, runs int) {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("A Photo of item number %d, on a wooden shelf in a small shop", i)
	}
	tok, err := tokenize.Load(model, tokenize.Options{Fixed: true, PadRight: true, Lowercase: true, Cap: 64})
	if err != nil {
		log.Fatal(err)
	}
	encs, perText, err := benchkit.Encode(tok, texts)
	if err != nil {
		log.Fatal(err)
	}
	var batches [][]ort.Tensor
	for lo := 0; lo < len(encs); lo += batch {
		b := tok.Pad(encs[lo:min(lo+batch, len(encs))])
		batches = append(batches, []ort.Tensor{{Shape: []int64{int64(b.Rows), int64(b.Cols)}, Int64: b.IDs}})
	}
	sess, err := ort.NewSession(filepath.Join(model, "onnx", "text_model.onnx"), []string{"input_ids"}, []string{"pooler_output"},
		ort.SessionOptions{Threads: threads, Device: ort.DeviceCPU})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	if _, err := m.EmbedTexts(ctx, texts[:batch]); err != nil {
		log.Fatal(err)
	}
	if _, err := sess.Run(ctx, batches[0], nil); err != nil {
		log.Fatal(err)
	}
	best, err := benchkit.BestRates(runs, benchkit.RawPass(ctx, sess, len(texts), batches), benchkit.TextsPass(ctx, m, texts))
	if err != nil {
		log.Fatal(err)
	}
	bestRaw, bestOurs := best[0], best[1]
	fmt.Printf("  EmbedTexts %d texts (padded to 64): %.1f texts/s; raw ONNX Runtime on the same batches of %d: %.1f texts/s; ratio %.3f (goal >= 0.9); tokenizing %.1f us/text\n",
		len(texts), bestOurs, batch, bestRaw, bestOurs/bestRaw, float64(perText)/float64(time.Microsecond))
}
