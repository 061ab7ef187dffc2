package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
)

func newModelsCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Manage models in the local Hugging Face cache",
		Long: `Manage models in the local Hugging Face cache ($HF_HUB_CACHE, else
$HF_HOME/hub, else ~/.cache/huggingface/hub), which Python's huggingface_hub
reads and writes too. A MODEL is a Hugging Face id (org/name, optionally
@revision) or, where it makes sense, a model folder (list, path, verify; export
as ORG/NAME=DIR; add puts a folder in the cache under an id).

EXIT STATUS
  Each command's help lists its own ('hybridembed models verify --help').`,
	}
	cmd.AddCommand(newModelsPullCommand(g), newModelsListCommand(g), newModelsVerifyCommand(g),
		newModelsRmCommand(g), newModelsPathCommand(g), newModelsExportCommand(g), newModelsImportCommand(g),
		newModelsAddCommand(g))
	return cmd
}

// isFolder reports whether name is a folder here (a model folder, where a
// command expects an id).
func isFolder(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.IsDir()
}

func newModelsPathCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "path MODEL[@REVISION]",
		Short: "Print the folder a model's files are in (a cached model's snapshot)",
		Long: `Print the folder MODEL's files are in: a cached model's snapshot folder, or a
model folder's absolute path.` + "\n" + exitHelp(
			status{exitOK, "the folder was printed"},
			status{exitFatal, "the model is not cached, or not a model"},
		),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.model = args[0]
			emb, err := g.embedder(cmd.Flags())
			if err != nil {
				return err
			}
			defer emb.Close()
			m, err := modelHere(cmd.Context(), emb, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, m.Info().Dir)
			return nil
		},
	}
}

type listOptions struct{ Known bool }

func newModelsListCommand(g *globalOptions) *cobra.Command {
	var opts listOptions
	cmd := &cobra.Command{
		Use:   "list [--known] [MODEL...]",
		Short: "List cached models, the models hybridembed knows, or the models named",
		Long: `List the models in the cache with their revisions and sizes; --known lists the
models hybridembed knows by name (their family, vector size, parameters and
approximate fp32 download size), cached or not; MODEL... describes the models
named (cached ids or model folders).` + "\n" + exitHelp(
			status{exitOK, "the list was printed (an empty cache too)"},
			status{exitFatal, "the cache could not be read, or a MODEL named is not cached or not a model"},
		),
		RunE: func(cmd *cobra.Command, args []string) error {
			emb, err := g.embedder(cmd.Flags())
			if err != nil {
				return err
			}
			defer emb.Close()
			switch {
			case opts.Known && len(args) > 0:
				return errors.New("--known lists every known model: give no MODEL with it")
			case opts.Known:
				return listKnown(g, emb)
			case len(args) > 0:
				return listNamed(cmd.Context(), g, emb, args)
			}
			return listCached(g, emb)
		},
	}
	cmd.Flags().BoolVar(&opts.Known, "known", false, "list the models hybridembed knows by name")
	return cmd
}

func listCached(g *globalOptions, emb *hybridembed.Embedder) error {
	repos, err := emb.CachedModels()
	if err != nil {
		return err
	}
	if len(repos) == 0 {
		fmt.Fprintf(g.stderr, "no models in the cache (%s).\n"+
			"  hybridembed models pull openai/clip-vit-base-patch32   fetch one (see `hybridembed models list --known`)\n"+
			"  hybridembed models add ORG/NAME DIR                    add a model folder\n"+
			"  hybridembed models import BUNDLE                       add the models of a bundle\n", emb.Settings().HubCache)
		return nil
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, strings.Join(refs, ","), humanBytes(r.Size), r.KnownAs)
	}
	return tw.Flush()
}

