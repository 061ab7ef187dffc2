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
	Progress func(models.Progress)
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
	d := &models.Downloader{Cache: e.cache, Client: e.client, Offline: e.cfg.offline, Progress: opts.Progress}
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
