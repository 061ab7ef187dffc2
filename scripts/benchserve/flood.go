package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// flood runs the real binary (`cli serve` with its default limits) and
// sends it what used to run it out of memory: concurrent requests with
// bodies of bodyMB each (image data URIs, raw image/* bodies and texts, in
// turn), then concurrent 36 MP PNGs. Throughout, it reads the server's
// resident memory from /proc (VmRSS sampled, VmHWM at the end: the
// kernel's own peak) and splits it between Go's runtime (from the
// server's /metrics) and the rest (ONNX Runtime's weights and arena, C
// libraries), times /health, and counts the statuses; then it
// sends SIGTERM and reports the exit status. Clients honour 429's
// Retry-After and try again, as the SDKs do.
func flood(cli, model string, clients, bodyMB, pngs int, extra []string) error {
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--model", "bench=" + model}, extra...)
	cmd := exec.Command(cli, args...)
	cmd.Env = append(os.Environ(), "HF_HUB_OFFLINE=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s did not start: %v\n%s", cli, err, stderr.String())
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	if err := waitReady(base); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	idle := procKB(pid, "VmRSS")

	fmt.Printf("flood: %s %s, %s\n", cli, strings.Join(args, " "), model)
	readyGo := goMemory(base)
	fmt.Printf("  ready: RSS %.0f MB (%s)\n", mb(idle), split(idle, readyGo))
	if limit := readyGo.limit; limit > 0 {
		fmt.Printf("  the Go collector's soft limit (GOMEMLIMIT): %.0f MB\n", float64(limit)/(1<<20))
	}

	var peakRSS atomic.Int64
	var worstHealth atomic.Int64
	var healthFailed atomic.Int64
	stop := make(chan struct{})
	var bg sync.WaitGroup
	// Where the memory is, every 100 ms: Go's runtime (from /metrics) and
	// the rest of the resident set (ONNX Runtime, C libraries), each at
	// its largest in the phase.
	var phaseMu sync.Mutex
	var phaseGo, phaseNative int64 // kB
	bg.Go(func() {
		for {
			g := goMemory(base)
			if g.ok {
				rss := procKB(pid, "VmRSS")
				goKB := g.resident >> 10
				phaseMu.Lock()
				phaseGo, phaseNative = max(phaseGo, goKB), max(phaseNative, rss-goKB)
				phaseMu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	phase := func() string {
		phaseMu.Lock()
		defer phaseMu.Unlock()
		s := fmt.Sprintf("largest samples: Go's runtime %.0f MB, the rest %.0f MB", mb(phaseGo), mb(phaseNative))
		phaseGo, phaseNative = 0, 0
		return s
	}
	bg.Add(2)
	go func() { // RSS, every 10 ms
		defer bg.Done()
		for {
			if kb := procKB(pid, "VmRSS"); kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	go func() { // /health, every 50 ms, on its own connection
		defer bg.Done()
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		for {
			t := time.Now()
			resp, err := hc.Get(base + "/health")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				healthFailed.Add(1)
			}
			if d := int64(time.Since(t)); d > worstHealth.Load() {
				worstHealth.Store(d)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	noise := noisePNG(rng, bodyMB<<20*3/4)
	text := bigText(rng, bodyMB<<20)
	huge := flatPNG(6000, 6000)
	fmt.Printf("  bodies: %d clients, each one %d MB body (a %.1f MB noise PNG as a data URI, or raw, or %d MB of text)\n",
		clients, bodyMB, float64(len(noise))/(1<<20), bodyMB)
	bodies := make([]request, clients)
	for i := range bodies {
		switch i % 3 {
		case 0:
			b, _ := json.Marshal(map[string]any{"model": "bench", "modality": "image",
				"input": []string{"data:image/png;base64," + base64.StdEncoding.EncodeToString(noise)}})
			bodies[i] = request{path: "/v1/embeddings", contentType: "application/json", body: b}
		case 1:
			bodies[i] = request{path: "/models/bench", contentType: "image/png", body: noise}
		case 2:
			b, _ := json.Marshal(map[string]any{"model": "bench", "input": []string{text}})
			bodies[i] = request{path: "/v1/embeddings", contentType: "application/json", body: b}
		}
	}
	r1 := send(base, bodies)
	fmt.Printf("    %s; peak RSS %.0f MB (%s)\n", r1, mb(procKB(pid, "VmHWM")), phase())
	resetPeak(pid)
	fmt.Printf("  pixels: %d clients, each a 6000x6000 PNG (36 MP, %d KB) as a raw body\n", pngs, len(huge)>>10)
	many := make([]request, pngs)
	for i := range many {
		many[i] = request{path: "/models/bench", contentType: "image/png", body: huge}
	}
	r2 := send(base, many)
	fmt.Printf("    %s; peak RSS %.0f MB (%s)\n", r2, mb(procKB(pid, "VmHWM")), phase())

	close(stop)
	bg.Wait()
	hwm := procKB(pid, "VmHWM")
	t := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	werr := cmd.Wait()
	code := 0
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if werr != nil {
		return werr
	}
	fmt.Printf("  peak RSS %.0f MB (VmRSS sampled every 10 ms; the kernel's VmHWM since the last phase began: %.0f MB; %.0f MB when ready); goal <= 1536 MB\n",
		mb(peakRSS.Load()), mb(hwm), mb(idle))
	fmt.Printf("  /health: slowest %.0f ms, %d failed (goal < 1000 ms, 0)\n",
		float64(worstHealth.Load())/float64(time.Millisecond), healthFailed.Load())
	fmt.Printf("  SIGTERM: exit %d after %.1f s (goal 0)\n", code, time.Since(t).Seconds())
	if code != 0 {
		fmt.Printf("  stderr: %s\n", lastLines(stderr.String(), 10))
	}
	return nil
}

// goStats is what the server's /metrics says of Go's own memory.
type goStats struct {
	ok bool
	// resident is what Go's runtime has mapped less what it has returned
	// (go_memstats_sys_bytes less go_memstats_heap_released_bytes),
	// counted as resident whether or not every page of it was touched.
	resident int64
	limit    int64 // go_gc_gomemlimit_bytes
}

func goMemory(base string) goStats {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return goStats{}
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			vals[name] = f
		}
	}
	sys, ok := vals["go_memstats_sys_bytes"]
	if !ok || resp.StatusCode != http.StatusOK {
		return goStats{}
	}
	return goStats{ok: true, resident: int64(sys - vals["go_memstats_heap_released_bytes"]), limit: int64(vals["go_gc_gomemlimit_bytes"])}
}

// split says how much of a resident set of rss kB is Go's.
func split(rss int64, g goStats) string {
	if !g.ok {
		return "no /metrics to split it by"
	}
	return fmt.Sprintf("Go's runtime %.0f MB, the rest %.0f MB", float64(g.resident)/(1<<20), mb(rss-g.resident>>10))
}

type request struct {
	path, contentType string
	body              []byte
}

// outcome counts what the clients of one phase got.
type outcome struct {
	mu         sync.Mutex
	statuses   map[int]int // every attempt
	final      map[int]int // each client's last attempt
	noStatus   int         // attempts that got no HTTP status at all
	firstError string
	took       time.Duration
}

func (o *outcome) String() string {
	keys := func(m map[int]int) string {
		var ks []int
		for k := range m {
			ks = append(ks, k)
		}
		sort.Ints(ks)
		var parts []string
		for _, k := range ks {
			parts = append(parts, fmt.Sprintf("%d x%d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	s := fmt.Sprintf("%.1f s; attempts: %s; final: %s; without a status: %d", o.took.Seconds(), keys(o.statuses), keys(o.final), o.noStatus)
	if o.firstError != "" {
		s += " (first: " + o.firstError + ")"
	}
	return s
}

// send posts every request at once; a 429 is retried after its
// Retry-After, up to 60 times.
func send(base string, reqs []request) *outcome {
	o := &outcome{statuses: map[int]int{}, final: map[int]int{}}
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: len(reqs)}}
	var wg sync.WaitGroup
	t := time.Now()
	for _, rq := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := 0
			for attempt := 0; attempt < 60; attempt++ {
				resp, err := client.Post(base+rq.path, rq.contentType, bytes.NewReader(rq.body))
				o.mu.Lock()
				if err != nil {
					o.noStatus++
					if o.firstError == "" {
						o.firstError = err.Error()
					}
					o.mu.Unlock()
					status = 0
					continue
				}
				o.statuses[resp.StatusCode]++
				o.mu.Unlock()
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
				if status != http.StatusTooManyRequests {
					break
				}
				wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
				time.Sleep(time.Duration(max(wait, 1)) * time.Second)
			}
			o.mu.Lock()
			o.final[status]++
			o.mu.Unlock()
		}()
	}
	wg.Wait()
	o.took = time.Since(t)
	return o
}

func waitReady(base string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never became ready", base)
}

// procKB reads a "Name:  N kB" line of /proc/PID/status.
func procKB(pid int, name string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// resetPeak resets the process's VmHWM to its current RSS (Linux's
// clear_refs "5"), so that each phase reports its own peak.
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// noisePNG is an RGB PNG of random pixels, about size bytes (noise does
// not compress).
func noisePNG(rng *rand.Rand, size int) []byte {
	side := 1
	for 3*side*side < size {
		side++
	}
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		if i%4 == 3 {
			img.Pix[i] = 255
		} else {
			img.Pix[i] = uint8(rng.Uint32())
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	_ = enc.Encode(&buf, img)
	return buf.Bytes()
}

// flatPNG is a w x h RGB PNG of a gradient: megapixels in a small file.
func flatPNG(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(y * 255 / h), G: uint8(x * 255 / w), B: 128, A: 255})
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	_ = enc.Encode(&buf, img)
	return buf.Bytes()
}

// bigText is size bytes of words.
func bigText(rng *rand.Rand, size int) string {
	words := []string{"a", "photo", "of", "the", "cat", "sitting", "on", "mat", "under", "sun", "with", "dog"}
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()[:size]
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func init() { log.SetFlags(0) }
