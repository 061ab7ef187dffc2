// Command benchtext measures text throughput: EmbedTexts (tokenization,
// batching, the session, pooling) against raw ONNX Runtime sessions fed
// the same batches already tokenized, on the same model and threads; and
// the tokenizer's cost per text.
//
//	go run ./scripts/benchtext -model .bench/vit-b32
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/tokenize"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/scripts/benchkit"
)

func main() {
	modelsFlag := flag.String("models", ".bench/vit-b32,.bench/minilm-l6", "comma-separated model directories: CLIP (onnx/text_model.onnx) or sentence-transformers (onnx/model.onnx)")
	n := flag.Int("texts", 1024, "texts per pass")
	batch := flag.Int("batch", 32, "texts per batch (the engine's default)")
	threads := flag.Int("threads", runtime.NumCPU(), "ONNX Runtime threads")
	runs := flag.Int("runs", 3, "passes per side (the best is kept)")
	device := flag.String("device", "cpu", "cpu, or cuda (both sides on the GPU; skipped, saying why, where CUDA is unavailable)")
	flag.Parse()
	log.SetFlags(0)
	texts := make([]string, *n)
	for i := range texts {
		texts[i] = fmt.Sprintf("a photo of item number %d, on a wooden shelf in a small shop", i)
	}
	dev, err := ort.ParseDevice(*device)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ort.Init(ort.Config{CacheDir: layout.HomeDir(), Prefer: dev}); err != nil {
		log.Fatal(err)
	}
	if dev == ort.DeviceCUDA {
		if st := ort.PrepareCUDA(); st.Err != nil {
			fmt.Printf("text on CUDA: skipped (%v)\n", st.Err)
			if os.Getenv("HYBRIDEMBED_REQUIRE_CUDA") != "" {
				os.Exit(1)
			}
			return
		}
	}
	benchDevice = dev
	for _, m := range strings.Split(*modelsFlag, ",") {
		if _, err := os.Stat(m); err != nil {
			fmt.Printf("text: %s: skipped (%v)\n", m, err)
			continue
		}
		bench(m, texts, *batch, *threads, *runs)
	}
}

// benchDevice is where both sides run (-device).
var benchDevice = ort.DeviceCPU

// bench measures one model.
func bench(model string, texts []string, batch, threads, runs int) {
	ctx := context.Background()
	graph, inputs, output, opts := filepath.Join(model, "onnx", "text_model.onnx"), []string{"input_ids", "attention_mask"}, "text_embeds", tokenize.Options{Cap: 77}
	if _, err := os.Stat(graph); err != nil { // a sentence-transformers repo
		graph, inputs, output, opts = filepath.Join(model, "onnx", "model.onnx"), []string{"input_ids", "attention_mask", "token_type_ids"}, "last_hidden_state", tokenize.Options{MaxLength: 128}
	}
	tok, err := tokenize.Load(model, opts)
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
		shape := []int64{int64(b.Rows), int64(b.Cols)}
		feeds := []ort.Tensor{{Shape: shape, Int64: b.IDs}, {Shape: shape, Int64: b.AttentionMask}, {Shape: shape, Int64: b.TypeIDs}}
		batches = append(batches, feeds[:len(inputs)])
	}
	sess, err := ort.NewSession(graph, inputs, []string{output}, ort.SessionOptions{Threads: threads, Device: benchDevice})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	emb, err := hybridembed.New(hybridembed.WithDevice(string(benchDevice)), hybridembed.WithThreads(threads), hybridembed.WithOffline(true),
		hybridembed.WithBatchSize(0, batch), hybridembed.WithPolicy(hybridembed.PolicyLocal))
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	m, err := emb.Model(ctx, model)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.EmbedTexts(ctx, texts[:batch]); err != nil { // load, warm up
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
	fmt.Printf("text on %s: %s (%s), %d texts in batches of %d, %d threads, %d cores, best of %d interleaved passes\n", benchDevice,
		model, filepath.Base(graph), len(texts), batch, threads, runtime.NumCPU(), runs)
	fmt.Printf("  EmbedTexts %.1f texts/s; raw ONNX Runtime on the same batches %.1f texts/s; ratio %.3f (goal >= 0.9); tokenizing %.1f us/text\n",
		bestOurs, bestRaw, bestOurs/bestRaw, float64(perText)/float64(time.Microsecond))
}
