package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

type resolveOptions struct {
	JSON    bool
	Images  bool
	NoProbe bool
}

func (o *resolveOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.JSON, "json", false, "print the decision and evidence as JSON")
	f.BoolVar(&o.Images, "images", false, "resolve for images instead of text")
	f.BoolVar(&o.NoProbe, "no-probe", false, "do not send a test request to the router")
}

func newResolveCommand(g *globalOptions) *cobra.Command {
	var opts resolveOptions
	cmd := &cobra.Command{
		Use:   "resolve MODEL",
		Short: "Say where a model runs, and why",
		Long: `Print where MODEL's inputs would go (the router or this machine) and the
evidence: the Hub's provider mapping, local files, the negative cache, and one
live test request to the router, which tells a wrong router URL from a model
that is not served or is warming up.` + "\n" + exitStatusHelp,
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
	d, err := emb.Resolve(ctx, model, modality)
	if err != nil {
		return err
	}
	var probe *hybridembed.Probe
	if !opts.NoProbe && modality == hybridembed.ModalityText && !d.Evidence.Offline && d.Evidence.Token {
		p := emb.ProbeRouter(ctx, model)
		probe = &p
	}
	diagnosis := ""
	if probe != nil {
		diagnosis = hybridembed.Diagnose(d, *probe)
	}
	if opts.JSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			hybridembed.Decision
			Probe     *hybridembed.Probe `json:"probe,omitempty"`
			Diagnosis string             `json:"diagnosis,omitempty"`
		}{d, probe, diagnosis})
	}
	w := g.stdout
	ev := d.Evidence
	fmt.Fprintf(w, "%s (%s): %s\n  why: %s\n", d.Model, d.Modality, d.Backend, d.Reason)
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
				src = "cached " + h.Fetched.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(w, "  hub: hf-inference %s; providers: %v; inference: %s (%s)\n", h.Serving, h.Providers, orDash(h.Inference), src)
		}
	}
	if ev.NotServedUntil != nil {
		fmt.Fprintf(w, "  negative cache: not served until %s\n", ev.NotServedUntil.Format("2006-01-02 15:04"))
	}
	if probe != nil {
		fmt.Fprintf(w, "  probe: POST %s -> %s", probe.URL, probe.Status)
		if probe.HTTPStatus != 0 {
			fmt.Fprintf(w, " (HTTP %d", probe.HTTPStatus)
			if probe.Message != "" {
				fmt.Fprintf(w, ": %s", probe.Message)
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
