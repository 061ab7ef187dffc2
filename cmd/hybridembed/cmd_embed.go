package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

type embedOptions struct {
	Model      string
	Output     string
	MaxPixels  int64
	Format     string
	Shard      string
	Shards     int
	FilesFrom  string
	Chunk      int
	NoDownload bool
	// IncludeHidden walks hidden folders and OS clutter too.
	IncludeHidden bool
}

func (o *embedOptions) AddFlags(f *pflag.FlagSet) {
	modelFlag(f, &o.Model, "model directory or Hugging Face id")
	f.StringVarP(&o.Output, "output", "o", "", "write to this file (jsonl) or folder (parquet, npy) instead of stdout")
	f.Int64Var(&o.MaxPixels, "max-pixels", 0, "refuse images with more pixels than this before decoding (default 178956970)")
	f.StringVar(&o.Format, "format", "jsonl", "output format: jsonl, parquet (a sharded, resumable dataset) or npy (embeddings.npy + paths.txt)")
	f.StringVar(&o.Shard, "shard", "", "process shard K of N (K/N, from 0) of the inputs (default: from $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID)")
	f.IntVar(&o.Shards, "shards", 0, "how many shards in all, with $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's completions)")
	f.StringVar(&o.FilesFrom, "files-from", "", "also read input paths from this file, one per line (- for stdin)")
	f.IntVar(&o.Chunk, "chunk", 4096, "rows per committed Parquet file")
	f.BoolVar(&o.NoDownload, "no-download", false, "fail instead of downloading a model that is not cached")
	addWalkFlags(f, &o.IncludeHidden)
}

// recordHelp documents the fields of a JSON Lines record with a vector.
const recordHelp = `  model      the model as given
  revision   the commit of the cached model's files; null for a model folder
             (and for the router's vectors, unless the model was pinned)
  variant    the ONNX files that made it: fp32, quantized, fp16, ...; null for
             the router's vectors
  digest     a sha256 over every file and setting that decides the vectors
             (see ModelInfo.Digest); null for the router's vectors. Vectors
             agree in model, revision, variant and digest, or should not be
             compared
  backend    local (ONNX Runtime on this machine) or remote (the router)
  provider   the inference provider that made a remote vector (hf-inference,
             together, ...); absent on local ones
  reason     why that backend was used
  dim        the vector's size
  embedding  the vector, L2-normalised
A record whose input failed has the input and "error" instead.`

func newEmbedCommand(g *globalOptions) *cobra.Command {
	var opts embedOptions
	cmd := &cobra.Command{
		Use:   "embed [--model MODEL] [flags] PATH...",
		Short: "Embed image files and folders",
		Long: `Embed images. Each PATH is an image file or a folder, searched recursively for
images (in sorted order; see WHICH FILES).

Output is JSON Lines, one object per image, in input order:
  {"path":"a.jpg","model":"...","revision":"...","variant":"fp32","digest":"...",
   "backend":"local","reason":"...","dim":512,"embedding":[...]}
` + recordHelp + `
An image that cannot be embedded gives {"path":"b.jpg","error":"..."} and a
line on stderr, and the run goes on. With -o FILE the file is written whole
or not at all, and a line on stderr sums the run up.` + "\n" + walkHelp + "\n" + datasetHelp + "\n" + exitHelp(
			status{exitOK, "every image was embedded"},
			status{exitFatal, "nothing was embedded: bad flags, a PATH that is not there, no images, a model that is unusable, not cached or embeds no images, or every image failed; -o FILE or DIR is left as it was"},
			status{exitPartial, "some images failed (each is reported); the others were embedded"},
			status{exitInterrupted, "interrupted: -o FILE is left as it was and this run's records are kept in FILE.partial; a parquet dataset keeps what it committed, and the same command goes on"},
		),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && opts.FilesFrom == "" {
				return fmt.Errorf("give PATH... or --files-from LIST")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.needModel(opts.Model); err != nil {
				return err
			}
			return runEmbed(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// vector is the part of an output record that describes an embedding:
// every field is there, null where it does not apply, so that records of
// quantized and fp32 files, or of two revisions, tell themselves apart.
type vector struct {
	Model     string    `json:"model"`
	Revision  *string   `json:"revision"`
	Variant   *string   `json:"variant"`
	Digest    *string   `json:"digest"`
	Backend   string    `json:"backend"`
	Provider  string    `json:"provider,omitempty"`
	Reason    string    `json:"reason"`
	Dim       int       `json:"dim"`
	Embedding []float32 `json:"embedding"`
}

func vectorOf(e hybridembed.Embedding) *vector {
	v := &vector{Model: e.Model, Revision: orNull(e.Revision), Backend: string(e.Backend), Provider: e.Provider, Reason: e.Reason, Dim: e.Dim, Embedding: e.Vector}
	if e.Backend == hybridembed.BackendLocal {
		variant := e.Variant
		if variant == "" {
			variant = "fp32"
		}
		v.Variant, v.Digest = &variant, orNull(e.Digest)
	}
	return v
}

// orNull is s, or JSON's null for "".
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// imageRecord is one line of embed's output: a vector, or an error.
type imageRecord struct {
	Path string `json:"path"`
	*vector
	Error string `json:"error,omitempty"`
}

// output is where JSON Lines go: stdout, or a file written through
// atomicfile and moved into place by Commit, so that a failed run never
// clobbers an earlier result.
type output struct {
	w    *bufio.Writer
	enc  *json.Encoder
	file *atomicfile.File
	n    int // records written
}

func openOutput(dest string, stdout io.Writer) (*output, error) {
	if dest == "" || dest == "-" {
		w := bufio.NewWriter(stdout)
		return &output{w: w, enc: json.NewEncoder(w)}, nil
	}
	f, err := atomicfile.Create(dest)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	return &output{w: w, enc: json.NewEncoder(w), file: f}, nil
}

// Record writes one JSON line; on stdout it is flushed at once, so that
// consumers of a pipe see each record as it is made.
func (o *output) Record(v any) error {
	if err := o.enc.Encode(v); err != nil {
		return err
	}
	o.n++
	if o.file == nil {
		return o.w.Flush()
	}
	return nil
}

// Commit flushes, and moves a file output into place.
func (o *output) Commit() error {
	if err := o.w.Flush(); err != nil {
		return err
	}
	if o.file == nil {
		return nil
	}
	return o.file.Commit()
}

// Keep saves what an unfinished file output holds as DEST.partial, leaving
// DEST alone, and returns that name; "" when there was nothing to keep.
func (o *output) Keep() string {
	if o.file == nil || o.n == 0 {
		o.Discard()
		return ""
	}
	partial := o.file.Path() + ".partial"
	if err := o.w.Flush(); err != nil {
		o.Discard()
		return ""
	}
	if err := o.file.Keep(partial); err != nil {
		return ""
	}
	return partial
}

// Discard drops an uncommitted file output.
func (o *output) Discard() {
	if o.file != nil {
		o.file.Abort()
	}
}
