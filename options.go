package hybridembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/remote"
)

type config struct {
	threads      int
	quietTexts   bool
	device       ort.Device
	library      string
	variant      string
	batch        int
	textBatch    int
	maxWait      time.Duration
	workers      int
	runs         int
	keepAlive    time.Duration
	normalize    bool
	fastDecode   bool
	maxPixels    int64
	hubCache     string
	logger       *slog.Logger
	offline      bool
	offlineIsSet bool
	ignoreEnv    bool

	policy       Policy
	routerURL    string
	hubURL       string
	token        string
	tokenSet     bool
	httpClient   *http.Client
	retry        remote.RetryPolicy
	mappingTTL   time.Duration
	notServedTTL time.Duration
	hubTimeout   time.Duration
	waitForModel bool
	providers    []string       // nil: auto (the Hub's order)
	maxInputs    map[string]int // per provider; see WithMaxInputs
}

// Option configures an [Embedder]. Every option checks its argument, and
// [New] returns the first error.
type Option func(*config) error

// OptionError is an [Option] given a value it does not take: [New]
// returns it, so that a caller (a command line, a config file) can say
// which of its own settings was wrong. It matches ErrBadOption.
type OptionError struct {
	Option string // the option: "WithDecode"
	Value  string // the value given, as Go writes it: `"bogus"`, `-1`
	Want   string // what the option takes, in words: "exact or fast"
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("hybridembed: %s: %s: want %s", e.Option, e.Value, e.Want)
}

// Is makes every OptionError match ErrBadOption.
func (e *OptionError) Is(target error) bool { return target == ErrBadOption }

// ErrBadOption is matched by every [OptionError].
var ErrBadOption = errors.New("hybridembed: bad option")

func badString(option, value, want string) error {
	return &OptionError{Option: option, Value: strconv.Quote(value), Want: want}
}

func badValue(option string, value any, want string) error {
	return &OptionError{Option: option, Value: fmt.Sprint(value), Want: want}
}

// WithThreads sets ONNX Runtime's threads per session (0, the default: all
// cores).
func WithThreads(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return badValue("WithThreads", n, "0 or more (0: all cores)")
		}
		c.threads = n
		return nil
	}
}

// WithQuietTexts makes a text tower's ONNX Runtime threads sleep as soon
// as they have nothing to do, instead of busy-waiting for the next
// operator and for a while after each call. Use it where each text is
// followed by CPU work of the caller's (a search scanning an index right
// after embedding its query: twice as fast with it); leave it off for
// batch throughput, which spinning raises by up to a tenth.
func WithQuietTexts(on bool) Option {
	return func(c *config) error {
		c.quietTexts = on
		return nil
	}
}

// WithDevice selects "cpu", "cuda" or "auto" (the default: CUDA when it
// works, else the CPU, with the reason logged).
func WithDevice(device string) Option {
	return func(c *config) error {
		d, err := ort.ParseDevice(device)
		if err != nil {
			return badString("WithDevice", device, "cpu, cuda or auto")
		}
		c.device = d
		return nil
	}
}

// WithRuntimeLibrary points at libonnxruntime explicitly (default: search
// $ONNXRUNTIME_LIB, hybridembed's cache, the system loader path).
func WithRuntimeLibrary(path string) Option {
	return func(c *config) error {
		if strings.TrimSpace(path) != path {
			return badString("WithRuntimeLibrary", path, "a path with no surrounding spaces")
		}
		c.library = path
		return nil
	}
}

// WithVariant picks transformers.js ONNX variants: "quantized", "fp16", ...
// ("", the default: the fp32 files).
func WithVariant(v string) Option {
	return func(c *config) error {
		if strings.ContainsAny(v, `/\. `) {
			return badString("WithVariant", v, "a variant name (quantized, fp16, int8, ...)")
		}
		c.variant = v
		return nil
	}
}

// WithBatchSize sets the most images and texts one model run takes
// (defaults 16 and 32; 0 keeps the default). Concurrent calls share these
// batches. An image tower running several batches at once (WithRuns)
// shares the image size between them.
func WithBatchSize(images, texts int) Option {
	return func(c *config) error {
		if images < 0 {
			return badValue("WithBatchSize", images, "0 or more (0: the default)")
		}
		if texts < 0 {
			return badValue("WithBatchSize", texts, "0 or more (0: the default)")
		}
		c.batch, c.textBatch = images, texts
		return nil
	}
}

// WithMaxWait sets how long a model waits, once an input arrives, for
// others to join its batch (default 2ms).
func WithMaxWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Second {
			return badValue("WithMaxWait", d, "0 to 1s")
		}
		c.maxWait = d
		return nil
	}
}

// WithWorkers sets how many goroutines decode and preprocess images for all
// callers while the model runs (0, the default: half the cores, at least
// 2, when inference runs on the CPU; one per core on a GPU).
func WithWorkers(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return badValue("WithWorkers", n, "0 or more (0: the default)")
		}
		c.workers = n
		return nil
	}
}

