package hybridembed

// Settings are what an Embedder runs with once its options and the
// environment are read: what a program (or `hybridembed config`) shows
// as in effect.
type Settings struct {
	Offline   bool
	Policy    Policy
	RouterURL string
	HubURL    string
	HubCache  string // the Hugging Face cache folder
	Token     bool   // a Hugging Face token is set (the token itself is never shown)
	Device    string // cpu, cuda or auto: asked for, not yet decided
	Threads   int    // 0: all cores
	Variant   string // "" for the fp32 files
	Decode    string // DecodeExact or DecodeFast
	BatchSize int    // images per model run; 0: the default
	Workers   int    // 0: the default
	Runs      int    // 0: the default
	Normalize bool
	MaxPixels int64
}

// Settings reports the settings in effect. It is safe to call at any
// time, after Close too.
func (e *Embedder) Settings() Settings {
	c := e.cfg
	decode := DecodeExact
	if c.fastDecode {
		decode = DecodeFast
	}
	return Settings{
		Offline: c.offline, Policy: c.policy, RouterURL: e.client.RouterURL, HubURL: e.client.HubURL,
		HubCache: e.cache.Root(), Token: e.client.HasToken(), Device: string(c.device), Threads: c.threads,
		Variant: c.variant, Decode: decode, BatchSize: c.batch, Workers: c.workers, Runs: c.runs,
		Normalize: c.normalize, MaxPixels: c.maxPixels,
	}
}
