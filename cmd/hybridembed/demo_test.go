package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/hybridembed/hybridembed/models/modelstest"
)

// demoRun is what scripts/demo.sh printed: each caption's ranking, and the
// precision line it printed for it.
type demoRun struct {
	captions  []string
	ranked    map[string][]string // caption -> paths, best first
	scores    map[string][]float64
	precision map[string][3]int // caption -> right, top, in the set
}

var (
	demoQuery     = regexp.MustCompile(`^"(.+)"$`)
	demoHit       = regexp.MustCompile(`^\s+(-?\d+\.\d+)\s+(\S.*)$`)
	demoPrecision = regexp.MustCompile(`^  (.+): (\d+) of the top (\d+) are (.+) \(the set has (\d+)\)$`)
)

func parseDemo(t *testing.T, stdout string) demoRun {
	t.Helper()
	d := demoRun{ranked: map[string][]string{}, scores: map[string][]float64{}, precision: map[string][3]int{}}
	query := ""
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		line := sc.Text()
		if m := demoQuery.FindStringSubmatch(line); m != nil {
			query = m[1]
			d.captions = append(d.captions, query)
			continue
		}
		if m := demoPrecision.FindStringSubmatch(line); m != nil {
			var n [3]int
			for i, s := range []string{m[2], m[3], m[5]} {
				n[i], _ = strconv.Atoi(s)
			}
			d.precision[m[1]] = n
			query = ""
			continue
		}
		if m := demoHit.FindStringSubmatch(line); m != nil && query != "" {
			s, err := strconv.ParseFloat(m[1], 64)
			require.NoError(t, err)
			d.ranked[query] = append(d.ranked[query], m[2])
			d.scores[query] = append(d.scores[query], s)
			continue
		}
		query = ""
	}
	return d
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TestDemoRanksHeldOutShapes runs scripts/demo.sh as make demo does, with
// this test binary as the CLI, offline: with no real model in the cache
// (so the committed toy model), with more results per caption than the
// set has of each (so the count must tell right from wrong), and with
// openai/clip-vit-base-patch32 in the cache (the toy weights laid out as
// huggingface_hub lays out its ONNX repo, so the real-model branch runs).
// Each time, among the 96 held-out shapes, each caption's first result is
// that colour and shape, the precision the script prints agrees with the
// ranking it printed and with the set, and the gallery shows every
// caption's results.
func TestDemoRanksHeldOutShapes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("scripts/demo.sh is a bash script")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("skipping: no bash to run scripts/demo.sh")
	}
	isolate(t)
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	// The CLI the script calls: this binary's TestCLIChild, which runs the
	// command line it is given in HYBRIDEMBED_CLI_TEST_ARGS, one per line.
	cli := filepath.Join(dir, "hybridembed")
	require.NoError(t, os.WriteFile(cli, []byte("#!/bin/sh\n"+childEnv+"=$(printf '%s\\n' \"$@\") exec "+
		shellQuote(self)+" -test.run='^TestCLIChild$' -test.count=1\n"), 0o755))
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	heldout := filepath.Join(root, "testdata", "shapes-heldout")
	toy := filepath.Join(root, "testdata", "models", "shapes-clip")
	realHome := filepath.Join(dir, "hf-with-real")
	modelstest.Cache(t, filepath.Join(realHome, "hub"), "Xenova/clip-vit-base-patch32", toy)
	captions := []string{"a red circle", "a blue square", "a green triangle", "a yellow star"}

	for _, tc := range []struct {
		name, top, hfHome, model string
		want                     int
	}{
		{"as make demo", "", os.Getenv("HF_HOME"), "testdata/models/shapes-clip", 4},
		{"top 8", "8", os.Getenv("HF_HOME"), "testdata/models/shapes-clip", 8},
		{"real model cached", "", realHome, "openai/clip-vit-base-patch32", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "demo")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bash, filepath.Join(root, "scripts", "demo.sh"))
			cmd.Env = append(os.Environ(), "DEMO_BIN="+cli, "DEMO_OUT="+out, "DEMO_TOP="+tc.top, "HF_HOME="+tc.hfHome)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			t.Logf("scripts/demo.sh printed:\n%s", stdout.String())
			assert.Contains(t, stdout.String(), "search --offline --model "+tc.model+" ")
			assert.Contains(t, stdout.String(), "96 held-out shapes")

			d := parseDemo(t, stdout.String())
			require.Equal(t, captions, d.captions)
			for _, c := range captions {
				words := strings.Fields(c)
				colour, shape := words[1], words[2]
				right := func(path string) bool {
					return strings.Contains(filepath.Base(path), "_"+colour+"_"+shape+".")
				}
				ranked := d.ranked[c]
				require.Len(t, ranked, tc.want, c)
				assert.True(t, right(ranked[0]), "%s: the first result is %s", c, ranked[0])
				assert.IsNonIncreasing(t, d.scores[c], c)
				n := 0
				for _, p := range ranked {
					assert.Equal(t, "testdata/shapes-heldout", filepath.Dir(p), "%s: ranks the held-out set", c)
					if right(p) {
						n++
					}
				}
				inSet, err := filepath.Glob(filepath.Join(heldout, "*_"+colour+"_"+shape+".*"))
				require.NoError(t, err)
				assert.Equal(t, [3]int{n, tc.want, len(inSet)}, d.precision[c], "%s: the precision line agrees with the ranking", c)
			}

			page, err := os.ReadFile(filepath.Join(out, "gallery.html"))
			require.NoError(t, err)
			doc, err := html.Parse(bytes.NewReader(page))
			require.NoError(t, err)
			var headings []string
			thumbs := map[string]int{}
			for n := range doc.Descendants() {
				if n.Type == html.ElementNode && n.Data == "h2" {
					headings = append(headings, text(n))
				}
				if n.Type == html.ElementNode && n.Data == "img" && len(headings) > 0 {
					thumbs[headings[len(headings)-1]]++
				}
			}
			assert.Equal(t, captions, headings)
			for _, c := range captions {
				assert.Equal(t, tc.want, thumbs[c], "%s: a thumbnail per result", c)
			}
		})
	}
}
