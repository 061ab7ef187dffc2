package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// copyDir copies a model folder, so a test may edit it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	}))
	return dst
}

// TestModelsAdd: a model folder added as demo/x is laid out as
// huggingface_hub lays out a download, and then works everywhere a cached
// model does: verify, list, path, embed and text, export and import.
func TestModelsAdd(t *testing.T) {
	home := isolate(t)
	hub := filepath.Join(home, "hub")
	src := copyDir(t, fixtures.Fixture("models", "shapes-clip"))
	writeFile(t, filepath.Join(src, ".git", "config"), []byte("[core]\n"))         // hidden: left out
	writeFile(t, filepath.Join(src, "model.safetensors"), []byte("other weights")) // not read: left out

	add := runCLI(t, "", "models", "add", "demo/x", src)
	require.Equal(t, exitOK, add.code, add.stderr)
	snap := strings.TrimSpace(add.stdout)
	assert.Contains(t, add.stderr, "added demo/x: ")
	assert.Contains(t, add.stderr, "use it as --model demo/x")
	assert.Contains(t, add.stderr, "left out 1 file the engine does not read: model.safetensors")

	// The layout: models--demo--x/{blobs/<sha256>, snapshots/<commit>/...
	// relative links, refs/main = the commit, no newline}.
	repo := filepath.Join(hub, "models--demo--x")
	ref, err := os.ReadFile(filepath.Join(repo, "refs", "main"))
	require.NoError(t, err)
	commit := string(ref)
	assert.Regexp(t, `^[0-9a-f]{40}$`, commit)
	assert.Equal(t, filepath.Join(repo, "snapshots", commit), snap)
	var files []string
	require.NoError(t, filepath.Walk(snap, func(p string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(snap, p)
		files = append(files, filepath.ToSlash(rel))
		target, err := os.Readlink(p)
		require.NoError(t, err, "%s is a link", rel)
		depth := strings.Count(filepath.ToSlash(rel), "/")
		assert.Regexp(t, "^"+regexp.QuoteMeta(strings.Repeat("../", depth+2)+"blobs/")+"[0-9a-f]{64}$", filepath.ToSlash(target))
		content, err := os.ReadFile(filepath.Join(src, rel))
		require.NoError(t, err)
		sum := sha256.Sum256(content)
		assert.Equal(t, hex.EncodeToString(sum[:]), filepath.Base(target), "%s: a blob is named by its sha256", rel)
		return nil
	}))
	assert.ElementsMatch(t, []string{"README.md", "config.json", "preprocessor_config.json", "special_tokens_map.json",
		"tokenizer.json", "tokenizer_config.json", "onnx/text_model.onnx", "onnx/text_model_quantized.onnx",
		"onnx/vision_model.onnx", "onnx/vision_model_quantized.onnx"}, files)

	// Every models command and --model demo/x work on it, offline.
	verify := runCLI(t, "", "models", "verify", "demo/x")
	require.Equal(t, exitOK, verify.code, verify.stderr+verify.stdout)
	assert.Regexp(t, `ok\s+onnx/vision_model.onnx`, verify.stdout)
	assert.Contains(t, verify.stdout, "the model loads")
	list := runCLI(t, "", "models", "list")
	assert.Contains(t, list.stdout, "demo/x")
	assert.Contains(t, list.stdout, "main="+commit[:12])
	assert.Equal(t, snap, strings.TrimSpace(runCLI(t, "", "models", "path", "demo/x").stdout))

	byID := runCLI(t, "", "embed", "--model", "demo/x", fixtures.Fixture("images"))
	require.Equal(t, exitOK, byID.code, byID.stderr)
	byDir := runCLI(t, "", "embed", "--model", src, fixtures.Fixture("images"))
	require.Equal(t, exitOK, byDir.code, byDir.stderr)
	a, b := records(t, byID.stdout), records(t, byDir.stdout)
	require.Len(t, a, 4)
	for i := range a {
		assert.Equal(t, b[i]["embedding"], a[i]["embedding"], "the cached copy embeds as the folder does")
		assert.Equal(t, b[i]["digest"], a[i]["digest"], "the same files: the same digest")
		assert.Equal(t, commit, a[i]["revision"])
		assert.Nil(t, b[i]["revision"], "a folder has no revision")
	}
	q := runCLI(t, "", "embed", "--variant", "quantized", "--model", "demo/x", fixtures.Fixture("images", "red_circle.png"))
	require.Equal(t, exitOK, q.code, q.stderr)
	assert.Equal(t, "quantized", records(t, q.stdout)[0]["variant"])
	assert.NotEqual(t, a[0]["digest"], records(t, q.stdout)[0]["digest"])

	// The same folder again: nothing changes. An edited one: a new revision.
	again := runCLI(t, "", "models", "add", "demo/x", src)
	require.Equal(t, exitOK, again.code, again.stderr)
	assert.Equal(t, snap, strings.TrimSpace(again.stdout))
	assert.Contains(t, again.stderr, "0 B new")
	writeFile(t, filepath.Join(src, "README.md"), []byte("edited\n"))
	edited := runCLI(t, "", "models", "add", "demo/x", src)
	require.Equal(t, exitOK, edited.code, edited.stderr)
	assert.NotEqual(t, snap, strings.TrimSpace(edited.stdout))
	assert.Contains(t, edited.stderr, ", 7 B new)")

	// Through a bundle to an empty machine.
	bundle := filepath.Join(t.TempDir(), "demo.tar.zst")
	exp := runCLI(t, "", "models", "export", bundle, "demo/x")
	require.Equal(t, exitOK, exp.code, exp.stderr)
	t.Setenv("HF_HOME", t.TempDir())
	imp := runCLI(t, "", "models", "import", bundle)
	require.Equal(t, exitOK, imp.code, imp.stderr)
	after := runCLI(t, "", "embed", "--model", "demo/x", fixtures.Fixture("images"))
	require.Equal(t, exitOK, after.code, after.stderr)
	assert.Equal(t, a[0]["embedding"], records(t, after.stdout)[0]["embedding"])
}

