package hybridembed

import (
	"context"
	"fmt"
	"strings"

	"github.com/hybridembed/hybridembed/models"
)

// PullOptions choose what [Embedder.Pull] fetches and how it reports.
type PullOptions struct {
	// Revision is a branch, tag or commit; "" takes the one in the name
	// ("org/name@rev"), else main.
	Revision string
	// Progress receives byte counts as files download; it is called from
	// several goroutines at once.
	Progress func(PullProgress)
}

// PullProgress is how far one file of a pull is.
type PullProgress struct {
	File             string // its path in the repo
	Completed, Total int64  // bytes
	Cached           bool   // it was in the cache already
	Done             bool   // it is downloaded and verified
}

// Pull downloads model name (a Hub id, optionally "@revision") into the
// cache with the Embedder's Hub URL, token, variant and offline setting,
// verifying every file, and returns the model as it now resolves. Files
// already cached are not fetched again. Offline it fails with ErrOffline.
func (e *Embedder) Pull(ctx context.Context, name string, opts PullOptions) (info ModelInfo, err error) {
	ctx, end, err := e.begin(ctx)
	if err != nil {
		return ModelInfo{}, err
	}
	defer end(&err)
	id, rev, _ := strings.Cut(name, "@")
	if opts.Revision != "" {
		rev = opts.Revision
	}
	// The same client as routing and the router: one HTTP layer, one token
	// rule (only the Hub and the router see it), one retry policy.
	d := &models.Downloader{Cache: e.cache, Client: e.client, Offline: e.cfg.offline}
	if opts.Progress != nil {
		d.Progress = func(p models.Progress) {
			opts.Progress(PullProgress{File: p.File, Completed: p.Completed, Total: p.Total, Cached: p.Cached, Done: p.Done})
		}
	}
	if _, err := d.Pull(ctx, id, models.PullOptions{Revision: rev, Variant: e.cfg.variant}); err != nil {
		return ModelInfo{}, err
	}
	if rev != "" {
		id += "@" + rev
	}
	m, err := e.resolve(id)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("pulled %s, but: %w", id, err)
	}
	return m.Info(), nil
}
