package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

const childEnv = "HYBRIDEMBED_CLI_TEST_ARGS"

// TestCLIChild runs the CLI as a process of its own, for tests that need
// one (to signal or kill it, or to run several at once): the arguments
// come from $HYBRIDEMBED_CLI_TEST_ARGS, separated by newlines. It does
// nothing on its own.
func TestCLIChild(t *testing.T) {
	args := os.Getenv(childEnv)
	if args == "" {
		t.Skip("run by other tests")
	}
	orttest.Init(t)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
}

// cliChild is a command that runs the CLI with args as a process.
func cliChild(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+strings.Join(args, "\n"))
	return cmd
}

// TestServeSIGTERM: SIGTERM under load from 64 clients stops accepting,
// finishes every request it accepted, and exits 0. Clients send an
// Idempotency-Key, so that Go's transport replays a request written on a
// keep-alive connection the server was closing (one it never read); what
// is left may only be refused connections.
func TestServeSIGTERM(t *testing.T) {
	isolate(t)
	cmd, base, stderr := startServe(t, "--model", "clip="+fixtures.Fixture("models", "tiny-clip"))
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var ok, afterSignal, refused atomic.Int64
	var signalled atomic.Bool
	var mu sync.Mutex
	var failures []string
	unanswered := map[string]string{}
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				body, _ := json.Marshal(map[string]any{"model": "clip", "input": fmt.Sprintf("client %d request %d", w, i)})
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/embeddings", bytes.NewReader(body))
				id := fmt.Sprintf("w%d-r%d", w, i)
				req.Header.Set("Idempotency-Key", id)
				req.Header.Set("X-Request-Id", id)
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					if signalled.Load() {
						unanswered[id] = err.Error() // lost only if the server handled it (below)
						refused.Add(1)
					} else {
						failures = append(failures, err.Error())
					}
					mu.Unlock()
					return
				}
				var r struct {
					Data []json.RawMessage `json:"data"`
				}
				derr := json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || derr != nil || len(r.Data) != 1 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("status %d, %v", resp.StatusCode, derr))
					mu.Unlock()
					return
				}
				if ok.Add(1) == 300 {
					signalled.Store(true)
					assert.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
				}
				if signalled.Load() {
					afterSignal.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	err := cmd.Wait()
	require.NoError(t, err, "the server exits 0 after draining; stderr:\n%s", tail(stderr.String()))
	assert.Empty(t, failures, "every request before SIGTERM is answered")
	assert.Greater(t, ok.Load(), int64(300))
	// The server logs each request it handled, with the client's id: none
	// of those may have gone unanswered; the rest never reached it (refused,
	// or reset in the listen queue as the listener closed).
	handled := 0
	for _, line := range strings.Split(stderr.String(), "\n") {
		if !strings.Contains(line, "msg=request") || !strings.Contains(line, "path=/v1/embeddings") {
			continue
		}
		handled++
		assert.Contains(t, line, "status=200")
		for id, err := range unanswered {
			assert.NotContains(t, line, "id="+id+" ", "the server answered %s but the client got %s", id, err)
		}
	}
	assert.EqualValues(t, ok.Load(), handled, "every request the server handled reached its client")
	t.Logf("%d answered (%d after SIGTERM); %d sent after it stopped accepting, never read", ok.Load(), afterSignal.Load(), refused.Load())
	assert.Contains(t, stderr.String(), "msg=stopped")
}