// TestModelsAddRefuses: not a model folder, a bad id, and a main revision
// pulled from the Hub (replaced only with --replace) add nothing.
func TestModelsAddRefuses(t *testing.T) {
	home := isolate(t)
	hub := filepath.Join(home, "hub")
	notModel := t.TempDir()
	writeFile(t, filepath.Join(notModel, "notes.txt"), []byte("hi"))
	r := runCLI(t, "", "models", "add", "demo/x", notModel)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "is not a model folder hybridembed can load")
	assert.NoDirExists(t, filepath.Join(hub, "models--demo--x"))

	r = runCLI(t, "", "models", "add", "not/a/valid/id", fixtures.Fixture("models", "tiny-clip"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "invalid model id")

	pulled := modelstest.Cache(t, hub, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	r = runCLI(t, "", "models", "add", "acme/tiny-clip", fixtures.Fixture("models", "shapes-clip"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "already in the cache")
	assert.Contains(t, r.stderr, "--replace")
	ref, _ := os.ReadFile(filepath.Join(hub, "models--acme--tiny-clip", "refs", "main"))
	assert.Equal(t, pulled, strings.TrimSpace(string(ref)), "main still names the pulled commit")
	r = runCLI(t, "", "models", "add", "--replace", "acme/tiny-clip", fixtures.Fixture("models", "shapes-clip"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.DirExists(t, filepath.Join(hub, "models--acme--tiny-clip", "snapshots", pulled), "the pulled snapshot stays")
}

// TestModelsWithFolders: the models commands take what a new user has, the
// shipped demo model as a folder.
func TestModelsWithFolders(t *testing.T) {
	isolate(t)
	demo := fixtures.Fixture("models", "shapes-clip")
	r := runCLI(t, "", "models", "path", demo)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, demo, strings.TrimSpace(r.stdout))

	r = runCLI(t, "", "models", "verify", demo)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(folder "+demo+")")
	assert.Regexp(t, `present\s+onnx/vision_model.onnx`, r.stdout)
	assert.Contains(t, r.stdout, "the model loads")

	r = runCLI(t, "", "models", "list", demo)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `shapes-clip\s+\(folder\)\s+clip\s+64\s+text, image`, r.stdout)

	// A damaged folder does not load: 3.
	broken := copyDir(t, demo)
	require.NoError(t, os.WriteFile(filepath.Join(broken, "onnx", "text_model.onnx"), []byte("not a graph"), 0o644))
	r = runCLI(t, "", "models", "verify", broken)
	assert.Equal(t, exitPartial, r.code)
	assert.Contains(t, r.stdout, "load failed")
	assert.Contains(t, r.stderr, "does not load: fix or replace the folder's files")
	assert.NotContains(t, r.stderr, "models pull", "a folder is not pulled")

	// export carries it under a name; import puts it in the cache.
	bundle := filepath.Join(t.TempDir(), "demo.tar.gz")
	r = runCLI(t, "", "models", "export", bundle, demo)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "is a model folder: name it in the bundle, as ORG/NAME="+demo)
	r = runCLI(t, "", "models", "export", bundle, "demo/shapes="+demo)
	require.Equal(t, exitOK, r.code, r.stderr)
	r = runCLI(t, "", "models", "import", demo)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "is a folder, not a bundle: to put a model folder in the cache, run `hybridembed models add ORG/NAME")
	r = runCLI(t, "", "models", "import", bundle)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "imported demo/shapes")
	byID := runCLI(t, "", "text", "--model", "demo/shapes", "a red circle")
	byDir := runCLI(t, "", "text", "--model", demo, "a red circle")
	require.Equal(t, exitOK, byID.code, byID.stderr)
	assert.Equal(t, records(t, byDir.stdout)[0]["embedding"], records(t, byID.stdout)[0]["embedding"])

	r = runCLI(t, "", "models", "rm", "--yes", demo)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "is a model folder, not a model in the cache")
	assert.DirExists(t, demo)
	r = runCLI(t, "", "models", "pull", demo)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "is a model folder, on this machine already")
}

