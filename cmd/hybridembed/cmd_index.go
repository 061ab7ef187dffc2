package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/index"
	"github.com/hybridembed/hybridembed/internal/library"
)

const indexHelp = `
THE INDEX
  The index is a SQLite file, by default LIBRARY/.hybridembed/index.db in the
  folder indexed (or the nearest such file at or above it, as git finds
  .git), so it moves and syncs with the photos; paths in it are relative to
  that folder. --index FILE (or $HYBRIDEMBED_INDEX) puts it elsewhere; paths
  are then relative to FILE's folder. Unchanged files (same size and
  modification time) are not read again; new and changed files are hashed,
  so renamed, moved and duplicated photos reuse their vector. Only files a
  complete walk no longer finds are purged: a PATH that is not there stops
  the run (exit 1) before anything changes, and the rows under a folder
  that cannot be read are kept (exit 3). Files that failed are not retried
  until they change (--retry-failed retries them). One index holds vectors
  of several models and never mixes them. A second process updating the
  same index waits.`

type indexOptions struct {
	Model         string
	Index         string
	RetryFailed   bool
	NoDownload    bool
	IncludeHidden bool
}

func (o indexOptions) walk() library.Options { return library.Options{IncludeHidden: o.IncludeHidden} }

func (o *indexOptions) AddFlags(f *pflag.FlagSet) {
	modelFlag(f, &o.Model, "a model that embeds images (CLIP-family): directory or Hugging Face id")
	f.StringVar(&o.Index, "index", os.Getenv("HYBRIDEMBED_INDEX"), "index file (default: LIBRARY/.hybridembed/index.db; $HYBRIDEMBED_INDEX)")
	f.BoolVar(&o.RetryFailed, "retry-failed", false, "embed again the files that failed in earlier runs")
	f.BoolVar(&o.NoDownload, "no-download", false, "fail instead of downloading a model that is not cached")
}

