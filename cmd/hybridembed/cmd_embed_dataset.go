package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/dataset"
	"github.com/hybridembed/hybridembed/internal/library"
)

const datasetHelp = `
DATASETS AND SHARDS
  --format parquet -o DIR writes DIR/part-K-of-N-C.parquet files (columns path,
  key, model, revision, variant, dim, embedding, error, size, mtime, sha256;
  zstd) and DIR/_manifest-K-of-N.json; DuckDB, pyarrow and Spark read the
  folder as is (read_parquet('DIR/*.parquet')). Rows are committed every
  --chunk inputs by renames that never replace a file: rerunning after a
  crash, a lost chunk or a move to another mount skips the inputs whose key
  (the path relative to the folder given) is committed, so every input lands
  once. A rerun with another model, other model files or another --decode is
  refused. --format npy -o DIR writes embeddings.npy (float32, C order) and
  paths.txt, for one machine, and _npy.json, which links them ('dataset
  verify DIR' tells a pair cut short by a crash).

  --shard K/N processes the inputs whose path (relative to the folder given)
  hashes to K, so shards never overlap and adding files moves no others.
  Without it, a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (with
  --shards N) or a Slurm array's SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT
  and SLURM_ARRAY_TASK_MIN say which. --files-from LIST reads inputs, one
  path per line. 'hybridembed dataset verify DIR' checks a dataset.`

// shardOf picks the shard: --shard, else the batch engine's environment.
func shardOf(opts embedOptions, g *globalOptions) (dataset.Shard, error) {
	if opts.Shard != "" {
		s, err := dataset.ParseShard(opts.Shard)
		if err == nil && opts.Shards != 0 && opts.Shards != s.N {
			err = fmt.Errorf("--shard %s and --shards %d disagree", opts.Shard, opts.Shards)
		}
		return s, err
	}
	s, source, ok, err := dataset.FromEnv(os.Getenv, opts.Shards)
	if err != nil || !ok {
		if err == nil && opts.Shards != 0 {
			err = errors.New("--shards N is for Kubernetes Indexed Jobs (with $JOB_COMPLETION_INDEX); give --shard K/N instead")
		}
		return dataset.All, err
	}
	fmt.Fprintf(g.stderr, "hybridembed: shard %s (from %s)\n", s, source)
	return s, nil
}

func runEmbed(ctx context.Context, opts embedOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	switch opts.Format {
	case "jsonl", "parquet", "npy":
	default:
		return fmt.Errorf("--format %q: want jsonl, parquet or npy", opts.Format)
	}
	if opts.Format != "jsonl" && opts.Output == "" {
		return fmt.Errorf("--format %s writes a folder: give it with -o DIR", opts.Format)
	}
	shard, err := shardOf(opts, g)
	if err != nil {
		return err
	}
	if opts.Format == "npy" && shard.N > 1 {
		return errors.New("--format npy is for one machine; shards write --format parquet")
	}
	// A mistyped or unmounted PATH stops the run before anything is
	// written or loaded.
	if err := library.Check(args); err != nil {
		g.sayUnchanged(opts.Output, "")
		return err
	}
	inputs, problems, skipped, err := dataset.Collect(args, opts.FilesFrom, g.stdin, library.Options{IncludeHidden: opts.IncludeHidden})
	if err != nil {
		return err
	}
	if len(inputs) == 0 && len(problems) == 0 {
		return noImages(args, skipped, "")
	}
	saySkipped(g.stderr, skipped)
	mine := dataset.Select(inputs, shard)
	var extra []hybridembed.Option
	if opts.MaxPixels != 0 {
		extra = append(extra, hybridembed.WithMaxPixels(opts.MaxPixels))
	}
	emb, m, err := g.openLocalModel(ctx, flags, opts.Model, !opts.NoDownload, extra...)
	if err != nil {
		return err
	}
	defer emb.Close()
	info, err := imageModelInfo(ctx, m, "embed")
	if err != nil {
		return err
	}
	model := dataset.ModelOf(info)
	// Unreadable paths from the walk: a file is reported by the shard that
	// owns its key, a folder by every shard (any of its files may be one's).
	var mineProblems []library.Problem
	for _, p := range problems {
		if p.In(shard) {
			mineProblems = append(mineProblems, p.Problem)
		}
	}
	if opts.Format == "jsonl" {
		return embedJSONL(ctx, g, m, mine, mineProblems, opts.Output)
	}
	for _, p := range mineProblems {
		fmt.Fprintf(g.stderr, "hybridembed: %s: %v\n", p.Path, p.Err)
	}
	if len(mine) == 0 && len(mineProblems) > 0 {
		g.sayUnchanged(opts.Output, "")
		return nothingEmbedded(len(mineProblems))
	}
	if opts.Format == "parquet" {
		err = embedParquet(ctx, g, m, mine, shard, model, opts)
	} else {
		err = embedNPY(ctx, g, m, mine, len(mineProblems), model, opts.Output)
	}
	if err == nil && len(mineProblems) > 0 {
		err = errPartial
	}
	return err
}

