package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed/internal/dataset"
	"github.com/hybridembed/hybridembed/internal/index"
)

func newDatasetCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Check datasets written by embed --format parquet (or npy)",
		Long: `Check datasets written by 'embed --format parquet' (or --format npy).

EXIT STATUS
  Each command's help lists its own ('hybridembed dataset verify --help').`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify DIR",
		Short: "Check that a dataset is whole: every shard complete, every input once, one model, one size",
		Long: `Check a dataset folder written by 'embed --format parquet': every shard of the
run present and complete, each shard's files matching its manifest, every
input the shard was given in a chunk and none twice (by key: the path relative
to the folder given), one model, vectors of one size. Prints what is missing
and which shard to rerun. A folder written by --format npy is checked for
embeddings.npy and its paths.txt or texts.jsonl being one run's pair (by the
row count and sha256s that _npy.json records).` + "\n" + exitHelp(
			status{exitOK, "the dataset is whole"},
			status{exitFatal, "something is missing or wrong (each problem is printed), or DIR is not a dataset"},
		),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := dataset.Verify(args[0])
			if err != nil {
				return err
			}
			if rep.Format == "npy" {
				fmt.Fprintf(g.stdout, "%s: NPY output; %d rows, dim %d", args[0], rep.Rows, rep.Dim)
				if rep.Labels != "" {
					fmt.Fprintf(g.stdout, ", labelled by %s", rep.Labels)
				}
				fmt.Fprintln(g.stdout)
			} else {
				fmt.Fprintf(g.stdout, "%s: %d of %d shards complete; %d rows (%d failed inputs); model %s", args[0],
					rep.Complete, rep.Shards, rep.Rows, rep.Failed, rep.Model.Name)
				if rep.Model.Revision != "" {
					fmt.Fprintf(g.stdout, "@%s", shortCommit(rep.Model.Revision))
				}
				if rep.Model.Variant != "" {
					fmt.Fprintf(g.stdout, " (%s)", rep.Model.Variant)
				}
				fmt.Fprintf(g.stdout, ", dim %d\n", rep.Dim)
			}
			for _, n := range rep.Notes {
				fmt.Fprintf(g.stdout, "  note: %s\n", n)
			}
			for _, p := range rep.Problems {
				fmt.Fprintf(g.stdout, "  problem: %s\n", p)
			}
			if len(rep.Problems) > 0 {
				return fmt.Errorf("%s is not whole: %d problem(s)", args[0], len(rep.Problems))
			}
			fmt.Fprintln(g.stdout, "  ok: whole")
			return nil
		},
	})
	return cmd
}

type importOptions struct {
	indexOptions
	Rebase string
}

func newIndexImportCommand(g *globalOptions) *cobra.Command {
	var opts importOptions
	cmd := &cobra.Command{
		Use:   "import [--model MODEL] DATASET [LIBRARY]",
		Short: "Load a Parquet dataset (from embed --format parquet) into a library's index",
		Long: `Load the vectors of a dataset built elsewhere (a cluster's embed --format
parquet run) into the index of LIBRARY (default: the current folder), so that
it is searchable here without embedding anything. The dataset must have been
made by MODEL as it is here: the same repo, revision and variant, the same
files (graphs, weights, configs, tokenizer) and the same decode mode.
--rebase OLD=NEW maps the paths as the cluster saw them (OLD prefix) to where
the files are here (NEW); a dataset with rows that are not then under
LIBRARY is refused, so that no row lands where updates and searches of it
never look. Later 'index' and 'search' runs treat imported
files whose size and time match as unchanged.` + "\n" + indexHelp + "\n" + exitHelp(
			status{exitOK, "the dataset's rows are in the index"},
			status{exitFatal, "nothing was imported: bad flags, not a dataset, or a dataset made by another model or other model files"},
			statusInterrupted,
		),
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.needModel(opts.Model); err != nil {
				return err
			}
			return runIndexImport(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.indexOptions.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.Rebase, "rebase", "", "OLD=NEW: replace the path prefix OLD in the dataset with NEW")
	return cmd
}

func runIndexImport(ctx context.Context, opts importOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	dir := args[0]
	lib := "."
	if len(args) > 1 {
		lib = args[1]
	}
	oldPrefix, newPrefix, rebase := strings.Cut(opts.Rebase, "=")
	if opts.Rebase != "" && !rebase {
		return fmt.Errorf("--rebase %q: want OLD=NEW", opts.Rebase)
	}
	rep, err := dataset.Verify(dir)
	if err != nil {
		return err
	}
	if rep.Format == "npy" {
		return fmt.Errorf("%s is an NPY output, which records no model identity and no keys: index import loads Parquet datasets (embed --format parquet)", dir)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(g.stderr, "hybridembed: %s: %s (importing what is committed)\n", dir, p)
	}
	emb, m, err := g.openLocalModel(ctx, flags, opts.Model, !opts.NoDownload)
	if err != nil {
		return err
	}
	defer emb.Close()
	info, err := imageModelInfo(ctx, m, "an index")
	if err != nil {
		return err
	}
	here := dataset.ModelOf(info)
	switch dm := rep.Model; {
	case dm.Key == "":
		return fmt.Errorf("%s was written by an older hybridembed, whose model identity covered the graph files only: it cannot be told whether %s here makes the same vectors; embed the dataset again", dir, opts.Model)
	case dm.Key != here.Key:
		return fmt.Errorf("%s was made by %s, not by %s as it is here: %s", dir, dm.Name, opts.Model, here.Differences(dm))
	}
	rows, err := importRows(dir, func(p string) string {
		if rebase && strings.HasPrefix(p, oldPrefix) {
			return newPrefix + strings.TrimPrefix(p, oldPrefix)
		}
		return p
	})
	if err != nil {
		return err
	}
	if _, err := os.Stat(lib); err != nil {
		return err
	}
	// Rows under no path of the library (another machine's or mount's)
	// would never be found by its updates and searches.
	if n, first, err := index.Outside(rows, lib); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("%s: %d of its %d rows are not under %s (%s, for one): they are paths as the machine that made it saw them; map them to where the files are here with --rebase OLD=NEW (nothing was imported)",
			dir, n, len(rows), lib, first)
	}
	ix, err := openIndex(ctx, []string{lib}, opts.Index)
	if err != nil {
		return err
	}
	defer ix.Close()
	n, err := ix.Import(ctx, index.ModelOf(info), rows)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "imported %d rows from %s into %s\n", n, dir, ix.Path())
	return nil
}

// importRows reads every committed row of a dataset as rows for
// [index.Index.Import], with paths mapped by rebase (the cluster's paths
// to this machine's).
func importRows(dir string, rebase func(string) string) ([]index.Imported, error) {
	var out []index.Imported
	err := dataset.EachRow(dir, func(chunk string, r dataset.Row) error {
		h, err := hex.DecodeString(r.SHA256)
		if err != nil || len(h) != sha256.Size {
			return fmt.Errorf("%s: %s has no valid sha256", chunk, r.Path)
		}
		row := index.Imported{Path: rebase(r.Path), Size: r.Size, Mtime: r.Mtime, Hash: h, Vector: r.Embedding}
		if r.Error != nil {
			row.Err = *r.Error
		}
		out = append(out, row)
		return nil
	})
	return out, err
}
