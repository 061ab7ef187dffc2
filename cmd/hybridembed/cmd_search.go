package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/gallery"
	"github.com/hybridembed/hybridembed/internal/index"
)

type searchOptions struct {
	indexOptions
	Queries   []string
	Images    []string
	Top       int
	Threshold float64
	JSON      bool
	Paths     bool
	HTML      string
	NoUpdate  bool
}

func (o *searchOptions) AddFlags(f *pflag.FlagSet) {
	o.indexOptions.AddFlags(f)
	addWalkFlags(f, &o.IncludeHidden)
	f.StringArrayVarP(&o.Queries, "query", "q", nil, "a query: text, or terms combined as in \"2:beach + ./me.jpg - people\" (repeatable)")
	f.StringArrayVar(&o.Images, "image", nil, "an image file to find similar images to (repeatable)")
	f.IntVarP(&o.Top, "top", "k", 10, "results per query")
	f.Float64Var(&o.Threshold, "threshold", -1, "only results scoring at least this cosine similarity")
	f.BoolVar(&o.JSON, "json", false, "print JSON Lines, one object per query")
	f.BoolVar(&o.Paths, "paths", false, "print bare paths, one per line (for pipes)")
	f.StringVar(&o.HTML, "html", "", "also write the results as a gallery page (HTML with thumbnails) to this file")
	f.BoolVar(&o.NoUpdate, "no-update", false, "search the index as it is, without bringing it up to date first")
}

func newSearchCommand(g *globalOptions) *cobra.Command {
	var opts searchOptions
	cmd := &cobra.Command{
		Use:   "search [--model MODEL] (--query TEXT | --image FILE)... [PATH...]",
		Short: "Find the images in a library that best match text or images",
		Long: `Rank the images under PATH (default: the current folder) by cosine similarity
to each query, through the library's index: it is brought up to date first
(quick when nothing changed; --no-update skips it), so only new and changed
images are embedded.

A query is text, an image file (--image, or a term naming an existing file),
or a combination, as rclip writes them: terms joined by " + " and " - ",
each optionally weighted: "2:beach + ./me.jpg - people". The terms' unit
vectors are summed with their weights (negative after " - ") into one query.

Output: per query, its text and the best matches with their scores; --json
gives {"query","model","results":[{"path","score"}]} per line; --paths gives
bare paths; --html FILE writes a gallery page to open in a browser. The
queries are embedded first, so a query that is not an image fails before the
index is touched; the index update says nothing when nothing changed.` + "\n" + indexHelp + "\n" + walkHelp + "\n" + exitHelp(
			status{exitOK, "the results were printed"},
			status{exitFatal, "no search: bad flags or queries (an --image that is not an image), a PATH that is not there, no images, a model that is unusable, not cached or embeds no images"},
			status{exitPartial, "the results were printed, and some files failed in the index update (each is reported) or a folder could not be read"},
			status{exitInterrupted, "interrupted: what the index update embedded is saved"},
		),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.needModel(opts.Model); err != nil {
				return err
			}
			return runSearch(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
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
	if len(opts.Queries)+len(opts.Images) == 0 {
		return errors.New("nothing to search for: give --query TEXT or --image FILE")
	}
	if opts.JSON && opts.Paths {
		return errors.New("--json and --paths are two output formats: choose one")
	}
	queries, err := index.ParseQueries(opts.Queries, opts.Images)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	if opts.NoUpdate {
		// Searching the index as it is: there must be one, and none is made.
		file, _, err := index.Locate(args, opts.Index)
		if err != nil {
			return err
		}
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--no-update: there is no index for %s (looked for %s); make one with `hybridembed index %s`, or search without --no-update", strings.Join(args, ", "), file, strings.Join(args, " "))
		}
	}
	// The queries first: one that is not an image (or fails) stops the
	// search before the index is opened, made or updated.
	lib, err := g.openLibrary(ctx, flags, opts.indexOptions, args, func(m *hybridembed.Model) error {
		return index.EmbedQueries(ctx, m, queries)
	})
	if err != nil {
		return err
	}
	defer lib.Close()
	ix, m, im := lib.ix, lib.m, lib.im
	partial := false
	if !opts.NoUpdate {
		st, err := updateIndex(ctx, g, lib, args, opts.RetryFailed, true, opts.walk())
		if err != nil {
			return err
		}
		partial = st.Failed > 0
	}
	mat, err := ix.Load(ctx, im, args)
	if err != nil {
		return err
	}
	if mat.Len() == 0 {
		// Nothing to rank: an empty answer would read as "no match".
		how := "index them with `hybridembed index " + strings.Join(args, " ") + "`"
		if !opts.NoUpdate {
			how = "see the messages above for why none was embedded"
		}
		return fmt.Errorf("the index %s has no vectors under %s for model %s: %s", ix.Path(), strings.Join(args, ", "), m.Name(), how)
	}
	show := displayPaths(ix, args)
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	var pages []gallery.Section
	for _, q := range queries {
		found, err := mat.Search(q.Vector, opts.Top, float32(opts.Threshold))
		if err != nil {
			return err
		}
		hits := make([]hit, len(found))
		page := gallery.Section{Query: q.Label}
		for i, h := range found {
			rel := mat.Paths[h.Row]
			hits[i] = hit{show(rel), float64(h.Score)}
			page.Results = append(page.Results, gallery.Result{Path: hits[i].Path, File: ix.Abs(rel), Score: hits[i].Score})
		}
		pages = append(pages, page)
		switch {
		case opts.JSON:
			if err := json.NewEncoder(g.stdout).Encode(struct {
				Query   string `json:"query"`
				Model   string `json:"model"`
				Results []hit  `json:"results"`
			}{q.Label, m.Name(), hits}); err != nil {
				return err
			}
		case opts.Paths:
			for _, h := range hits {
				fmt.Fprintln(g.stdout, h.Path)
			}
		default:
			fmt.Fprintf(tw, "%q\n", q.Label)
			for _, h := range hits {
				fmt.Fprintf(tw, "  %.4f\t%s\n", h.Score, h.Path)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if opts.HTML != "" {
		title := fmt.Sprintf("hybridembed search: %s (%s)", strings.Join(args, ", "), opts.Model)
		if err := gallery.WriteFile(opts.HTML, title, pages, 0); err != nil {
			return fmt.Errorf("--html %s: %w", opts.HTML, err)
		}
		fmt.Fprintf(g.stderr, "gallery written to %s\n", opts.HTML)
	}
	if partial {
		return errPartial
	}
	return nil
}

// displayPaths shows stored paths as the user would write them: relative
// to the working folder when the PATHs given were relative, else absolute.
func displayPaths(ix *index.Index, args []string) func(rel string) string {
	cwd, err := os.Getwd()
	relative := err == nil && !filepath.IsAbs(args[0])
	return func(rel string) string {
		abs := ix.Abs(rel)
		if relative {
			if r, err := filepath.Rel(cwd, abs); err == nil {
				return r
			}
		}
		return abs
	}
}
