package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/server"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

// rawRequest writes a request's head (and whatever of its body is given)
// on a new connection and returns it, with a reader for the response.
func rawRequest(t *testing.T, addr, path string, contentLength int64, body string, extra ...string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n", path, apiKey)
	if contentLength >= 0 {
		head += fmt.Sprintf("Content-Length: %d\r\n", contentLength)
	}
	for _, h := range extra {
		head += h + "\r\n"
	}
	_, err = io.WriteString(conn, head+"\r\n"+body)
	require.NoError(t, err)
	return conn, bufio.NewReader(conn)
}

// readResponse reads one response within d.
func readResponse(t *testing.T, conn net.Conn, r *bufio.Reader, d time.Duration) (*http.Response, string) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(d)))
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err, "no response within %v", d)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

// TestBodyOverLimitRefusedBeforeRead: a client that declares a body over
// the limit gets 413 at once, before it sends a byte of it, on both APIs,
// with or without Expect: 100-continue (and no 100 Continue is sent).
func TestBodyOverLimitRefusedBeforeRead(t *testing.T) {
	ts, _ := start(t, server.Config{})
	addr := strings.TrimPrefix(ts.URL, "http://")
	for _, tc := range []struct {
		path   string
		expect bool
	}{{"/v1/embeddings", false}, {"/models/clip", false}, {"/v1/embeddings", true}} {
		t.Run(fmt.Sprintf("%s expect=%v", tc.path, tc.expect), func(t *testing.T) {
			var extra []string
			if tc.expect {
				extra = append(extra, "Expect: 100-continue")
			}
			start := time.Now()
			conn, r := rawRequest(t, addr, tc.path, 1<<30, "", extra...)
			resp, body := readResponse(t, conn, r, 3*time.Second)
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)
			assert.Contains(t, body, "limit of 33554432 bytes")
			t.Logf("413 after %v with no body sent", time.Since(start))
		})
	}
}

// heldBytes reads the memory budget's gauge.
func heldBytes(t *testing.T, base string) int64 {
	t.Helper()
	v := metric(t, base, "hybridembed_memory_held_bytes")
	n, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err, "hybridembed_memory_held_bytes = %q", v)
	return int64(n)
}

// TestMemoryBudget: requests are admitted into one server-wide budget by
// their declared length, before their bodies are read (three times the
// length for JSON: the body, its strings, its decoded images); a request
// that does not fit gets 429 with Retry-After at once, whatever model or
// route it is for; a body without a length is counted as it arrives; and
// every byte is given back, whether the request succeeds, fails or its
// client goes away.
func TestMemoryBudget(t *testing.T) {
	const body = 1 << 20
	cfg := server.Config{MaxBodyBytes: body, MaxPixels: 100_000, MaxInflightBytes: 8 << 20}
	ts, _ := start(t, cfg)
	addr := strings.TrimPrefix(ts.URL, "http://")
	reserve := int64(100_000 * 7)
	room := cfg.MaxInflightBytes - reserve // what bodies may hold

	// Two clients declare 1 MiB bodies and send none of it yet: each
	// holds 3 MiB of the 8 (less the decode reserve).
	payload := `{"model": "clip", "input": "` + strings.Repeat("a photo ", (body-40)/8) + `"}`
	payload += strings.Repeat(" ", body-len(payload))
	var held []net.Conn
	var readers []*bufio.Reader
	for range 2 {
		conn, r := rawRequest(t, addr, "/v1/embeddings", body, "")
		held, readers = append(held, conn), append(readers, r)
	}
	require.Eventually(t, func() bool { return heldBytes(t, ts.URL) == 2*3*body }, 5*time.Second, 10*time.Millisecond)
	require.Less(t, room-2*3*body, int64(3*body), "a third does not fit")

	// A third, on the other API, is refused at once, before its body.
	conn, r := rawRequest(t, addr, "/models/clip", body, "")
	resp, data := readResponse(t, conn, r, 3*time.Second)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, data)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	// A small one fits beside them.
	resp, small := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", []byte(`{"model": "clip", "input": "a cat"}`))
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(small))

	// A chunked body is counted as it is read: 3 x 64 KiB to begin with,
	// more as it grows; it is refused once it needs more than is free.
	pr, pw := io.Pipe()
	chunked := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/embeddings", pr)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			chunked <- nil
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		chunked <- resp
	}()
	_, err := pw.Write([]byte(`{"model": "clip", "input": "`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return heldBytes(t, ts.URL) == 2*3*body+3*64<<10 }, 5*time.Second, 10*time.Millisecond)
	go func() {
		// More than there is room for: refused part-way.
		for {
			if _, err := pw.Write(bytes.Repeat([]byte("a "), 32<<10)); err != nil {
				return
			}
		}
	}()
	got := <-chunked
	require.NotNil(t, got, "the chunked client got a status")
	assert.Equal(t, http.StatusTooManyRequests, got.StatusCode)
	pw.Close()

	// The held clients send their bodies: answered, and the budget empties.
	for i, conn := range held {
		_, err := io.WriteString(conn, payload)
		require.NoError(t, err)
		resp, data := readResponse(t, conn, readers[i], 30*time.Second)
		assert.Equal(t, http.StatusOK, resp.StatusCode, data)
	}
	require.Eventually(t, func() bool { return heldBytes(t, ts.URL) == 0 }, 5*time.Second, 10*time.Millisecond)

	// A client that declares a body and goes away gives its share back.
	conn, _ = rawRequest(t, addr, "/v1/embeddings", body, "{")
	require.Eventually(t, func() bool { return heldBytes(t, ts.URL) == 3*body }, 5*time.Second, 10*time.Millisecond)
	conn.Close()
	require.Eventually(t, func() bool { return heldBytes(t, ts.URL) == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "2", metric(t, ts.URL, "hybridembed_memory_rejected_total"))
}