// WithRuns sets how many image batches a model runs at once, each on an
// equal share of the threads (0, the default: two on the CPU, which keeps
// every core busy while images decode, at the cost of a lone image running
// on half the threads; one on a GPU). Use 1 where single-image latency
// matters more than throughput.
func WithRuns(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return badValue("WithRuns", n, "0 or more (0: the default)")
		}
		c.runs = n
		return nil
	}
}

// WithKeepAlive sets how long a model stays loaded after its last use
// (default 5 minutes); a negative duration keeps models loaded until
// [Embedder.Unload] or Close.
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) error { c.keepAlive = d; return nil }
}

// Decode modes for [WithDecode].
const (
	DecodeExact = "exact" // pixels identical to Pillow's (with libjpeg-turbo); the default
	DecodeFast  = "fast"  // large JPEGs decoded at 1/2, 1/4 or 1/8 scale, as Pillow's draft mode
)

// JPEG decoders, as [ModelInfo].JPEGDecoder names them: libjpeg-turbo
// where it loads (scripts/install-libjpeg-turbo.sh), else Go's image/jpeg
// ($HYBRIDEMBED_JPEG=go forces it).
const (
	JPEGTurbo = imageprep.JPEGTurbo
	JPEGGo    = imageprep.JPEGGo
)

// WithDecode picks how JPEGs are decoded: DecodeExact (the default), or
// DecodeFast, which decodes large JPEGs scaled down in the DCT domain
// while they stay at least twice the model's input on the short side,
// then resamples exactly: several times faster on camera photos, with
// vectors close to (not equal to) the exact ones; see the README.
func WithDecode(mode string) Option {
	return func(c *config) error {
		switch mode {
		case "", DecodeExact:
			c.fastDecode = false
		case DecodeFast:
			c.fastDecode = true
		default:
			return badString("WithDecode", mode, "exact or fast")
		}
		return nil
	}
}

// WithNormalize turns L2 normalisation of vectors on or off (default on).
func WithNormalize(on bool) Option {
	return func(c *config) error { c.normalize = on; return nil }
}

// WithMaxPixels refuses images with more pixels than n before decoding them
// (default 178,956,970, PIL's decompression-bomb limit).
func WithMaxPixels(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return badValue("WithMaxPixels", n, "more than 0")
		}
		c.maxPixels = n
		return nil
	}
}

// WithHubCache reads models from this Hugging Face hub cache directory
// (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).
func WithHubCache(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return badString("WithHubCache", dir, "a directory")
		}
		c.hubCache = dir
		return nil
	}
}

// WithLogger receives notes such as CUDA fallbacks and routing decisions
// (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return badValue("WithLogger", "nil", "a logger")
		}
		c.logger = l
		return nil
	}
}

// WithOffline forbids network use; only local models are used. Without
// this option, $HF_HUB_OFFLINE=1 has the same effect.
func WithOffline(on bool) Option {
	return func(c *config) error { c.offline, c.offlineIsSet = on, true; return nil }
}

// WithoutEnvironment makes the Embedder ignore every environment variable
// it would read, for library users who configure everything through
// options: the Hugging Face ones ($HF_TOKEN and $HF_TOKEN_PATH's token
// file, $HF_HUB_OFFLINE, $HF_ENDPOINT, $HF_HUB_CACHE, $HF_HOME,
// $HF_HUB_ETAG_TIMEOUT) and hybridembed's ($HYBRIDEMBED_ROUTER_URL,
// $HYBRIDEMBED_CACHE and $XDG_CACHE_HOME for its cache and routing state,
// $ONNXRUNTIME_LIB, $TURBOJPEG_LIB, $HYBRIDEMBED_JPEG). The defaults stand
// in for them (~/.cache/huggingface/hub, ~/.cache/hybridembed, ...). JPEG
// decoding is set up once per process: an Embedder made with this option
// before the first JPEG is decoded makes the whole process ignore
// $TURBOJPEG_LIB and $HYBRIDEMBED_JPEG. By default they are honoured, as
// huggingface_hub honours them.
func WithoutEnvironment() Option {
	return func(c *config) error { c.ignoreEnv = true; return nil }
}

// WithPolicy overrides routing: "auto" (the default), "remote" or "local".
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		var err error
		if c.policy, err = ParsePolicy(string(p)); err != nil {
			return badString("WithPolicy", string(p), "auto, remote or local")
		}
		return nil
	}
}

func checkURL(name, u string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return badString(name, u, "an http or https URL")
	}
	return nil
}

// WithRouterURL sets the router (default $HYBRIDEMBED_ROUTER_URL, else
// https://router.huggingface.co; "" keeps the default).
func WithRouterURL(u string) Option {
	return func(c *config) error { c.routerURL = u; return checkURL("WithRouterURL", u) }
}

