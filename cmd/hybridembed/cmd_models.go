package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/models"
)

func newModelsCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Manage models in the local Hugging Face cache",
		Long: `Manage models in the local Hugging Face cache ($HF_HUB_CACHE, else
$HF_HOME/hub, else ~/.cache/huggingface/hub), which Python's huggingface_hub
reads and writes too.` + "\n" + exitStatusHelp,
	}
	cmd.AddCommand(newModelsPullCommand(g), newModelsListCommand(g), newModelsVerifyCommand(g),
		newModelsRmCommand(g), newModelsPathCommand(g), newModelsExportCommand(g), newModelsImportCommand(g))
	return cmd
}

func newModelsPathCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "path MODEL[@REVISION]",
		Short: "Print the cached snapshot directory of a model",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, rev, _ := strings.Cut(args[0], "@")
			loc, err := models.Cache{}.Locate(id, rev)
			if err != nil {
				if errors.Is(err, models.ErrNotCached) {
					return fmt.Errorf("%w; fetch it with `hybridembed models pull %s`", err, id)
				}
				return err
			}
			fmt.Fprintln(g.stdout, loc.Dir)
			return nil
		},
	}
}

func newModelsListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List cached models",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repos, err := models.Cache{}.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tREVISION\tSIZE\tKNOWN AS")
			for _, r := range repos {
				refs := make([]string, 0, len(r.Refs))
				for name, commit := range r.Refs {
					refs = append(refs, name+"="+shortCommit(commit))
				}
				sort.Strings(refs)
				if len(refs) == 0 {
					for _, s := range r.Snapshots {
						refs = append(refs, shortCommit(s))
					}
				}
				known := ""
				if e, ok := models.Lookup(r.ID); ok && e.ID != r.ID {
					known = e.ID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, strings.Join(refs, ","), humanBytes(r.Size), known)
			}
			return tw.Flush()
		},
	}
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

type pullOptions struct{ Revision string }

func newModelsPullCommand(g *globalOptions) *cobra.Command {
	var opts pullOptions
	cmd := &cobra.Command{
		Use:   "pull MODEL[@REVISION]...",
		Short: "Download models into the cache, verifying every file",
		Long: `Download each model's ONNX graphs and configuration into the Hugging Face
cache, at one commit: known models (openai/clip-vit-base-patch32, ...) from
the repo that holds their ONNX export, others from a usable layout found in
their file list. --variant picks quantized, fp16, ... files. Every file is
checked against the Hub's sha256 (LFS) or git hash; a cut download resumes
where it stopped on the next pull. Prints each model's snapshot directory.` + "\n" + exitStatusHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	cmd.Flags().StringVar(&opts.Revision, "revision", "", "branch, tag or commit (default main; MODEL@REVISION works too)")
	return cmd
}

func runPull(ctx context.Context, opts pullOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	for _, arg := range args {
		name := arg
		if opts.Revision != "" && !strings.Contains(arg, "@") {
			name += "@" + opts.Revision
		}
		info, err := pullModel(ctx, emb, g, name)
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, info.Dir)
	}
	return nil
}

// pullModel downloads name with a progress bar and a line per file on
// stderr, and says where it came from.
func pullModel(ctx context.Context, emb *hybridembed.Embedder, g *globalOptions, name string) (hybridembed.ModelInfo, error) {
	id, _, _ := strings.Cut(name, "@")
	prog := newProgress(g.stderr, 0, "pulling "+id)
	prog.bytes = true
	var mu sync.Mutex
	seen := map[string]int64{}
	var size int64
	info, err := emb.Pull(ctx, name, hybridembed.PullOptions{Progress: func(p models.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := seen[p.File]; !ok && p.Total > 0 {
			prog.AddTotal(int(p.Total))
		}
		prog.Add(int(p.Completed - seen[p.File]))
		seen[p.File] = p.Completed
		if p.Done {
			size += p.Total
			how := "downloaded, verified"
			if p.Cached {
				how = "already cached"
			}
			prog.Println(fmt.Sprintf("  %s (%s, %s)", p.File, humanBytes(p.Total), how))
		}
	}})
	prog.Finish()
	if err != nil {
		return info, err
	}
	fmt.Fprintf(g.stderr, "pulled %s (%s) from %s@%s\n", id, humanBytes(size), info.Repo, shortCommit(info.Revision))
	return info, nil
}

func newModelsVerifyCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify MODEL[@REVISION]...",
		Short: "Re-hash cached model files against their checksums",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, arg := range args {
				id, rev, _ := strings.Cut(arg, "@")
				loc, files, err := models.Cache{}.Verify(id, rev)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s (%s@%s)\n", id, loc.Repo, shortCommit(loc.Commit))
				for _, f := range files {
					fmt.Fprintf(g.stdout, "  %-12s %s\n", f.Status, f.Path)
					if f.Status == "corrupt" || f.Status == "missing" {
						bad++
						fmt.Fprintf(g.stderr, "hybridembed: %v\n", f.Err)
					}
				}
			}
			if bad > 0 {
				fmt.Fprintf(g.stderr, "hybridembed: %d file(s) failed verification; remove and pull the model again (`hybridembed models rm MODEL && hybridembed models pull MODEL`)\n", bad)
				return errPartial
			}
			return nil
		},
	}
}

func newModelsRmCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rm MODEL...",
		Short: "Remove models from the cache",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				repo, size, err := models.Cache{}.Remove(id)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "removed %s (%s)\n", repo, humanBytes(size))
			}
			return nil
		},
	}
}

func newModelsExportCommand(g *globalOptions) *cobra.Command {
	var comp string
	cmd := &cobra.Command{
		Use:   "export BUNDLE MODEL[@REVISION]...",
		Short: "Write cached models to a bundle for air-gapped machines",
		Long: `Write the cached models to BUNDLE, a tar with a manifest of every file's size
and sha256, compressed by its extension (.tar.gz, .tar.zst, or .tar for none).
Carry it across and run "hybridembed models import BUNDLE" on the other side.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := models.Compression(comp)
			if comp == "" {
				c = models.CompressionFor(args[0])
			}
			out, err := openOutput(args[0], g.stdout)
			if err != nil {
				return err
			}
			defer out.Discard()
			if err := (models.Cache{}).Export(out.w, c, args[1:]); err != nil {
				return err
			}
			if err := out.Commit(); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "wrote %s (%s) with %s\n", args[0], c, strings.Join(args[1:], ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&comp, "compression", "", "gzip, zstd or none (default: from the file name)")
	return cmd
}

func newModelsImportCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import BUNDLE",
		Short: "Add the models in a bundle to the cache, verifying everything first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			imported, err := models.Cache{}.Import(f)
			if err != nil {
				return fmt.Errorf("%s: %w (nothing was added to the cache)", args[0], err)
			}
			for _, m := range imported {
				fmt.Fprintf(g.stdout, "imported %s (%s@%s, %d files)\n", m.ID, m.Repo, shortCommit(m.Commit), m.Files)
			}
			return nil
		},
	}
}