// TestFloodBounded: 32 clients at once, each with a body of nearly the
// largest size (texts, and images as data URIs), retrying on 429 as SDKs
// do: every one is answered, what requests hold never passes the budget,
// and the budget is empty afterwards.
func TestFloodBounded(t *testing.T) {
	const body = 512 << 10
	cfg := server.Config{MaxBodyBytes: body, MaxPixels: 250_000, MaxInflightBytes: 6 << 20}
	ts, _ := start(t, cfg)
	img := pngOf(400, 300, true)
	bodies := [][]byte{
		mustJSON(map[string]any{"model": "clip", "input": []string{strings.Repeat("a photo of a cat ", (body-100)/17)}}),
		mustJSON(map[string]any{"model": "clip", "modality": "image", "input": []string{"data:image/png;base64," + base64.StdEncoding.EncodeToString(img)}}),
	}
	stopSampling := sampleMax(time.Millisecond, func() int64 {
		n, _ := strconv.ParseFloat(metric(t, ts.URL, "hybridembed_memory_held_bytes"), 64)
		return int64(n)
	})
	client := &http.Client{Timeout: time.Minute} // a flood that wedges the server fails, not hangs
	var wg sync.WaitGroup
	var refused atomic.Int64
	statuses := make([]int, 32)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/embeddings", bytes.NewReader(bodies[i%2]))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := client.Do(req)
				if err != nil {
					statuses[i] = -1
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
				if resp.StatusCode != http.StatusTooManyRequests {
					return
				}
				refused.Add(1)
				if resp.Header.Get("Retry-After") != "1" {
					statuses[i] = -2
					return
				}
				time.Sleep(20 * time.Millisecond) // sooner than asked, to press harder
			}
		}()
	}
	wg.Wait()
	peak := stopSampling()
	for i, s := range statuses {
		assert.Equal(t, http.StatusOK, s, "client %d: every client is answered, in the end with its vectors", i)
	}
	assert.Positive(t, refused.Load(), "the flood was more than the budget holds")
	assert.Positive(t, peak)
	assert.LessOrEqual(t, peak, cfg.MaxInflightBytes)
	assert.Zero(t, heldBytes(t, ts.URL))
	t.Logf("peak held %d of %d bytes; %d refusals with 429", peak, cfg.MaxInflightBytes, refused.Load())
}

