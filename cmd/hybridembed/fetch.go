package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

// openLocalModel opens the Embedder and resolves name for work on this
// machine (see localModel); the caller closes the Embedder.
func (g *globalOptions) openLocalModel(ctx context.Context, flags *pflag.FlagSet, name string, download bool, extra ...hybridembed.Option) (*hybridembed.Embedder, *hybridembed.Model, error) {
	emb, err := g.embedder(flags, extra...)
	if err != nil {
		return nil, nil, err
	}
	m, err := g.localModel(ctx, emb, name, download)
	if err != nil {
		emb.Close()
		return nil, nil, err
	}
	return emb, m, nil
}

// localModel resolves name for work that runs on this machine. A Hub id
// that is not cached is downloaded first, as transformers, fastembed and
// rclip do, unless download is false or the network is off; then the
// not-cached error stands, exactly as without this step.
func (g *globalOptions) localModel(ctx context.Context, emb *hybridembed.Embedder, name string, download bool) (*hybridembed.Model, error) {
	m, err := emb.Model(ctx, name)
	if err != nil {
		return nil, err
	}
	cached, err := m.Cached()
	switch {
	case err != nil:
		return nil, err
	case cached:
		return m, nil
	case !download || emb.Settings().Offline:
		return nil, notHere(ctx, m)
	}
	fmt.Fprintf(g.stderr, "hybridembed: %s is not cached here; downloading it from %s (--no-download refuses)\n", name, emb.Settings().HubURL)
	if _, err := pullModel(ctx, emb, g, name); err != nil {
		return nil, &downloadError{model: name, err: err}
	}
	return emb.Model(ctx, name)
}

// downloadError is a model that was not cached and could not be
// downloaded: explain offers the cached and known ids it may be a typo of,
// and --offline where the Hub could not be reached.
type downloadError struct {
	model string
	err   error
}

func (e *downloadError) Error() string { return e.err.Error() }
func (e *downloadError) Unwrap() error { return e.err }

// ensureModel makes sure name can embed texts: nothing to do when it is
// cached or the router serves its texts; else it is downloaded, as for
// localModel.
func (g *globalOptions) ensureModel(ctx context.Context, emb *hybridembed.Embedder, name string, download bool) error {
	m, err := emb.Model(ctx, name)
	if err != nil {
		return err
	}
	if cached, err := m.Cached(); cached || err != nil {
		return err
	}
	if d, err := emb.Resolve(ctx, name, hybridembed.ModalityText); err == nil && d.Backend == hybridembed.BackendRemote {
		return nil
	}
	_, err = g.localModel(ctx, emb, name, download)
	return err
}

// modelHere resolves name, whose files must be on this machine.
func modelHere(ctx context.Context, emb *hybridembed.Embedder, name string) (*hybridembed.Model, error) {
	m, err := emb.Model(ctx, name)
	if err != nil {
		return nil, err
	}
	if cached, err := m.Cached(); !cached {
		if err == nil {
			err = notHere(ctx, m)
		}
		return nil, err
	}
	return m, nil
}

// notHere is a model's not-cached error, which names the command that
// fetches it: what a call needing its files returns.
func notHere(ctx context.Context, m *hybridembed.Model) error { return m.Load(ctx) }