func newIndexCommand(g *globalOptions) *cobra.Command {
	var opts indexOptions
	cmd := &cobra.Command{
		Use:   "index [--model MODEL] [--index FILE] PATH...",
		Short: "Embed a photo library into a persistent index, and keep it current",
		Long: `Embed the images under each PATH into an index, re-reading only what changed
since the last run. Prints a summary on stderr: new, changed, renamed,
unchanged, removed and failed files, and how many were embedded (failed
files are not) or reused. An interrupted run keeps what it embedded: the
same command goes on from there.` + "\n" + indexHelp + "\n" + walkHelp + "\n" + exitHelp(
			status{exitOK, "the index is up to date for PATH"},
			status{exitFatal, "nothing changed: bad flags, a PATH that is not there, no images (no index is made), a model that is unusable, not cached or embeds no images"},
			status{exitPartial, "some files failed (each is reported), or a folder could not be read (its rows are kept); the rest is up to date"},
			status{exitInterrupted, "interrupted: what was embedded is saved, and the same command goes on"},
		),
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.needModel(opts.Model); err != nil {
				return err
			}
			return runIndex(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
	addWalkFlags(cmd.Flags(), &opts.IncludeHidden)
	cmd.AddCommand(newIndexImportCommand(g))
	return cmd
}

func runIndex(ctx context.Context, opts indexOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	lib, err := g.openLibrary(ctx, flags, opts, args, nil)
	if err != nil {
		return err
	}
	defer lib.Close()
	st, err := updateIndex(ctx, g, lib, args, opts.RetryFailed, false, opts.walk())
	if err != nil {
		return err
	}
	if st.New+st.Changed+st.Renamed+st.Unchanged+st.Pending+st.Removed+st.Kept+st.Unsupported+st.Failed == 0 {
		return noImages(args, st.Skipped, "")
	}
	if st.Failed > 0 {
		return errPartial
	}
	return nil
}

// openLib is what index and search work with: the model, its identity in
// the index, and the index.
type openLib struct {
	emb *hybridembed.Embedder
	m   *hybridembed.Model
	im  index.Model
	ix  *index.Index
}

func (l *openLib) Close() {
	l.ix.Close()
	l.emb.Close()
}

// openLibrary resolves the model (downloading it on first use) and opens
// the index for paths. A PATH that cannot be stat'ed fails first, and no
// index is made for paths that hold no image.
//
// ready, when not nil, runs once the model is open and before the index
// is: an error from it leaves no index behind.
func (g *globalOptions) openLibrary(ctx context.Context, flags *pflag.FlagSet, opts indexOptions, paths []string, ready func(*hybridembed.Model) error) (*openLib, error) {
	if err := library.Check(paths); err != nil {
		return nil, err
	}
	file, root, err := index.Locate(paths, opts.Index)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		if ok, skipped := opts.walk().HasImage(paths); !ok {
			return nil, noImages(paths, skipped, " (no index was made)")
		}
	}
	// A search scans the index right after embedding each query: the
	// text tower's threads must not spin through the scan.
	emb, m, err := g.openLocalModel(ctx, flags, opts.Model, !opts.NoDownload, hybridembed.WithQuietTexts(true))
	if err != nil {
		return nil, err
	}
	im, err := indexModel(ctx, m, "an index")
	if err != nil {
		emb.Close()
		return nil, err
	}
	if ready != nil {
		if err := ready(m); err != nil {
			emb.Close()
			return nil, err
		}
	}
	ix, err := index.Open(ctx, file, root)
	if err != nil {
		emb.Close()
		return nil, err
	}
	return &openLib{emb: emb, m: m, im: im, ix: ix}, nil
}

func openIndex(ctx context.Context, paths []string, explicit string) (*index.Index, error) {
	file, root, err := index.Locate(paths, explicit)
	if err != nil {
		return nil, err
	}
	return index.Open(ctx, file, root)
}

// indexModel is the identity an index keys m's vectors on.
func indexModel(ctx context.Context, m *hybridembed.Model, needs string) (index.Model, error) {
	info, err := imageModelInfo(ctx, m, needs)
	return index.ModelOf(info), err
}

// imageModelInfo is m's info, for a model that embeds images, with the
// vector size (index.ImageModelInfo). needs names what needs images
// ("embed", "an index").
func imageModelInfo(ctx context.Context, m *hybridembed.Model, needs string) (hybridembed.ModelInfo, error) {
	return index.ImageModelInfo(ctx, m, needs)
}

func modalityList(ms []hybridembed.Modality) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// updateIndex brings the library's index up to date for paths with a
// progress bar, reports failures as they happen and prints the summary:
// with quiet (search), only when something changed. An interrupted update
// says what it saved.
func updateIndex(ctx context.Context, g *globalOptions, lib *openLib, paths []string, retry, quiet bool, walk library.Options) (index.Stats, error) {
	ix := lib.ix
	var prog *progress
	finish := func() {
		if prog != nil {
			prog.Finish()
		}
	}
	st, err := ix.Update(ctx, lib.im, lib.m, paths, index.UpdateOptions{
		RetryFailed: retry,
		Walk:        walk,
		Waiting: func() {
			fmt.Fprintf(g.stderr, "hybridembed: waiting for another hybridembed to finish updating %s\n", ix.Path())
		},
		Phase: func(name string, total int64) {
			finish()
			prog = newProgress(g.stderr, int(total), name)
			prog.bytes = name == "hashing"
		},
		Step: func(n int64) { prog.Add(int(n)) },
		Failed: func(path string, err error) {
			msg := fmt.Sprintf("hybridembed: %s: %v", path, err)
			if prog != nil {
				prog.Println(msg)
			} else {
				fmt.Fprintln(g.stderr, msg)
			}
		},
	})
	finish()
	if err != nil {
		if ctx.Err() != nil {
			return st, &interrupted{err: err, saved: fmt.Sprintf("%d %s embedded and saved in %s; run the same command again to go on from there",
				st.Embedded, plural(st.Embedded, "image", "images"), ix.Path())}
		}
		return st, err
	}
	changed := st.New + st.Changed + st.Renamed + st.Pending + st.Removed + st.Kept + st.Excluded + st.Failed + st.Embedded
	if quiet && changed == 0 {
		return st, nil
	}
	fmt.Fprintf(g.stderr, "index %s: %d new, %d changed, %d renamed, %d unchanged, ",
		ix.Path(), st.New, st.Changed, st.Renamed, st.Unchanged)
	if st.Pending > 0 {
		fmt.Fprintf(g.stderr, "%d left unembedded by an earlier run, ", st.Pending)
	}
	fmt.Fprintf(g.stderr, "%d removed, %d failed", st.Removed, st.Failed)
	if st.Excluded > 0 {
		fmt.Fprintf(g.stderr, " (%d of the removed are hidden or OS clutter, now skipped: --include-hidden keeps them)", st.Excluded)
	}
	if st.Kept > 0 {
		fmt.Fprintf(g.stderr, " (%d kept as they were: under paths that could not be read)", st.Kept)
	}
	if st.Unsupported > 0 {
		fmt.Fprintf(g.stderr, " (%d kept as they were: photos that cannot be decoded here)", st.Unsupported)
	}
	if st.KnownFailed > 0 {
		fmt.Fprintf(g.stderr, " (and %d that failed before, not retried: --retry-failed)", st.KnownFailed)
	}
	fmt.Fprintf(g.stderr, "; %d embedded, %d reused\n", st.Embedded, st.Reused)
	saySkipped(g.stderr, st.Skipped)
	return st, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
