package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// writeConfig writes $XDG_CONFIG_HOME/hybridembed/config.toml.
func writeConfig(t *testing.T, toml string) string {
	t.Helper()
	path := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "hybridembed", "config.toml")
	writeFile(t, path, []byte(toml))
	return path
}

// TestConfigDefaults: a default model from config.toml or
// $HYBRIDEMBED_MODEL, so that `search -q dog ~/Pictures` works as rclip's
// does; a flag wins over the environment, which wins over the file.
func TestConfigDefaults(t *testing.T) {
	isolate(t)
	clip, st := fixtures.Fixture("models", "tiny-clip"), fixtures.Fixture("models", "tiny-st")
	lib := sampleLibrary(t)

	r := runCLI(t, "", "search", "-q", "a red circle", lib)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "no model: give --model MODEL, or set $HYBRIDEMBED_MODEL or model = \"...\" in "+filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "hybridembed", "config.toml"))

	writeConfig(t, "model = \""+clip+"\"\ndevice = \"cpu\"\nthreads = 1\n")
	r = runCLI(t, "", "search", "-q", "a red circle", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "red_circle.png")

	modelOf := func(args ...string) string {
		t.Helper()
		r := runCLI(t, "", append([]string{"text"}, append(args, "hi")...)...)
		require.Equal(t, exitOK, r.code, r.stderr)
		return records(t, r.stdout)[0]["model"].(string)
	}
	assert.Equal(t, clip, modelOf(), "from the file")
	t.Setenv("HYBRIDEMBED_MODEL", st)
	assert.Equal(t, st, modelOf(), "the environment wins over the file")
	assert.Equal(t, clip, modelOf("--model", clip), "a flag wins over the environment")
}

// TestConfigCommand: `hybridembed config` shows each setting's value and
// where it came from.
func TestConfigCommand(t *testing.T) {
	isolate(t)
	path := writeConfig(t, "model = \"openai/clip-vit-base-patch32\"\ndevice = \"cpu\"\ndecode = \"fast\"\noffline = false\n")
	t.Setenv("HYBRIDEMBED_ROUTER_URL", "http://127.0.0.1:9")
	t.Setenv("HF_HUB_OFFLINE", "")
	r := runCLI(t, "", "config", "--decode", "exact")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "config file: "+path+" (read)")
	for _, row := range []string{
		`model\s+openai/clip-vit-base-patch32\s+config file`,
		`device\s+cpu\s+config file`,
		`decode\s+exact\s+flag`,
		`offline\s+false\s+config file`,
		`threads\s+0 \(all cores\)\s+default`,
		`batch-size\s+0 \(16 images a run\)\s+default`,
		`router-url\s+http://127\.0\.0\.1:9\s+env \$HYBRIDEMBED_ROUTER_URL`,
		`hub-url\s+https://huggingface\.co\s+default`,
	} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^`+row+`$`), r.stdout)
	}
	t.Setenv("HF_HUB_OFFLINE", "1")
	r = runCLI(t, "", "config")
	assert.Regexp(t, `(?m)^offline\s+true\s+env \$HF_HUB_OFFLINE$`, r.stdout, "the environment wins over the file")
}

// TestConfigErrors: a config file's mistakes are named, with the file.
func TestConfigErrors(t *testing.T) {
	isolate(t)
	images := fixtures.Fixture("images")
	model := fixtures.Fixture("models", "tiny-clip")
	for _, tc := range []struct{ toml, want string }{
		{"devcie = \"cpu\"\n", `unknown key "devcie" (known: model, offline, device`},
		{"threads = \"four\"\n", `threads: "four": want a whole number`},
		{"decode = \"bogus\"\n", `: decode: "bogus": want exact or fast`},
		{"model = \n", "toml"},
	} {
		path := writeConfig(t, tc.toml)
		r := runCLI(t, "", "embed", "--model", model, images)
		assert.Equal(t, exitFatal, r.code, tc.toml)
		assert.Contains(t, r.stderr, "hybridembed: "+path, tc.toml)
		assert.Contains(t, r.stderr, tc.want, tc.toml)
	}
}

// TestConfigOffline: offline = true in the file keeps the network off,
// and $HF_HUB_OFFLINE=0 wins over it.
func TestConfigOffline(t *testing.T) {
	s, _ := online(t)
	s.Host(t, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
	writeConfig(t, "offline = true\n")
	r := runCLI(t, "", "embed", "--model", "acme/tiny-clip", fixtures.Fixture("images"))
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "not cached")
	assert.Empty(t, s.Requests(), "offline from the file: the network is not touched")
	t.Setenv("HF_HUB_OFFLINE", "0")
	r = runCLI(t, "", "embed", "--model", "acme/tiny-clip", fixtures.Fixture("images"))
	require.Equal(t, exitOK, r.code, r.stderr)
}
