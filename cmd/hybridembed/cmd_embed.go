package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/library"
)

type embedOptions struct {
	Model     string
	Output    string
	MaxPixels int64
}

func (o *embedOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Model, "model", "m", "", "model directory or Hugging Face id (required)")
	f.StringVarP(&o.Output, "output", "o", "", "write JSON Lines to this file instead of stdout")
	f.Int64Var(&o.MaxPixels, "max-pixels", 0, "refuse images with more pixels than this before decoding (default 178956970)")
}

func newEmbedCommand(g *globalOptions) *cobra.Command {
	var opts embedOptions
	cmd := &cobra.Command{
		Use:   "embed --model MODEL [flags] PATH...",
		Short: "Embed image files and folders",
		Long: `Embed images. Each PATH is an image file or a folder, searched recursively for
.jpg .jpeg .png .gif .webp .bmp .tif .tiff files (in sorted order).

Output is JSON Lines, one object per image, in input order:
  {"path":"a.jpg","model":"...","backend":"local","dim":512,"embedding":[...]}
An image that cannot be embedded gives {"path":"b.jpg","error":"..."} and a
line on stderr, and the run goes on.` + "\n" + exitStatusHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEmbed(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

// vector is the part of an output record that describes an embedding, or
// why there is none.
type vector struct {
	Model     string    `json:"model,omitempty"`
	Revision  string    `json:"revision,omitempty"`
	Backend   string    `json:"backend,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Dim       int       `json:"dim,omitempty"`
	Embedding []float32 `json:"embedding,omitempty"`
	Error     string    `json:"error,omitempty"`
}

func vectorOf(e hybridembed.Embedding) vector {
	return vector{Model: e.Model, Revision: e.Revision, Backend: string(e.Backend), Reason: e.Reason, Dim: e.Dim, Embedding: e.Vector}
}

// imageRecord is one line of embed's output.
type imageRecord struct {
	Path string `json:"path"`
	vector
}

func runEmbed(ctx context.Context, opts embedOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	paths, problems := collectImages(args)
	if len(paths) == 0 && len(problems) == 0 {
		return fmt.Errorf("no images found in %s", strings.Join(args, ", "))
	}
	var extra []hybridembed.Option
	if opts.MaxPixels > 0 {
		extra = append(extra, hybridembed.WithMaxPixels(opts.MaxPixels))
	}
	emb, err := g.embedder(flags, extra...)
	if err != nil {
		return err
	}
	defer emb.Close()

	out, err := openOutput(opts.Output, g.stdout)
	if err != nil {
		return err
	}
	defer out.Discard()
	prog := newProgress(g.stderr, len(paths), "embedding")
	defer prog.Finish()

	failed := 0
	report := func(path string, err error) error {
		failed++
		prog.Println(fmt.Sprintf("hybridembed: %s: %v", path, err))
		return out.Record(imageRecord{Path: path, vector: vector{Error: err.Error()}})
	}
	for _, p := range problems {
		if err := report(p.Path, p.Err); err != nil {
			return err
		}
	}
	images := make([]hybridembed.Image, len(paths))
	for i, p := range paths {
		images[i] = hybridembed.ImageFile(p)
	}
	err = emb.EmbedImagesFunc(ctx, opts.Model, images, func(i int, e hybridembed.Embedding, err error) error {
		prog.Add(1)
		if err != nil {
			return report(paths[i], err)
		}
		return out.Record(imageRecord{Path: paths[i], vector: vectorOf(e)})
	})
	if err != nil {
		// An interrupted or failed run never replaces an earlier result.
		if kept := out.Keep(); kept != "" {
			prog.Println(fmt.Sprintf("hybridembed: %s is unchanged; this run's partial output is in %s", opts.Output, kept))
		}
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if failed > 0 {
		prog.Println(fmt.Sprintf("hybridembed: %d of %d images failed", failed, len(paths)+len(problems)))
		return errPartial
	}
	return nil
}

// collectImages expands the arguments into image paths (see
// [library.Walk]); paths that cannot be read are problems, reported like
// failed images.
func collectImages(args []string) ([]string, []library.Problem) {
	files, problems := library.Walk(args)
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	return paths, problems
}

// output is where JSON Lines go: stdout, or a file written under a
// temporary name and renamed into place by Commit, so that a failed run
// never clobbers an earlier result.
type output struct {
	w    *bufio.Writer
	enc  *json.Encoder
	file *os.File
	dest string
	n    int // records written
}

func openOutput(dest string, stdout io.Writer) (*output, error) {
	if dest == "" || dest == "-" {
		w := bufio.NewWriter(stdout)
		return &output{w: w, enc: json.NewEncoder(w)}, nil
	}
	f, err := createTemp(dest)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	return &output{w: w, enc: json.NewEncoder(w), file: f, dest: dest}, nil
}

// createTemp makes a new file beside dest with mode 0666 less the umask,
// as a plain create would (os.CreateTemp's 0600 would leave the result
// unreadable to the group after the rename).
func createTemp(dest string) (*os.File, error) {
	dir, base := filepath.Split(dest)
	for range 100 {
		name := filepath.Join(dir, fmt.Sprintf(".%s.%08x.tmp", base, rand.Uint32()))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("%s: cannot create a temporary file beside it", dest)
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
	f := o.file
	o.file = nil
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), o.dest); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// Keep saves what an unfinished file output holds as DEST.partial, leaving
// DEST alone, and returns that name; "" when there was nothing to keep.
func (o *output) Keep() string {
	if o.file == nil {
		return ""
	}
	if o.n == 0 {
		o.Discard()
		return ""
	}
	f := o.file
	o.file = nil
	partial := o.dest + ".partial"
	if err := errors.Join(o.w.Flush(), f.Close(), os.Rename(f.Name(), partial)); err != nil {
		os.Remove(f.Name())
		return ""
	}
	return partial
}

// Discard drops an uncommitted file output.
func (o *output) Discard() {
	if o.file != nil {
		o.file.Close()
		os.Remove(o.file.Name())
		o.file = nil
	}
}
