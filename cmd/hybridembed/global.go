package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

const envHelp = `ENVIRONMENT
  HYBRIDEMBED_MODEL  the model when no --model is given
  HF_HUB_OFFLINE=1   never use the network (same as --offline)
  HF_HOME            Hugging Face home (default ~/.cache/huggingface)
  HF_HUB_CACHE       model cache (default $HF_HOME/hub)
  HF_TOKEN           Hugging Face access token (default: $HF_HOME/token)
  HF_ENDPOINT        Hub URL (same as --hub-url)
  HYBRIDEMBED_ROUTER_URL  router URL (same as --router-url)
  ONNXRUNTIME_LIB    path to libonnxruntime.so (default: hybridembed's cache,
                     then the system loader path)
  HYBRIDEMBED_CACHE  hybridembed's own cache (default ~/.cache/hybridembed);
                     routing memory is its router/state.json
  TURBOJPEG_LIB      path to libturbojpeg.so.0 (exact JPEG decoding; default:
                     hybridembed's cache, then the system loader path)
  HYBRIDEMBED_INDEX  the index file for index and search
  XDG_CONFIG_HOME    where config.toml is (default ~/.config)`

// globalOptions are the flags every command shares, and what the run
// learns on the way that its error messages use.
type globalOptions struct {
	// outputNotes say what a run left of its output, printed after its
	// error (see sayUnchanged).
	outputNotes []string
	Offline     bool
	Device      string
	Threads     int
	Variant     string
	BatchSize   int
	Workers     int
	Runs        int
	Verbose     bool
	Policy      string
	RouterURL   string
	HubURL      string
	Provider    string
	Decode      string

	stdin          io.Reader
	stdout, stderr io.Writer

	// settings is where each setting's value came from (see config.go),
	// filled before a command runs.
	settings map[string]effective
	// model is the model the command works with, for the hints of an
	// error message.
	model string
	// emb is the last Embedder made, for the hints of an error message
	// (models like a mistyped one).
	emb *hybridembed.Embedder
}

func (g *globalOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.BoolVar(&g.Offline, "offline", false, "never use the network; local models only (default: $HF_HUB_OFFLINE)")
	f.StringVar(&g.Device, "device", "auto", "where local models run: cpu, cuda or auto")
	f.IntVar(&g.Threads, "threads", 0, "ONNX Runtime threads (default: all cores)")
	f.StringVar(&g.Variant, "variant", "", "ONNX file variant: quantized, fp16, ... (default: fp32)")
	f.IntVar(&g.BatchSize, "batch-size", 0, "images per inference batch (default 16, shared between --runs)")
	f.IntVar(&g.Workers, "workers", 0, "image decoding goroutines (default: half the cores, at least 2; one per core with CUDA)")
	f.IntVar(&g.Runs, "runs", 0, "image batches in ONNX Runtime at once, sharing the threads (default: 2 on the CPU, 1 with CUDA; 1 favours single-image latency)")
	f.BoolVarP(&g.Verbose, "verbose", "v", false, "log routing and runtime notes to stderr")
	f.StringVar(&g.Policy, "policy", "auto", "where text goes: auto (the routing rules), remote (router only) or local")
	f.StringVar(&g.RouterURL, "router-url", "", "Hugging Face router (default: $HYBRIDEMBED_ROUTER_URL, else https://router.huggingface.co)")
	f.StringVar(&g.HubURL, "hub-url", "", "Hugging Face Hub (default: $HF_ENDPOINT, else https://huggingface.co)")
	f.StringVar(&g.Provider, "provider", "auto", "inference providers text may go to: auto (every live one, in the Hub's order) or NAME[,NAME...] in the order to try (hf-inference, together, scaleway, deepinfra)")
	f.StringVar(&g.Decode, "decode", "exact", "JPEG decoding: exact (Pillow's pixels) or fast (large JPEGs decoded at 1/2-1/8 scale)")
}

// embedder builds the library client from the flags (and the defaults a
// config file gave them). Options that only some commands have are passed
// in extra.
func (g *globalOptions) embedder(flags *pflag.FlagSet, extra ...hybridembed.Option) (*hybridembed.Embedder, error) {
	level := slog.LevelWarn
	if g.Verbose {
		level = slog.LevelInfo
	}
	opts := []hybridembed.Option{
		hybridembed.WithPolicy(hybridembed.Policy(g.Policy)),
		hybridembed.WithProviders(strings.Split(g.Provider, ",")...),
		hybridembed.WithRouterURL(g.RouterURL),
		hybridembed.WithHubURL(g.HubURL),
		hybridembed.WithDevice(g.Device),
		hybridembed.WithThreads(g.Threads),
		hybridembed.WithVariant(g.Variant),
		hybridembed.WithBatchSize(g.BatchSize, 0),
		hybridembed.WithWorkers(g.Workers),
		hybridembed.WithRuns(g.Runs),
		hybridembed.WithDecode(g.Decode),
		hybridembed.WithLogger(slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))),
	}
	// An explicit --offline=false (or offline = false in the config file)
	// overrides $HF_HUB_OFFLINE.
	if flags.Changed("offline") || g.from("offline") == fromFile {
		opts = append(opts, hybridembed.WithOffline(g.Offline))
	}
	emb, err := hybridembed.New(append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	g.emb = emb
	return emb, nil
}

// optionFlags names the flag (and config key) behind each library option
// the commands set.
var optionFlags = map[string]string{
	"WithPolicy": "policy", "WithRouterURL": "router-url", "WithHubURL": "hub-url", "WithDevice": "device",
	"WithThreads": "threads", "WithVariant": "variant", "WithBatchSize": "batch-size", "WithWorkers": "workers",
	"WithRuns": "runs", "WithDecode": "decode", "WithMaxPixels": "max-pixels", "WithProviders": "provider",
}

// optionMessage says what was wrong with an option in the words of the
// setting it came from: `--decode: "bogus": want exact or fast`, or the
// config file's key.
func (g *globalOptions) optionMessage(oe *hybridembed.OptionError) string {
	name, ok := optionFlags[oe.Option]
	if !ok {
		return fmt.Sprintf("%s: %s: want %s", oe.Option, oe.Value, oe.Want)
	}
	where := "--" + name
	if s, ok := g.settings[name]; ok {
		switch s.from {
		case fromFile:
			where = s.detail + ": " + name
		case fromEnv:
			where = "$" + s.detail
		}
	}
	return fmt.Sprintf("%s: %s: want %s", where, oe.Value, oe.Want)
}

// flagError is a flag's value that a command refuses, in the form the
// library's option errors take.
func flagError(flag string, value any, want string) error {
	v := fmt.Sprint(value)
	if s, ok := value.(string); ok {
		v = strconv.Quote(s)
	}
	return errors.New("--" + flag + ": " + v + ": want " + want)
}
