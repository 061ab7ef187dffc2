package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

type resolveOptions struct {
	JSON    bool
	Images  bool
	NoProbe bool
	Refresh bool
}

func (o *resolveOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.JSON, "json", false, "print the decision and evidence as JSON")
	f.BoolVar(&o.Images, "images", false, "resolve for images instead of text")
	f.BoolVar(&o.NoProbe, "no-probe", false, "do not send test requests to the router")
	f.BoolVar(&o.Refresh, "refresh", false, "forget what routing remembers about MODEL (mappings, 404s, failed Hub lookups) and ask again")
}

func newResolveCommand(g *globalOptions) *cobra.Command {
	var opts resolveOptions
	cmd := &cobra.Command{
		Use:   "resolve MODEL",
		Short: "Say where a model runs, and why",
		Long: `Print where MODEL's inputs would go (the router or this machine) and the
evidence: the chain of inference providers (each with its provider id, its
status on the Hub, and why it is tried or skipped), the Hub's mapping, local
files, what routing remembers, and one live test request to each provider
tried, which tells a wrong router URL from a stale mapping, a model that is
not served, or one that is warming up. --refresh forgets what routing
remembers about MODEL first (see ` + "`hybridembed --help`" + ` for the state file).` + "\n" + exitHelp(
			status{exitOK, "the decision was printed (whatever it is, and whatever the probes found)"},
			status{exitFatal, "no decision: bad flags, a model id that is not valid, the Hub refused the token"},
			statusInterrupted,
		),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResolve(cmd.Context(), opts, g, cmd.Flags(), args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runResolve(ctx context.Context, opts resolveOptions, g *globalOptions, flags *pflag.FlagSet, model string) error {
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	modality := hybridembed.ModalityText
	if opts.Images {
		modality = hybridembed.ModalityImage
	}
	if opts.Refresh {
		if err := emb.ForgetRouting(model); err != nil {
			return fmt.Errorf("--refresh: %w", err)
		}
	}
	d, err := emb.Resolve(ctx, model, modality)
	if err != nil {
		return err
	}
	var probes []hybridembed.Probe
	if !opts.NoProbe && modality == hybridembed.ModalityText && !d.Evidence.Offline && d.Evidence.Token {
		probes = emb.ProbeRouter(ctx, d)
	}
	diagnosis := hybridembed.Diagnose(d, probes)
	if opts.JSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			hybridembed.Decision
			Probes    []hybridembed.Probe `json:"probes,omitempty"`
			Diagnosis string              `json:"diagnosis,omitempty"`
		}{d, probes, diagnosis})
	}
	w := g.stdout
	ev := d.Evidence
	backend := string(d.Backend)
	if d.Backend == hybridembed.BackendLocal && ev.Local.Dir == "" {
		// "local" alone reads as "works here".
		backend += ", but not on this machine yet: `hybridembed models pull " + d.Model + "` fetches it"
	}
	fmt.Fprintf(w, "%s (%s): %s\n  why: %s\n", d.Model, d.Modality, backend, d.Reason)
	if diagnosis != "" {
		fmt.Fprintf(w, "  diagnosis: %s\n", diagnosis)
	}
	fmt.Fprintf(w, "  policy: %s   offline: %v   token: %v   family: %s\n", ev.Policy, ev.Offline, ev.Token, orDash(ev.Family))
	if ev.Local.Dir != "" {
		fmt.Fprintf(w, "  local: %s", ev.Local.Dir)
		if ev.Local.Revision != "" {
			fmt.Fprintf(w, " (%s@%s)", ev.Local.Repo, shortCommit(ev.Local.Revision))
		}
		if ev.Local.Layout != "" {
			fmt.Fprintf(w, ", %s layout", ev.Local.Layout)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "  local: not cached (%s)\n", ev.Local.Err)
	}
	if h := ev.Hub; h != nil {
		if h.Err != "" {
			fmt.Fprintf(w, "  hub: %s\n", h.Err)
		} else {
			src := "asked now"
			if h.Cached {
				src = "remembered from " + h.Fetched.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(w, "  hub: providers %s; inference: %s; commit %s (%s)\n", orDash(strings.Join(h.Providers, ", ")), orDash(h.Inference), orDash(shortCommit(h.SHA)), src)
		}
	}
	if len(d.Providers) > 0 {
		fmt.Fprintf(w, "  providers (in the order tried):\n")
		for _, p := range d.Providers {
			mark := "skip"
			if p.Use {
				mark = "try "
			}
			fmt.Fprintf(w, "    %s %-12s %-40s %-8s %s\n", mark, p.Provider, orDash(p.ProviderID), p.Status, p.Why)
		}
	}
	if d.Revision != "" {
		fmt.Fprintf(w, "  revision: %s (the Hub's current commit)\n", d.Revision)
	}
	for _, p := range probes {
		fmt.Fprintf(w, "  probe: POST %s -> %s", p.URL, p.Status)
		if p.HTTPStatus != 0 {
			fmt.Fprintf(w, " (HTTP %d", p.HTTPStatus)
			if p.Message != "" {
				fmt.Fprintf(w, ": %s", p.Message)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintln(w)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