// WithHubURL sets the Hub (default $HF_ENDPOINT, else https://huggingface.co;
// "" keeps the default).
func WithHubURL(u string) Option {
	return func(c *config) error { c.hubURL = u; return checkURL("WithHubURL", u) }
}

// WithToken sets the Hugging Face access token (default $HF_TOKEN, else
// the token file in $HF_HOME). An empty token means none.
func WithToken(token string) Option {
	return func(c *config) error {
		if strings.ContainsAny(token, " \t\r\n") {
			return &OptionError{Option: "WithToken", Value: "(the token)", Want: "a token with no white space"}
		}
		c.token, c.tokenSet = token, true
		return nil
	}
}

// WithHTTPClient sets the HTTP client for the router and the Hub.
func WithHTTPClient(h *http.Client) Option {
	return func(c *config) error {
		if h == nil {
			return badValue("WithHTTPClient", "nil", "a client")
		}
		c.httpClient = h
		return nil
	}
}

// RetryPolicy bounds the retries of requests to the router and the Hub.
// Zero fields keep their defaults.
type RetryPolicy struct {
	MaxAttempts int           // default 4
	BaseDelay   time.Duration // first backoff, doubled each time, jittered (default 500ms)
	MaxDelay    time.Duration // backoff cap (default 8s)
	// MaxWait is the longest single wait a server may ask for with
	// estimated_time or Retry-After (default 30s); longer asks end the
	// retries.
	MaxWait time.Duration
}

// WithRetryPolicy bounds the retries of requests to the router and the
// Hub (loading models, rate limits, server and transport errors).
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if p.MaxAttempts < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 || p.MaxWait < 0 {
			return badValue("WithRetryPolicy", fmt.Sprintf("%+v", p), "no negative field")
		}
		c.retry = remote.RetryPolicy(p)
		return nil
	}
}

// WithRoutingCache sets how long Hub provider mappings (default 6h) and
// stale provider mappings the router 404'd (default 6h) are remembered on
// disk.
func WithRoutingCache(mappings, notServed time.Duration) Option {
	return func(c *config) error {
		if mappings < 0 {
			return badValue("WithRoutingCache", mappings, "0 or more")
		}
		if notServed < 0 {
			return badValue("WithRoutingCache", notServed, "0 or more")
		}
		c.mappingTTL, c.notServedTTL = mappings, notServed
		return nil
	}
}

// WithProviders restricts and orders the inference providers text may go
// to, as huggingface_hub's provider argument does: "auto" (or no names,
// the default) tries every live provider in the order the Hub lists them
// (the account's preference order); names ("together", "hf-inference",
// ...; see [remote.Providers]) try only those, in this order, each where
// the Hub maps the model to it.
func WithProviders(names ...string) Option {
	return func(c *config) error {
		p, err := parseProviders(names)
		if err != nil {
			return badString("WithProviders", strings.Join(names, ","), "auto, or some of "+strings.Join(remote.Providers(), ", ")+", each once")
		}
		c.providers = p
		return nil
	}
}

func parseProviders(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		switch {
		case n == "" || n == "auto":
			if n == "auto" && len(names) > 1 {
				return nil, errors.New(`"auto" cannot be combined with provider names`)
			}
			continue
		case !remote.KnownProvider(n):
			return nil, fmt.Errorf("unknown provider %q (want auto, or some of %s)", n, strings.Join(remote.Providers(), ", "))
		case slices.Contains(out, n):
			return nil, fmt.Errorf("provider %q named twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// WithMaxInputs sets the most inputs one request to provider carries
// (default [remote.DefaultMaxInputs]: the provider's published limit,
// else a conservative 32); 0 restores the default.
func WithMaxInputs(provider string, n int) Option {
	return func(c *config) error {
		if !remote.KnownProvider(provider) {
			return badString("WithMaxInputs", provider, "one of "+strings.Join(remote.Providers(), ", "))
		}
		if n < 0 {
			return badValue("WithMaxInputs", n, "0 or more (0: the default)")
		}
		if c.maxInputs == nil {
			c.maxInputs = map[string]int{}
		}
		c.maxInputs[provider] = n
		return nil
	}
}

// WithHubTimeout bounds one Hub lookup of a model's provider mapping
// (default 10s, or $HF_HUB_ETAG_TIMEOUT seconds, huggingface_hub's timeout
// for metadata it can do without). A lookup that fails is remembered for
// a minute, so a hung Hub costs one wait a minute.
func WithHubTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return badValue("WithHubTimeout", d, "more than 0")
		}
		c.hubTimeout = d
		return nil
	}
}

// WithWaitForModel asks the router to hold requests while a cold model
// loads (X-Wait-For-Model) instead of answering 503.
func WithWaitForModel(on bool) Option {
	return func(c *config) error { c.waitForModel = on; return nil }
}

var errNilOption = errors.New("hybridembed: nil Option")