func embedParquet(ctx context.Context, g *globalOptions, m *hybridembed.Model, inputs []dataset.Input, shard dataset.Shard, model dataset.Model, opts embedOptions) error {
	prog := newProgress(g.stderr, len(inputs), "embedding")
	res, err := dataset.Run(ctx, m, inputs, dataset.Options{
		Dir: opts.Output, Shard: shard, Model: model, ChunkRows: opts.Chunk, Tool: "hybridembed " + hybridembed.Version,
		Done:   func() { prog.Add(1) },
		Failed: func(path string, err error) { prog.Println(fmt.Sprintf("hybridembed: %s: %v", path, err)) },
	})
	prog.Finish()
	if errors.Is(err, dataset.ErrNothingEmbedded) || (err != nil && !res.Complete && res.Committed == 0 && res.Embedded == res.Failed) {
		// Nothing was committed (see dataset.Run).
		g.sayUnchanged(opts.Output, "")
		if errors.Is(err, dataset.ErrNothingEmbedded) {
			return nothingEmbedded(res.Failed)
		}
		return err
	}
	fmt.Fprintf(g.stderr, "shard %s: %d inputs; %d already in %s, %d embedded now (%d failed)",
		shard, res.Inputs, res.Committed, opts.Output, res.Embedded, res.Failed)
	if res.Complete {
		fmt.Fprintln(g.stderr, "; complete")
	} else {
		fmt.Fprintln(g.stderr, "; NOT complete: rerun the same command to go on")
	}
	if err != nil {
		return err
	}
	if res.Failed > 0 {
		return errPartial
	}
	return nil
}

// embedNPY writes dir/embeddings.npy and dir/paths.txt once every input is
// done; problems is how many paths failed before (reported by the caller).
func embedNPY(ctx context.Context, g *globalOptions, m *hybridembed.Model, inputs []dataset.Input, problems int, model dataset.Model, dir string) error {
	images := make([]hybridembed.Image, len(inputs))
	for i, in := range inputs {
		images[i] = hybridembed.ImageFile(in.Path)
	}
	prog := newProgress(g.stderr, len(inputs), "embedding")
	var paths []string
	var vecs [][]float32
	failed := 0
	err := m.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, err error) error {
		prog.Add(1)
		if err != nil {
			failed++
			prog.Println(fmt.Sprintf("hybridembed: %s: %v (left out of %s)", inputs[i].Path, err, dir))
			return nil
		}
		paths, vecs = append(paths, inputs[i].Path), append(vecs, e.Vector)
		return nil
	})
	prog.Finish()
	if err != nil {
		g.sayUnchanged(dir, "") // nothing is written: an earlier result stays whole
		return err
	}
	if len(vecs) == 0 && failed+problems > 0 {
		g.sayUnchanged(dir, "")
		return nothingEmbedded(failed + problems)
	}
	if err := dataset.WriteNPY(dir, paths, vecs, model.Dim); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "wrote %d vectors to %s/embeddings.npy and paths.txt\n", len(vecs), strings.TrimRight(dir, "/"))
	if failed+problems > 0 {
		return errPartial
	}
	return nil
}

// embedJSONL writes JSON Lines, one record per input in order, after a
// record for each path that could not be read.
func embedJSONL(ctx context.Context, g *globalOptions, m *hybridembed.Model, inputs []dataset.Input, problems []library.Problem, dest string) error {
	out, err := openOutput(dest, g.stdout)
	if err != nil {
		return err
	}
	defer out.Discard()
	failed, embedded := 0, 0
	for _, p := range problems {
		failed++
		fmt.Fprintf(g.stderr, "hybridembed: %s: %v\n", p.Path, p.Err)
		if err := out.Record(imageRecord{Path: p.Path, Error: p.Err.Error()}); err != nil {
			return err
		}
	}
	images := make([]hybridembed.Image, len(inputs))
	for i, in := range inputs {
		images[i] = hybridembed.ImageFile(in.Path)
	}
	prog := newProgress(g.stderr, len(inputs), "embedding")
	err = m.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, err error) error {
		prog.Add(1)
		if err != nil {
			failed++
			prog.Println(fmt.Sprintf("hybridembed: %s: %v", inputs[i].Path, err))
			return out.Record(imageRecord{Path: inputs[i].Path, Error: err.Error()})
		}
		embedded++
		return out.Record(imageRecord{Path: inputs[i].Path, vector: vectorOf(e)})
	})
	prog.Finish()
	if err != nil {
		g.sayUnchanged(dest, out.Keep())
		return err
	}
	if embedded == 0 && failed > 0 {
		// A typo or a folder of bad files must not replace a good result.
		out.Discard()
		g.sayUnchanged(dest, "")
		return nothingEmbedded(failed)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	switch {
	case out.file != nil && failed > 0:
		fmt.Fprintf(g.stderr, "wrote %d records to %s: %d embedded, %d failed\n", out.n, dest, embedded, failed)
	case out.file != nil:
		fmt.Fprintf(g.stderr, "wrote %d records to %s: every image embedded\n", out.n, dest)
	case failed > 0:
		fmt.Fprintf(g.stderr, "hybridembed: %d of %d images failed\n", failed, len(inputs)+len(problems))
	}
	if failed > 0 {
		return errPartial
	}
	return nil
}

// sayUnchanged tells that a run left its output DEST as it was (when it
// writes one), and where what it made is kept when partial is not "":
// what every run that does not finish says, after its cause.
func (g *globalOptions) sayUnchanged(dest, partial string) {
	if dest == "" || dest == "-" {
		return
	}
	said := "is unchanged"
	if _, err := os.Lstat(dest); errors.Is(err, os.ErrNotExist) {
		said = "was not made"
	}
	if partial != "" {
		g.outputNotes = append(g.outputNotes, fmt.Sprintf("%s %s; this run's partial output is in %s", dest, said, partial))
	} else {
		g.outputNotes = append(g.outputNotes, fmt.Sprintf("%s %s", dest, said))
	}
}

// nothingEmbedded is the error of a run in which every input failed: a
// failed run (exit status 1), not a partial one.
func nothingEmbedded(failed int) error {
	if failed == 1 {
		return errors.New("nothing was embedded: the one input failed (reported above)")
	}
	return fmt.Errorf("nothing was embedded: all %d inputs failed (each is reported above)", failed)
}
