// Command benchserve load-tests `hybridembed serve` on loopback: many
// concurrent clients, one text per request, through the real HTTP server
// and handler; and, as the reference in the same run, one batched
// EmbedTexts call over the same texts on the same model. With -flood it
// runs the real binary instead under a flood of big bodies and huge
// images, and reports its peak memory (see flood).
//
//	go run ./scripts/benchserve -model .bench/vit-b32
//	go run ./scripts/benchserve -flood -cli bin/hybridembed -model .bench/vit-b32
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/server"
)

func main() {
	model := flag.String("model", ".bench/vit-b32", "CLIP model directory with a text tower")
	requests := flag.Int("requests", 5000, "requests, one text each")
	clients := flag.Int("clients", 64, "concurrent clients")
	threads := flag.Int("threads", runtime.NumCPU(), "ONNX Runtime threads")
	floodMode := flag.Bool("flood", false, "run the CLI's server under a flood of big bodies and huge images, and report its peak RSS")
	cli := flag.String("cli", "bin/hybridembed", "the CLI, for -flood")
	bodyMB := flag.Int("body-mb", 24, "-flood: the size of each big body, in MB")
	floodClients := flag.Int("flood-clients", 24, "-flood: concurrent big bodies")
	pngs := flag.Int("pngs", 16, "-flood: concurrent 36 MP PNGs")
	serveArgs := flag.String("serve-args", "", "-flood: more flags for serve, space-separated (none: its defaults)")
	flag.Parse()
	log.SetFlags(0)
	if *floodMode {
		if err := flood(*cli, *model, *floodClients, *bodyMB, *pngs, strings.Fields(*serveArgs)); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx := context.Background()

	texts := make([]string, *requests)
	for i := range texts {
		texts[i] = fmt.Sprintf("a photo of item number %d on a shelf", i)
	}
	emb, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithThreads(*threads), hybridembed.WithOffline(true),
		hybridembed.WithNormalize(false), hybridembed.WithKeepAlive(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	srv, err := server.New(ctx, emb, server.Config{Models: map[string]string{"bench": *model}})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Warm(ctx); err != nil {
		log.Fatal(err)
	}
	m, err := emb.Model(ctx, *model)
	if err != nil {
		log.Fatal(err)
	}

	// The reference: one batched call over every text.
	t := time.Now()
	if _, err := m.EmbedTexts(ctx, texts); err != nil {
		log.Fatal(err)
	}
	direct := time.Since(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/v1/embeddings"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}

	before := textBatches(emb)
	latencies := make([]time.Duration, *requests)
	var next, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	t = time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(texts) {
					return
				}
				body, _ := json.Marshal(map[string]any{"model": "bench", "input": texts[i], "encoding_format": "base64"})
				start := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err == nil {
					var r struct {
						Data []json.RawMessage `json:"data"`
					}
					err = json.NewDecoder(resp.Body).Decode(&r)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != http.StatusOK || len(r.Data) != 1) {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				latencies[i] = time.Since(start)
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { log.Printf("first error: %v", err) })
				}
			}
		}()
	}
	wg.Wait()
	served := time.Since(t)
	after := textBatches(emb)

	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / float64(time.Millisecond)
	}
	serverRate := float64(*requests) / served.Seconds()
	directRate := float64(*requests) / direct.Seconds()
	fmt.Printf("serve: %d requests (one text each) from %d clients on loopback, %s text tower, %d threads, %d cores\n",
		*requests, *clients, *model, *threads, runtime.NumCPU())
	fmt.Printf("  errors %d; %.0f requests/s; latency p50 %.1f ms, p99 %.1f ms; %d batches, mean batch %.1f\n",
		failed.Load(), serverRate, pct(0.5), pct(0.99), after.batches-before.batches,
		float64(after.inputs-before.inputs)/float64(max(1, after.batches-before.batches)))
	fmt.Printf("  one EmbedTexts call over the same %d texts: %.0f texts/s; ratio %.2f (goal >= 0.8)\n",
		*requests, directRate, serverRate/directRate)
}

type counts struct{ batches, inputs int64 }

func textBatches(emb *hybridembed.Embedder) counts {
	var c counts
	for _, st := range emb.Stats() {
		if strings.Contains(st.Graph, "text") {
			c.batches += st.Batches
			c.inputs += st.Inputs
		}
	}
	return c
}