// TestModelsList: an empty cache gives a hint; --known lists the registry
// with family, vector size and size.
func TestModelsList(t *testing.T) {
	home := isolate(t)
	r := runCLI(t, "", "models", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "no models in the cache ("+filepath.Join(home, "hub")+")")
	assert.Contains(t, r.stderr, "hybridembed models pull openai/clip-vit-base-patch32")
	assert.Contains(t, r.stderr, "hybridembed models add ORG/NAME DIR")

	modelstest.Cache(t, filepath.Join(home, "hub"), "Xenova/clip-vit-base-patch32", fixtures.Fixture("models", "tiny-clip"))
	r = runCLI(t, "", "models", "list", "--known")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `MODEL\s+FAMILY\s+DIM\s+PARAMS\s+SIZE \(fp32\)\s+VARIANTS\s+CACHED`, r.stdout)
	assert.Regexp(t, `openai/clip-vit-base-patch32\s+clip\s+512\s+151M\s+~576\.0 MiB\s+fp16,fp32,quantized\s+yes`, r.stdout)
	assert.Regexp(t, `sentence-transformers/all-MiniLM-L6-v2\s+sentence\s+384\s+22\.7M\s+~86\.6 MiB\s+\S+\s+no`, r.stdout)
}

// TestModelsRmAsks: rm asks on a terminal, refuses without one unless
// --yes, and removes nothing unless told yes.
func TestModelsRmAsks(t *testing.T) {
	home := isolate(t)
	hub := filepath.Join(home, "hub")
	modelstest.Cache(t, hub, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	repo := filepath.Join(hub, "models--acme--tiny-clip")

	r := runCLI(t, "", "models", "rm", "acme/tiny-clip")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "there is no terminal to ask on; give --yes to remove it")
	assert.DirExists(t, repo)

	onTerminal := func(answer string) result {
		ptmx, tty, err := pty.Open()
		require.NoError(t, err)
		defer ptmx.Close()
		defer tty.Close()
		go func() {
			time.Sleep(50 * time.Millisecond)
			ptmx.Write([]byte(answer + "\n"))
		}()
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"models", "rm", "acme/tiny-clip"}, tty, &out, &errb)
		return result{code, out.String(), errb.String()}
	}
	r = onTerminal("n")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "remove acme/tiny-clip (acme/tiny-clip, ")
	assert.Contains(t, r.stderr, "from the cache? [y/N]")
	assert.DirExists(t, repo)
	r = onTerminal("y")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "removed acme/tiny-clip")
	assert.NoDirExists(t, repo)

	modelstest.Cache(t, hub, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	r = runCLI(t, "", "models", "rm", "--yes", "acme/tiny-clip")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NoDirExists(t, repo)

	// What is not there: nothing to remove, and no advice to pull it.
	r = runCLI(t, "", "models", "rm", "--yes", "acme/tiny-clip")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "acme/tiny-clip is not in the cache")
	assert.NotContains(t, r.stderr, "models pull")
}

// TestBundleNames: a bundle's name says what it is: a .zip or a name that
// disagrees with --compression is refused before anything is written.
func TestBundleNames(t *testing.T) {
	home := isolate(t)
	modelstest.Cache(t, filepath.Join(home, "hub"), "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	dir := t.TempDir()
	for _, tc := range []struct {
		name, comp, want string
	}{
		{"models.zip", "", "a bundle is a tar archive: name it .tar, .tar.gz (or .tgz) or .tar.zst (or .tzst)"},
		{"models", "", "a bundle is a tar archive"},
		{"models.tar.zst", "gzip", "--compression gzip, but the name"},
		{"models.tar", "brotli", `--compression: "brotli": want none, gzip or zstd`},
	} {
		r := runCLI(t, "", "models", "export", "--compression="+tc.comp, filepath.Join(dir, tc.name), "acme/tiny-clip")
		assert.Equal(t, exitFatal, r.code, tc.name)
		assert.Contains(t, r.stderr, tc.want, tc.name)
		assert.NoFileExists(t, filepath.Join(dir, tc.name))
	}
	for name, magic := range map[string][]byte{
		"m.tar.gz": {0x1f, 0x8b}, "m.tgz": {0x1f, 0x8b}, "m.tar.zst": {0x28, 0xb5, 0x2f, 0xfd}, "m.tzst": {0x28, 0xb5, 0x2f, 0xfd},
		"m.tar": []byte("manifest.json"),
	} {
		r := runCLI(t, "", "models", "export", filepath.Join(dir, name), "acme/tiny-clip")
		require.Equal(t, exitOK, r.code, r.stderr)
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(data, magic), "%s starts with %q", name, data[:8])
	}
}
