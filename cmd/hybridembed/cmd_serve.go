package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/server"
	"github.com/hybridembed/hybridembed/internal/webui"
)

type serveOptions struct {
	Addr           string
	Models         []string
	APIKeys        []string
	APIKeyFile     string
	InsecureNoAuth bool
	MaxBody        int64
	MaxInflight    int64
	MaxPixels      int64
	MaxInputs      int
	MaxPending     int
	HeaderTimeout  time.Duration
	BodyTimeout    time.Duration
	IdleTimeout    time.Duration
	WriteTimeout   time.Duration
	NoDownload     bool
	LogJSON        bool
	Drain          time.Duration
	Libraries      []string
	LibraryModel   string
	ThumbCache     string
	Rescan         time.Duration
}

func (o *serveOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringArrayVarP(&o.Models, "model", "m", nil, "a model to serve: a Hugging Face id or a directory, or NAME=MODEL to serve it as NAME (repeatable; default: $HYBRIDEMBED_MODEL, else model in config.toml)")
	f.StringArrayVar(&o.APIKeys, "api-key", nil, "an accepted API key (repeatable); other users of this machine see it in ps: prefer --api-key-file or $HYBRIDEMBED_API_KEY")
	f.StringVar(&o.APIKeyFile, "api-key-file", "", "file of accepted API keys, one per line (also: $HYBRIDEMBED_API_KEY)")
	f.BoolVar(&o.InsecureNoAuth, "insecure-no-auth", false, "allow listening beyond loopback with no API key")
	f.Int64Var(&o.MaxBody, "max-body", server.DefaultMaxBodyBytes, "largest request body, in bytes (413 over it, before the body is read)")
	f.Int64Var(&o.MaxInflight, "max-inflight", server.DefaultMaxInflightBytes, "memory budget of the requests in flight, in bytes, across all routes and models: bodies (3x a JSON body), their inputs and image decodes (429 with Retry-After while it is full)")
	f.Int64Var(&o.MaxPixels, "max-pixels", server.DefaultMaxPixels, "largest image, in pixels, read from its header before decoding (400 over it)")
	f.IntVar(&o.MaxInputs, "max-inputs", 2048, "most inputs in one request")
	f.IntVar(&o.MaxPending, "max-pending", 4096, "most inputs queued per model at once (429 with Retry-After over it)")
	f.DurationVar(&o.HeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers")
	f.DurationVar(&o.BodyTimeout, "read-timeout", time.Minute, "how long a client may take to send a request's body, after its headers")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", 2*time.Minute, "how long a kept-alive connection may wait for its next request")
	f.DurationVar(&o.WriteTimeout, "write-timeout", time.Minute, "how long a client may take to read a response, once it is ready")
	f.BoolVar(&o.NoDownload, "no-download", false, "fail instead of downloading a model that is not cached")
	f.BoolVar(&o.LogJSON, "log-json", false, "request logs as JSON lines instead of text")
	f.DurationVar(&o.Drain, "drain", 30*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	f.StringArrayVar(&o.Libraries, "library", nil, "a folder of photos to index and search on the page at / (repeatable; text towers then stop spinning between calls, for the page's scans, at up to a tenth of batch text throughput)")
	f.StringVar(&o.LibraryModel, "library-model", "", "which --model NAME indexes and searches the libraries (default: the only --model)")
	f.StringVar(&o.ThumbCache, "thumb-cache", "", "where photo previews are cached (default: $HYBRIDEMBED_CACHE/thumbs; never inside a library)")
	f.DurationVar(&o.Rescan, "rescan", 0, "how often libraries are walked again in full (default: 1h with file notifications, 1m without)")
}

func newServeCommand(g *globalOptions) *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve --model MODEL [--model MODEL...] [--library DIR...] [--addr HOST:PORT]",
		Short: "Serve embeddings over HTTP: OpenAI's /v1/embeddings and the HF router's routes",
		Long: `Serve the models named over HTTP, in the two wire formats apps speak:

  POST /v1/embeddings      OpenAI: {"model","input","encoding_format","dimensions"};
                           images as data URIs with "modality":"image", or as
                           {"type":"image_url","image_url":{"url":"data:..."}} parts
  GET  /v1/models          the models served; /v1/models/{model} one of them
  POST /hf-inference/models/{model}/pipeline/feature-extraction
  POST /models/{model}     the router's and TEI's: {"inputs": str | [str],
                           "normalize", "truncate"}; a body that is an image
                           (image/*, or an image's bytes under any type but
                           JSON's, as curl --data-binary sends) embeds it
  POST /, /embed           the same, when one model is served (a client given the
                           base URL, as InferenceClient(base_url=...) is)
  GET  /info               TEI's: model_id, max_input_length, ... (one model)
  POST /tokenize           TEI's: {"inputs", "add_special_tokens"} -> tokens
                           with id, text, special, start, stop
  GET  /models/{model}/info, POST /models/{model}/tokenize and /embed
                           the same for each model, when several are served:
                           give a TEI client the base URL /models/{model}
  GET  /health, /ready     liveness; readiness (models loaded)
  GET  /metrics            Prometheus metrics

Requests go through the same routing as the library: served text models go to
the Hugging Face router with this server's token (with local fallback), CLIP
text and images run here, and concurrent requests are batched together. The
X-Hybridembed-Backend header says which backend answered. Texts are truncated
to the model's maximum length, as the router does with truncate=true; with
"truncate": false a longer text gets 413, as from TEI (checked where the
model's tokenizer is on this machine). A wrong method gets 405 with Allow.
Image URLs are never fetched: send data URIs.

With keys from --api-key, --api-key-file or $HYBRIDEMBED_API_KEY, every route
but /health and /ready needs Authorization: Bearer KEY (a key given on the
command line is visible to every user of the machine in ps). Listening beyond
loopback without a key is refused unless --insecure-no-auth. The port is
bound first (/health answers, /ready says 503 while models load); "listening
on URL" is printed on stdout once every model is loaded, and a model that
fails to load ends the command with its error before that. SIGTERM or SIGINT
stop accepting, finish the requests in flight, and exit 0.

THE SEARCH PAGE
  With --library DIR (repeatable), GET / is a search page for the photos under
  each DIR: type words (or weighted terms, "2:beach + sunset - people"), or
  drop or paste an image on the page; click a photo for a larger view, its
  path and date, "similar" and the original. /?q=TEXT links are shareable.
  Each library is indexed in the background exactly as 'hybridembed index DIR'
  would (the same index file, the same rules: nothing is purged that a
  complete walk did not prove gone), and kept current by file notifications
  where the system has them (Linux, Windows) and by rescans (--rescan).
  Previews are made once per photo content and kept in --thumb-cache. The
  page loads nothing from outside this server and changes no file; originals
  and previews are served only for photos in the index, by id. An image sent
  as a query is held to the API's limits (--max-body, --max-inflight,
  --max-pixels, the timeouts). With API keys the page asks for one in a
  sign-in form (a session cookie); the API routes still take Bearer keys.
  --library-model names the --model that embeds the photos when several are
  served.` + "\n" + exitHelp(
			status{exitOK, "stopped by SIGTERM or SIGINT, after the requests in flight finished"},
			status{exitFatal, "it did not start, or stopped on an error: bad flags (an --addr that is not HOST:PORT), no API key beyond loopback, a model that cannot be served, a --library that is not a folder (or inside another, or holding --thumb-cache), the address in use"},
			status{exitInterrupted, "interrupted before it was serving (while it downloaded or loaded a model)"},
		),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(opts.Models) == 0 {
				return g.needModel("")
			}
			return runServe(cmd.Context(), opts, g, cmd.Flags())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runServe(ctx context.Context, opts serveOptions, g *globalOptions, flags *pflag.FlagSet) error {
	if err := checkAddr(opts.Addr); err != nil {
		return err
	}
	keys, err := apiKeys(opts.APIKeys, opts.APIKeyFile)
	if err != nil {
		return err
	}
	if len(keys) == 0 && !opts.InsecureNoAuth && !loopback(opts.Addr) {
		return fmt.Errorf("--addr %s is reachable beyond this machine and no API key is set: give --api-key-file, --api-key or $HYBRIDEMBED_API_KEY, or --insecure-no-auth", opts.Addr)
	}
	models := map[string]string{}
	for _, m := range opts.Models {
		name, target, ok := strings.Cut(m, "=")
		if !ok {
			name, target = m, m
		}
		if name == "" || target == "" {
			return fmt.Errorf("--model %q: want MODEL or NAME=MODEL", m)
		}
		if _, dup := models[name]; dup {
			return fmt.Errorf("--model: %s is named twice", name)
		}
		models[name] = target
	}
	// The server normalises itself, so that a client's normalize:false is
	// honoured; models stay loaded while it runs.
	// With a search page, each query's text is followed at once by a scan
	// of the library's vectors, which the text tower's spinning threads
	// would slow by half.
	emb, err := g.embedder(flags, hybridembed.WithNormalize(false), hybridembed.WithKeepAlive(-1), hybridembed.WithMaxPixels(opts.MaxPixels),
		hybridembed.WithQuietTexts(len(opts.Libraries) > 0))
	if err != nil {
		return err
	}
	defer emb.Close()
	for name, target := range models {
		if err := g.ensureModel(ctx, emb, target, !opts.NoDownload); err != nil {
			return fmt.Errorf("--model %s: %w", name, err)
		}
	}

	var handler slog.Handler = slog.NewTextHandler(g.stderr, nil)
	if opts.LogJSON {
		handler = slog.NewJSONHandler(g.stderr, nil)
	}
	logger := slog.New(handler)
	srv, err := server.New(ctx, emb, server.Config{Models: models, APIKeys: keys, MaxBodyBytes: opts.MaxBody,
		MaxInflightBytes: opts.MaxInflight, MaxPixels: opts.MaxPixels, MaxInputs: opts.MaxInputs, MaxPending: opts.MaxPending,
		ReadHeaderTimeout: opts.HeaderTimeout, BodyTimeout: opts.BodyTimeout, IdleTimeout: opts.IdleTimeout, WriteTimeout: opts.WriteTimeout,
		Logger: logger})
	if err != nil {
		return err
	}
	softMemoryLimit(opts.MaxInflight)
	hs := srv.HTTPServer()
	var page *webui.UI
	if len(opts.Libraries) > 0 {
		name, err := libraryModel(opts, models)
		if err != nil {
			return err
		}
		m, err := g.localModel(ctx, emb, models[name], !opts.NoDownload)
		if err != nil {
			return fmt.Errorf("--library-model %s: %w", name, err)
		}
		page, err = webui.New(ctx, webui.Config{Libraries: opts.Libraries, Model: m, ThumbDir: opts.ThumbCache, APIKeys: keys,
			LoopbackOnly: len(keys) == 0 && loopback(opts.Addr), Rescan: opts.Rescan, Notify: true,
			MaxUpload: opts.MaxBody, MaxPixels: opts.MaxPixels, WithBody: srv.WithBody, Logger: logger})
		if err != nil {
			return err
		}
		defer page.Close()
		hs.Handler = page.Handler(hs.Handler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return err
	}
	hs.ErrorLog = slog.NewLogLogger(handler, slog.LevelWarn)
	logger.Info("loading models", "addr", ln.Addr().String(), "models", strings.Join(opts.Models, " "), "auth", len(keys) > 0)

	// The port is bound and answers /health (and /ready with 503) while
	// the models load; "listening on" waits for them, so that a script
	// or a test reading it can send requests at once.
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	warmed := make(chan error, 1)
	go func() { warmed <- srv.Warm(ctx) }()
	for {
		select {
		case err := <-warmed:
			if err != nil && ctx.Err() == nil {
				hs.Close()
				return err
			}
			if err == nil {
				logger.Info("ready", "addr", ln.Addr().String())
				fmt.Fprintf(g.stdout, "listening on http://%s\n", ln.Addr())
				if page != nil {
					fmt.Fprintf(g.stdout, "search page: http://%s/ (previews in %s)\n", ln.Addr(), page.ThumbDir())
					page.Start(ctx)
				}
			}
			warmed = nil
			continue
		case err := <-served:
			return err
		case <-ctx.Done():
		}
		break
	}
	// Stop accepting, let the requests in flight finish, then the engine.
	logger.Info("shutting down", "drain", opts.Drain)
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Drain)
	defer cancel()
	if err := hs.Shutdown(drain); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if page != nil {
		if err := page.Close(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	if err := emb.Shutdown(drain); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// softMemoryLimit makes the Go collector work harder as the heap nears
// the requests' budget plus room for the rest of the process, unless
// $GOMEMLIMIT says otherwise: what requests hold is bounded by the
// budget, but the garbage they leave is only bounded by the collector,
// which by default lets the heap grow to twice what is live.
func softMemoryLimit(budget int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(budget + 192<<20)
}

// libraryModel is the --model NAME that indexes the libraries.
func libraryModel(opts serveOptions, models map[string]string) (string, error) {
	if opts.LibraryModel != "" {
		if _, ok := models[opts.LibraryModel]; !ok {
			return "", fmt.Errorf("--library-model %s: not one of the --model names", opts.LibraryModel)
		}
		return opts.LibraryModel, nil
	}
	if len(models) != 1 {
		return "", errors.New("--library: several models are served; name the one that indexes the photos with --library-model NAME")
	}
	for name := range models {
		return name, nil
	}
	return "", nil
}

// apiKeys gathers the accepted keys: --api-key's, the key file's (one key
// per line; blank lines and # comments skipped) and $HYBRIDEMBED_API_KEY.
func apiKeys(given []string, file string) ([]string, error) {
	var keys []string
	for _, k := range given {
		if k = strings.TrimSpace(k); k == "" {
			return nil, errors.New("--api-key: an empty key")
		}
		keys = append(keys, k)
	}
	if k := strings.TrimSpace(os.Getenv("HYBRIDEMBED_API_KEY")); k != "" {
		keys = append(keys, k)
	}
	if file == "" {
		return keys, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--api-key-file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--api-key-file: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("--api-key-file: no keys in the file")
	}
	return keys, nil
}

// checkAddr refuses an --addr that is not HOST:PORT (or :PORT) with a
// port number, before anything else is said about it.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return flagError("addr", addr, "HOST:PORT, such as 127.0.0.1:8080, or :8080 for every interface")
	}
	return nil
}

// loopback reports whether addr only accepts connections from this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