func listKnown(g *globalOptions, emb *hybridembed.Embedder) error {
	cached := map[string]bool{}
	if repos, err := emb.CachedModels(); err == nil {
		for _, r := range repos {
			cached[r.ID], cached[r.KnownAs] = true, true
		}
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tFAMILY\tDIM\tPARAMS\tSIZE (fp32)\tVARIANTS\tCACHED")
	for _, k := range hybridembed.KnownModels() {
		params, size := "-", "-"
		if k.Params > 0 {
			params = fmt.Sprintf("%.0fM", float64(k.Params)/1e6)
			if k.Params < 100e6 {
				params = fmt.Sprintf("%.1fM", float64(k.Params)/1e6)
			}
			size = "~" + humanBytes(4*k.Params)
		}
		here := "no"
		if cached[k.ID] || cached[k.Repo] {
			here = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", k.ID, k.Family, k.Dim, params, size, strings.Join(k.Variants, ","), here)
	}
	return tw.Flush()
}

// listNamed describes each model named: where its files are, which
// revision, and what it embeds.
func listNamed(ctx context.Context, g *globalOptions, emb *hybridembed.Embedder, names []string) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tREVISION\tFAMILY\tDIM\tEMBEDS\tFILES\tDIR")
	for _, name := range names {
		g.model = name
		m, err := modelHere(ctx, emb, name)
		if err != nil {
			return err
		}
		info := m.Info()
		rev := "(folder)"
		if info.Revision != "" {
			rev = shortCommit(info.Revision)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", name, rev, orDash(info.Family), info.Dim, modalityList(info.Modalities), len(info.Files), info.Dir)
	}
	return tw.Flush()
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
where it stopped on the next pull. A model the Hub does not have (404) stops
the pull at once. Prints each model's snapshot directory.` + "\n" + exitHelp(
			status{exitOK, "every model is in the cache, verified"},
			status{exitFatal, "a model could not be pulled: offline, not on the Hub, no usable ONNX files, refused (gated or private: set HF_TOKEN), a network or checksum failure; the models before it were pulled"},
			status{exitInterrupted, "interrupted: the next pull resumes the files cut short"},
		),
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
		g.model = arg
		if isFolder(arg) {
			return fmt.Errorf("%s is a model folder, on this machine already: use it as --model %s, or put it in the cache with `hybridembed models add ORG/NAME %s`", arg, arg, arg)
		}
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
	info, err := emb.Pull(ctx, name, hybridembed.PullOptions{Progress: func(p hybridembed.PullProgress) {
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
		Short: "Re-hash a model's files against their checksums, and load it",
		Long: `Check each model: a cached model's files are re-read and hashed against the
checksums their blobs are named by (sha256, or git's hash for small files); a
model folder's files, which have no checksums, are read. Then the model is
loaded, as embedding would load it, which finds a graph ONNX Runtime cannot
open.` + "\n" + exitHelp(
			status{exitOK, "every file checks out and every model loads"},
			status{exitFatal, "a MODEL is not cached, or not a model"},
			status{exitPartial, "some files are corrupt or missing, or a model does not load (each is reported, with the commands that fetch it again)"},
		),
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			emb, err := g.embedder(cmd.Flags())
			if err != nil {
				return err
			}
			defer emb.Close()
			var bad []string
			for _, arg := range args {
				g.model = arg
				ok, err := verifyModel(cmd.Context(), g, emb, arg)
				if err != nil {
					return err
				}
				if !ok {
					bad = append(bad, arg)
				}
			}
			if len(bad) > 0 {
				for _, name := range bad {
					if isFolder(name) {
						fmt.Fprintf(g.stderr, "hybridembed: %s does not load: fix or replace the folder's files\n", name)
						continue
					}
					id, _, _ := strings.Cut(name, "@")
					fmt.Fprintf(g.stderr, "hybridembed: %s failed verification; fetch it again: `hybridembed models rm --yes %s && hybridembed models pull %s`\n", name, id, name)
				}
				return errPartial
			}
			return nil
		},
	}
}

// verifyModel checks one model's files and loads it, printing each file's
// status; ok is false when a file or the load failed.
func verifyModel(ctx context.Context, g *globalOptions, emb *hybridembed.Embedder, name string) (ok bool, err error) {
	check, err := emb.VerifyModel(name)
	if err != nil {
		return false, err
	}
	if check.Repo != "" {
		fmt.Fprintf(g.stdout, "%s (%s@%s)\n", name, check.Repo, shortCommit(check.Revision))
	} else {
		fmt.Fprintf(g.stdout, "%s (folder %s)\n", name, check.Dir)
	}
	for _, f := range check.Files {
		fmt.Fprintf(g.stdout, "  %-12s %s\n", f.Status, f.Path)
		if f.Err != nil {
			fmt.Fprintf(g.stderr, "hybridembed: %v\n", f.Err)
		}
	}
	ok = check.Bad() == 0
	// Load what checks out: a corrupt file fails to load, and saying so
	// twice helps nobody.
	if !ok {
		return false, nil
	}
	m, err := emb.Model(ctx, name)
	if err == nil {
		err = m.Load(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		fmt.Fprintf(g.stdout, "  %-12s %v\n", "load failed", err)
		return false, nil
	}
	fmt.Fprintf(g.stdout, "  %-12s the model loads\n", "ok")
	return true, nil
}

type rmOptions struct{ Yes bool }

func newModelsRmCommand(g *globalOptions) *cobra.Command {
	var opts rmOptions
	cmd := &cobra.Command{
		Use:   "rm [--yes] MODEL...",
		Short: "Remove models from the cache",
		Long: `Remove each model's repo from the cache, every revision of it, after asking
(on a terminal) unless --yes; without a terminal, --yes is required. Model
folders are never removed. Refs go first, then each revision whole, then
the files: a removal cut short (a kill) leaves the model not cached, never
half there, and running rm again finishes it.` + "\n" + exitHelp(
			status{exitOK, "the models were removed"},
			status{exitFatal, "nothing more was removed: a MODEL is not cached or is a folder, the answer was no, or there was no terminal to ask on and no --yes"},
		),
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemove(g, cmd.Flags(), opts, args)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "remove without asking")
	return cmd
}

func runRemove(g *globalOptions, flags *pflag.FlagSet, opts rmOptions, args []string) error {
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	repos, err := emb.CachedModels()
	if err != nil {
		return err
	}
	var answers *bufio.Reader
	for _, name := range args {
		g.model = name
		if isFolder(name) {
			return fmt.Errorf("%s is a model folder, not a model in the cache: only cached models are removed", name)
		}
		id, _, _ := strings.Cut(name, "@")
		what := id
		for _, r := range repos {
			if r.ID == id || r.KnownAs == id {
				what = fmt.Sprintf("%s (%s, %s, %d %s)", id, r.ID, humanBytes(r.Size), len(r.Snapshots), plural(len(r.Snapshots), "revision", "revisions"))
				break
			}
		}
		if !opts.Yes {
			if !isTerminal(g.stdin) {
				return fmt.Errorf("not removing %s: there is no terminal to ask on; give --yes to remove it", what)
			}
			if answers == nil {
				answers = bufio.NewReader(g.stdin)
			}
			fmt.Fprintf(g.stderr, "remove %s from the cache? [y/N] ", what)
			line, _ := answers.ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				return fmt.Errorf("%s was not removed", id)
			}
		}
		repo, size, err := emb.RemoveModel(name)
		if errors.Is(err, hybridembed.ErrNotCached) {
			// The not-cached error's advice is a pull: not what a removal wants.
			return fmt.Errorf("%s is not in the cache (%s): nothing to remove; `hybridembed models list` shows what is", id, emb.Settings().HubCache)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "removed %s (%s)\n", repo, humanBytes(size))
	}
	return nil
}

// isTerminal reports whether r is a terminal a question can be asked on.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func newModelsExportCommand(g *globalOptions) *cobra.Command {
	var comp string
	cmd := &cobra.Command{
		Use:   "export BUNDLE (MODEL[@REVISION] | ORG/NAME=DIR)...",
		Short: "Write models to a bundle for air-gapped machines",
		Long: `Write models to BUNDLE, a tar with a manifest of every file's size and sha256,
compressed as its name says: .tar (none), .tar.gz or .tgz (gzip), .tar.zst or
.tzst (zstd); other names are refused. BUNDLE "-" writes to stdout (with
--compression). A MODEL is a cached model; ORG/NAME=DIR carries the model
folder DIR as ORG/NAME, as 'models add' would add it. Carry the bundle across
and run "hybridembed models import BUNDLE" on the other side.` + "\n" + exitHelp(
			status{exitOK, "BUNDLE was written with every model"},
			status{exitFatal, "no BUNDLE was written: a name that does not say tar, a MODEL not cached, a folder that is not a model"},
		),
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(g, cmd.Flags(), comp, args[0], args[1:])
		},
	}
	cmd.Flags().StringVar(&comp, "compression", "", "none, gzip or zstd (default: from the bundle's name, which must agree)")
	return cmd
}