// startServe runs serve on a free loopback port as a process, and returns
// it once it says it listens (and, with --library, that the search page is
// up), with its base URL and its stderr.
func startServe(t *testing.T, args ...string) (*exec.Cmd, string, *lockedBuffer) {
	t.Helper()
	cmd := cliChild(nil, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	require.NoError(t, err, stderr.String())
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	if slices.Contains(args, "--library") {
		page, err := r.ReadString('\n')
		require.NoError(t, err, stderr.String())
		assert.Equal(t, "search page: "+base+"/", strings.SplitN(strings.TrimSpace(page), " (", 2)[0])
	}
	go io.Copy(io.Discard, r)
	return cmd, base, stderr
}

// lockedBuffer is a bytes.Buffer that a child's output goroutine and the
// test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// TestServeRefusesOpenWithoutKey: listening beyond loopback needs a key or
// an explicit --insecure-no-auth; keys come from a file or the environment.
func TestServeRefusesOpenWithoutKey(t *testing.T) {
	isolate(t)
	t.Setenv("HYBRIDEMBED_API_KEY", "")
	model := "clip=" + fixtures.Fixture("models", "tiny-clip")
	r := runCLI(t, "", "serve", "--addr", "0.0.0.0:0", "--model", model)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "no API key is set")

	empty := filepath.Join(t.TempDir(), "keys")
	writeFile(t, empty, []byte("# no keys yet\n\n"))
	r = runCLI(t, "", "serve", "--addr", "0.0.0.0:0", "--api-key-file", empty, "--model", model)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "no keys in the file")

	r = runCLI(t, "", "serve", "--model", "a=x", "--model", "a=y")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "named twice")
	assert.True(t, loopback("127.0.0.1:8080"))
	assert.True(t, loopback("[::1]:8080"))
	assert.True(t, loopback("localhost:1"))
	assert.False(t, loopback(":8080"))
	assert.False(t, loopback("0.0.0.0:8080"))
	assert.False(t, loopback("192.168.1.2:8080"))
}

// TestServeAsUsersCallIt: serve --api-key K, then what the users
// do: models.retrieve's GET /v1/models/{id} (an id with a slash), a wrong
// key, GET /v1/embeddings (405), a PNG posted as curl posts it
// (application/octet-stream), truncate:false over the limit (413), TEI's
// /info. "listening on" comes once the models are loaded: /ready is 200
// at once.
func TestServeAsUsersCallIt(t *testing.T) {
	isolate(t)
	const key = "k-secret"
	cmd, base, stderr := startServe(t, "--api-key", key, "--model", "openai/clip-vit-base-patch32="+fixtures.Fixture("models", "tiny-clip"))

	do := func(method, path, k, ct string, body []byte) (int, http.Header, string) {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		require.NoError(t, err)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if k != "" {
			req.Header.Set("Authorization", "Bearer "+k)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	status, _, body := do(http.MethodGet, "/ready", "", "", nil)
	assert.Equal(t, http.StatusOK, status, "ready when it says it listens: %s", body)
	status, _, body = do(http.MethodGet, "/v1/models/openai/clip-vit-base-patch32", key, "", nil)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"id":"openai/clip-vit-base-patch32"`)
	status, _, _ = do(http.MethodGet, "/v1/models/openai/clip-vit-base-patch32", "wrong", "", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, hdr, _ := do(http.MethodGet, "/v1/embeddings", key, "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Equal(t, "POST", hdr.Get("Allow"))
	png, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	status, _, body = do(http.MethodPost, "/", key, "application/octet-stream", png)
	assert.Equal(t, http.StatusOK, status, body)
	var vec []float32
	require.NoError(t, json.Unmarshal([]byte(body), &vec))
	assert.NotEmpty(t, vec)
	status, _, body = do(http.MethodPost, "/embed", key, "application/json", []byte(`{"inputs": "`+strings.Repeat("cat ", 200)+`", "truncate": false}`))
	assert.Equal(t, http.StatusRequestEntityTooLarge, status, body)
	assert.Contains(t, body, "must have less than")
	status, _, body = do(http.MethodGet, "/info", key, "", nil)
	assert.Equal(t, http.StatusOK, status, body)
	var info struct {
		ModelID        string `json:"model_id"`
		MaxInputLength int    `json:"max_input_length"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	assert.Equal(t, "openai/clip-vit-base-patch32", info.ModelID)
	assert.Positive(t, info.MaxInputLength)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), tail(stderr.String()))
}

// TestServeModelThatFailsToLoad: a model whose graph is broken ends serve
// with its error, and "listening on" is never printed (it used to be, with
// the exit after it).
func TestServeModelThatFailsToLoad(t *testing.T) {
	isolate(t)
	dir := copyDir(t, fixtures.Fixture("models", "tiny-clip"))
	for _, name := range []string{"text_model.onnx", "vision_model.onnx"} {
		writeFile(t, filepath.Join(dir, "onnx", name), []byte("not an onnx graph"))
	}
	cmd := cliChild(nil, "serve", "--addr", "127.0.0.1:0", "--model", "clip="+dir)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "serve must fail: %s", tail(stderr.String()))
	assert.Equal(t, exitFatal, exit.ExitCode())
	assert.NotContains(t, stdout.String(), "listening on")
	assert.Contains(t, stderr.String(), "loading clip")
}
