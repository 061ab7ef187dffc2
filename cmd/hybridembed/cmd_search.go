package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

type searchOptions struct {
	Model   string
	Queries []string
	Top     int
	JSON    bool
}

func (o *searchOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Model, "model", "m", "", "CLIP-family model directory or Hugging Face id (required)")
	f.StringArrayVarP(&o.Queries, "query", "q", nil, "text to search for (repeatable)")
	f.IntVarP(&o.Top, "top", "k", 5, "results per query")
	f.BoolVar(&o.JSON, "json", false, "print JSON Lines, one object per query")
}

func newSearchCommand(g *globalOptions) *cobra.Command {
	var opts searchOptions
	cmd := &cobra.Command{
		Use:   "search --model MODEL --query TEXT [--query TEXT...] PATH...",
		Short: "Rank images by similarity to text queries",
		Long: `Embed the images under PATH (files or folders, as embed finds them) and each
query with the same CLIP-family model, and print the best-matching images per
query by cosine similarity.` + "\n" + exitStatusHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSearch(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("query")
	return cmd
}

type hit struct {
	Path  string  `json:"path"`
	Score float64 `json:"score"`
}

func runSearch(ctx context.Context, opts searchOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	if opts.Top < 1 {
		return errors.New("--top must be at least 1")
	}
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	queries, err := emb.EmbedTexts(ctx, opts.Model, opts.Queries)
	if err != nil {
		return err
	}
	paths, problems := collectImages(args)
	failed := len(problems)
	for _, p := range problems {
		fmt.Fprintf(g.stderr, "hybridembed: %s: %v\n", p.path, p.err)
	}
	images := make([]hybridembed.Image, len(paths))
	for i, p := range paths {
		images[i] = hybridembed.ImageFile(p)
	}
	prog := newProgress(g.stderr, len(paths), "embedding")
	var vecs [][]float32
	var names []string
	err = emb.EmbedImagesFunc(ctx, opts.Model, images, func(i int, e hybridembed.Embedding, err error) error {
		prog.Add(1)
		if err != nil {
			failed++
			prog.Println(fmt.Sprintf("hybridembed: %s: %v", paths[i], err))
			return nil
		}
		vecs, names = append(vecs, e.Vector), append(names, paths[i])
		return nil
	})
	prog.Finish()
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	for qi, q := range queries {
		hits := make([]hit, len(vecs))
		for i, v := range vecs {
			hits[i] = hit{names[i], hybridembed.Cosine(q.Vector, v)}
		}
		sort.SliceStable(hits, func(a, b int) bool { return hits[a].Score > hits[b].Score })
		hits = hits[:min(opts.Top, len(hits))]
		if opts.JSON {
			if err := json.NewEncoder(g.stdout).Encode(struct {
				Query   string `json:"query"`
				Model   string `json:"model"`
				Results []hit  `json:"results"`
			}{opts.Queries[qi], q.Model, hits}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%q\n", opts.Queries[qi])
		for _, h := range hits {
			fmt.Fprintf(tw, "  %.4f\t%s\n", h.Score, h.Path)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return errPartial
	}
	return nil
}