func runExport(g *globalOptions, flags *pflag.FlagSet, comp, bundle string, names []string) error {
	c := hybridembed.Compression(comp)
	switch comp {
	case "", "none", "gzip", "zstd":
	default:
		return flagError("compression", comp, "none, gzip or zstd")
	}
	if bundle != "-" {
		byName, err := hybridembed.BundleCompression(bundle)
		if err != nil {
			return err
		}
		if comp != "" && byName != c {
			return fmt.Errorf("--compression %s, but the name %s says %s: name it for what it is", comp, bundle, byName)
		}
		c = byName
	} else if c == "" {
		c = hybridembed.CompressionNone
	}
	var list []hybridembed.BundleModel
	for _, n := range names {
		name, dir, isDir := strings.Cut(n, "=")
		if isDir && (name == "" || dir == "") {
			return fmt.Errorf("%q: want MODEL or ORG/NAME=DIR", n)
		}
		list = append(list, hybridembed.BundleModel{Name: name, Dir: dir})
	}
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	out, err := openOutput(bundle, g.stdout)
	if err != nil {
		return err
	}
	defer out.Discard()
	if err := emb.ExportModels(out.w, c, list); err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "wrote %s (a tar, compression %s) with %s\n", bundle, c, strings.Join(names, ", "))
	return nil
}

func newModelsImportCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import BUNDLE",
		Short: "Add the models in a bundle to the cache, verifying everything first",
		Long: `Add the models of BUNDLE (written by 'models export') to the cache. Every
entry and checksum is checked before the cache is touched: a bad bundle adds
nothing.` + "\n" + exitHelp(
			status{exitOK, "every model of the bundle is in the cache"},
			status{exitFatal, "nothing was added: BUNDLE is not there, not a bundle, or fails a check"},
		),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isFolder(args[0]) {
				return fmt.Errorf("%s is a folder, not a bundle: to put a model folder in the cache, run `hybridembed models add ORG/NAME %s`", args[0], args[0])
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			emb, err := g.embedder(cmd.Flags())
			if err != nil {
				return err
			}
			defer emb.Close()
			imported, err := emb.ImportModels(f)
			if err != nil {
				return fmt.Errorf("%s: %w (nothing was added to the cache)", args[0], err)
			}
			for _, m := range imported {
				fmt.Fprintf(g.stdout, "imported %s (%s@%s, %d files)\n", m.Name, m.Repo, shortCommit(m.Revision), m.Files)
			}
			return nil
		},
	}
}

type addOptions struct{ Replace bool }

func newModelsAddCommand(g *globalOptions) *cobra.Command {
	var opts addOptions
	cmd := &cobra.Command{
		Use:   "add ORG/NAME DIR",
		Short: "Put a model folder into the cache under a Hugging Face id",
		Long: `Put the model folder DIR into the Hugging Face cache as ORG/NAME, laid out as
huggingface_hub lays out what it downloads: each file in blobs/ under its
sha256, a snapshot of links to them, and refs/main naming it. The revision is a
hash of the files, so adding the same folder again changes nothing and an
edited folder becomes a new revision. Afterwards ORG/NAME works as --model and
with every 'models' command (verify, list, export, rm), offline. Hidden files
and weights in other formats than ONNX (.safetensors, .bin, ...) are left out.
Prints the snapshot folder.` + "\n" + exitHelp(
			status{exitOK, "the folder is in the cache as ORG/NAME"},
			status{exitFatal, "nothing was added: ORG/NAME is not an id, DIR is not a model folder, or ORG/NAME's main revision came from the Hub (--replace replaces it)"},
			status{exitInterrupted, "interrupted: the cache holds no revision of it that is not whole"},
		),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			emb, err := g.embedder(cmd.Flags())
			if err != nil {
				return err
			}
			defer emb.Close()
			a, err := emb.AddModel(cmd.Context(), args[0], args[1], hybridembed.AddOptions{Replace: opts.Replace})
			if err != nil {
				if errors.Is(err, hybridembed.ErrAlreadyCached) {
					return fmt.Errorf("%w; --replace makes the folder its main revision", err)
				}
				return err
			}
			fmt.Fprintln(g.stdout, a.Dir)
			fmt.Fprintf(g.stderr, "added %s: %d files (%s, %s new) at revision %s; use it as --model %s\n",
				a.Name, a.Files, humanBytes(a.Bytes), humanBytes(a.New), shortCommit(a.Revision), a.Name)
			if len(a.Skipped) > 0 {
				fmt.Fprintf(g.stderr, "left out %d %s the engine does not read: %s\n", len(a.Skipped), plural(len(a.Skipped), "file", "files"), strings.Join(a.Skipped, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Replace, "replace", false, "make the folder the main revision of a model pulled from the Hub")
	return cmd
}
