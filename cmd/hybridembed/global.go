package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

const envHelp = `
ENVIRONMENT
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
  HYBRIDEMBED_INDEX  the index file for index and search`

// globalOptions are the flags every command shares.
type globalOptions struct {
	Offline   bool
	Device    string
	Threads   int
	Variant   string
	BatchSize int
	Workers   int
	Runs      int
	Verbose   bool
	Policy    string
	RouterURL string
	HubURL    string
	Provider  string
	Decode    string

	stdin          io.Reader
	stdout, stderr io.Writer
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

// embedder builds the library client from the flags. Options that only
// some commands have are passed in extra.
func (g *globalOptions) embedder(flags *pflag.FlagSet, extra ...hybridembed.Option) (*hybridembed.Embedder, error) {
	level := slog.LevelWarn
	if g.Verbose {
		level = slog.LevelInfo
	}
	policy, err := hybridembed.ParsePolicy(g.Policy)
	if err != nil {
		return nil, err
	}
	providers, err := hybridembed.ParseProviders(g.Provider)
	if err != nil {
		return nil, fmt.Errorf("--provider: %w", err)
	}
	opts := []hybridembed.Option{
		hybridembed.WithPolicy(policy),
		hybridembed.WithProviders(providers...),
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
	// An explicit --offline=false overrides $HF_HUB_OFFLINE.
	if flags.Changed("offline") {
		opts = append(opts, hybridembed.WithOffline(g.Offline))
	}
	return hybridembed.New(append(opts, extra...)...)
}