// sampleMax calls read every interval until the returned stop is called,
// and stop returns the largest value read.
func sampleMax(every time.Duration, read func() int64) (stop func() int64) {
	var peak atomic.Int64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			if n := read(); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// pngOf is a w x h RGB PNG of noise (noisy: a large body) or a gradient.
func pngOf(w, h int, noisy bool) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: uint8(x), G: uint8(y), B: 128, A: 255}
			if noisy {
				seed = seed*1664525 + 1013904223
				c.R, c.G, c.B = uint8(seed>>8), uint8(seed>>16), uint8(seed>>24)
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// startHTTP is start, served by the server's own http.Server (with its
// timeouts) rather than httptest's.
func startHTTP(t *testing.T, cfg server.Config, opts ...hybridembed.Option) string {
	t.Helper()
	emb := newEmbedder(t, append([]hybridembed.Option{hybridembed.WithNormalize(false)}, opts...)...)
	if cfg.Models == nil {
		cfg.Models = map[string]string{"clip": clip}
	}
	cfg.APIKeys = []string{apiKey}
	srv, err := server.New(context.Background(), emb, cfg)
	require.NoError(t, err)
	require.NoError(t, srv.Warm(context.Background()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := srv.HTTPServer()
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// closedWithin reports how long the server took to close conn (a read
// that ends in EOF or a reset), failing if it did not within d. Anything
// the server wrote first is returned.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(d)))
	data, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v", d)
	}
	return time.Since(start), string(data)
}

// TestSlowClientsCutOff: a client that sends its headers a byte at a
// time (slowloris), one that trickles its body, and one that holds a
// kept-alive connection idle are each cut off at their timeout, and the
// trickler's share of the budget comes back; an inference that takes
// longer than the body timeout is not cut off by it.
func TestSlowClientsCutOff(t *testing.T) {
	s, opts := online(t)
	s.Inject(miniLM, hftest.Fault{Kind: hftest.Slow, Delay: 1500 * time.Millisecond})
	cfg := server.Config{Models: map[string]string{"clip": clip, "minilm": miniLM},
		ReadHeaderTimeout: 300 * time.Millisecond, BodyTimeout: 600 * time.Millisecond, IdleTimeout: time.Second}
	addr := startHTTP(t, cfg, opts...)
	base := "http://" + addr

	t.Run("headers a byte at a time", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
		require.NoError(t, err)
		go func() {
			for range 100 {
				if _, err := io.WriteString(conn, "X"); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		took, _ := closedWithin(t, conn, 3*time.Second)
		t.Logf("cut off after %v", took)
	})

	t.Run("a body a byte at a time", func(t *testing.T) {
		conn, r := rawRequest(t, addr, "/v1/embeddings", 1000, "{")
		require.Eventually(t, func() bool { return heldBytes(t, base) == 3000 }, 2*time.Second, 5*time.Millisecond)
		go func() {
			for range 100 {
				if _, err := io.WriteString(conn, " "); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		start := time.Now()
		resp, body := readResponse(t, conn, r, 3*time.Second)
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, body)
		t.Logf("408 after %v", time.Since(start))
		assert.Zero(t, heldBytes(t, base), "its share is given back")
	})

	t.Run("an idle kept-alive connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		_, _ = io.Copy(io.Discard, resp.Body)
		took, _ := closedWithin(t, conn, 3*time.Second)
		t.Logf("closed after %v idle", took)
	})

	t.Run("a slow inference is not cut off", func(t *testing.T) {
		start := time.Now()
		resp, data := post(t, base+"/v1/embeddings", apiKey, "application/json", []byte(`{"model": "minilm", "input": "slow"}`))
		assert.Equal(t, http.StatusOK, resp.StatusCode, string(data))
		assert.Greater(t, time.Since(start), cfg.BodyTimeout)
	})
}

// heapBytes is the Go heap's objects, live and not yet swept.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestPixelAdmission: images are refused by the pixels their header
// declares, before any is decoded, naming the input; and decodes are
// admitted by their pixels, not their number: with 16 decoding workers,
// 16 concurrent 4-megapixel PNGs (28 MB each to decode, from 60 KB
// bodies) hold at most the budget's room for one at a time, and all are
// answered.
func TestPixelAdmission(t *testing.T) {
	const maxPixels = 4_000_000
	cfg := server.Config{MaxPixels: maxPixels, MaxBodyBytes: 1 << 20, MaxInflightBytes: 40 << 20}
	ts, _ := start(t, cfg, hybridembed.WithWorkers(16))

	small, big := pngOf(64, 64, false), pngOf(2500, 2000, false) // 5 MP: over
	body := mustJSON(map[string]any{"model": "clip", "modality": "image", "input": []string{
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(small), "data:image/png;base64," + base64.StdEncoding.EncodeToString(big)}})
	resp, data := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", body)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(data))
	assert.Contains(t, string(data), "input[1]")
	assert.Contains(t, string(data), "2500x2000 is 5000000 pixels, over the limit of 4000000")

	img := pngOf(2000, 2000, false)
	t.Logf("a 2000x2000 PNG: %d KB", len(img)>>10)
	base := heapBytes()
	stopSampling := sampleMax(time.Millisecond, heapBytes)
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				resp, data := post(t, ts.URL+"/models/clip", apiKey, "image/png", img)
				statuses[i] = resp.StatusCode
				if resp.StatusCode != http.StatusTooManyRequests {
					if resp.StatusCode != http.StatusOK {
						t.Logf("client %d: %s", i, data)
					}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	grew := stopSampling() - base
	for i, s := range statuses {
		assert.Equal(t, http.StatusOK, s, "client %d", i)
	}
	t.Logf("Go heap grew by at most %d MB over %d MB during 16 concurrent 4 MP decodes", grew>>20, base>>20)
	// One decode holds 28 MB (16 MB of RGBA, 12 MB of RGB); all 16 at
	// once, 448 MB. What is bounded is what is live; the heap also holds
	// garbage until the collector runs, at most as much again.
	assert.Less(t, grew, int64(150<<20), "decodes are admitted by their pixels")
}
