package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/dataset"
)

type textOptions struct {
	Model      string
	JSONL      bool
	Output     string
	Format     string
	NoDownload bool
}

func (o *textOptions) AddFlags(f *pflag.FlagSet) {
	modelFlag(f, &o.Model, "model directory or Hugging Face id")
	f.BoolVar(&o.JSONL, "jsonl", false, `read stdin as JSON Lines objects with a "text" field (texts may hold newlines)`)
	f.StringVarP(&o.Output, "output", "o", "", "write to this file (jsonl) or folder (npy) instead of stdout")
	f.StringVar(&o.Format, "format", "jsonl", "output format: jsonl, or npy (-o DIR: embeddings.npy and texts.jsonl)")
	f.BoolVar(&o.NoDownload, "no-download", false, "fail instead of downloading a model that is not cached (when it runs here)")
}

func newTextCommand(g *globalOptions) *cobra.Command {
	var opts textOptions
	cmd := &cobra.Command{
		Use:   "text [--model MODEL] [flags] [TEXT...]",
		Short: "Embed texts",
		Long: `Embed texts given as arguments, or else read from stdin: one text per line,
or with --jsonl one JSON object per line with a "text" field; blank lines are
skipped. Texts the
router serves are sent there; others run here, and a model that runs here and
is not cached is downloaded first (--no-download refuses).

Output is JSON Lines in input order:
  {"text":"...","model":"...","revision":"...","variant":"fp32","digest":"...",
   "backend":"local","reason":"...","dim":512,"embedding":[...]}
` + recordHelp + `
A text that cannot be embedded gives {"text":"...","error":"..."} and a line
on stderr, and the run goes on. -o FILE is written whole or not at all, with
a line on stderr that sums the run up; --format npy -o DIR writes
DIR/embeddings.npy (float32, one row per text that was embedded) and
DIR/texts.jsonl (those texts as JSON strings, one per line, in the same
order), linked by DIR/_npy.json ('dataset verify DIR' checks them).` + "\n" + exitHelp(
			status{exitOK, "every text was embedded"},
			status{exitFatal, "nothing was embedded: bad flags, a model that is unusable or not cached (offline, --no-download), the router refused (auth), or every text failed; -o is left as it was"},
			status{exitPartial, "some texts failed (each is reported); the others were embedded"},
			status{exitInterrupted, "interrupted: -o is left as it was (JSON Lines are kept in FILE.partial)"},
		),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.needModel(opts.Model); err != nil {
				return err
			}
			return runText(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

type textRecord struct {
	Text string `json:"text"`
	Line int    `json:"line,omitempty"`
	*vector
	Error string `json:"error,omitempty"`
}

// textChunk bounds memory on long inputs: texts are embedded and written a
// chunk at a time.
const textChunk = 256

// textInput is one text, or why a line of input gave none.
type textInput struct {
	text string
	line int
	err  error
}

// textSink is where embedded texts go: JSON Lines records, or the vectors
// of an npy folder.
type textSink struct {
	out   *output // JSON Lines (nil for npy)
	texts []string
	vecs  [][]float32
	dim   int
}

func (s *textSink) add(rec textRecord) error {
	if s.out != nil {
		return s.out.Record(rec)
	}
	if rec.vector != nil {
		s.texts, s.vecs, s.dim = append(s.texts, rec.Text), append(s.vecs, rec.Embedding), rec.Dim
	}
	return nil
}

func runText(ctx context.Context, opts textOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	switch opts.Format {
	case "jsonl":
	case "npy":
		if opts.Output == "" || opts.Output == "-" {
			return errors.New("--format npy writes a folder: give it with -o DIR")
		}
	default:
		return flagError("format", opts.Format, "jsonl or npy")
	}
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	// A model that runs here is fetched first; without a download, the
	// embedding call says why it cannot run (and what the router said).
	if !opts.NoDownload && !emb.Settings().Offline {
		if err := g.ensureModel(ctx, emb, opts.Model, true); err != nil {
			return err
		}
	}
	sink := &textSink{}
	if opts.Format == "jsonl" {
		if sink.out, err = openOutput(opts.Output, g.stdout); err != nil {
			return err
		}
		defer sink.out.Discard()
	}
	failed, embedded, err := embedTexts(ctx, opts, g, emb, args, sink)
	if err != nil {
		if sink.out != nil {
			g.sayUnchanged(opts.Output, sink.out.Keep())
		} else {
			g.sayUnchanged(opts.Output, "")
		}
		return err
	}
	if embedded == 0 && failed > 0 {
		g.sayUnchanged(opts.Output, "")
		return nothingEmbedded(failed)
	}
	if sink.out != nil {
		if err := sink.out.Commit(); err != nil {
			return err
		}
	} else if err := dataset.WriteNPYTexts(opts.Output, sink.texts, sink.vecs, sink.dim); err != nil {
		return err
	}
	if opts.Output != "" && opts.Output != "-" {
		what := fmt.Sprintf("%d records to %s", failed+embedded, opts.Output)
		if sink.out == nil {
			what = fmt.Sprintf("%d vectors to %s/embeddings.npy and texts.jsonl", embedded, strings.TrimRight(opts.Output, "/"))
		}
		if failed > 0 {
			fmt.Fprintf(g.stderr, "wrote %s: %d embedded, %d failed\n", what, embedded, failed)
		} else {
			fmt.Fprintf(g.stderr, "wrote %s: every text embedded\n", what)
		}
	}
	if failed > 0 {
		return errPartial
	}
	return nil
}

// embedTexts embeds the texts of args (or stdin) a chunk at a time into
// sink, reporting each failure on stderr.
func embedTexts(ctx context.Context, opts textOptions, g *globalOptions, emb *hybridembed.Embedder, args []string, sink *textSink) (failed, embedded int, err error) {
	next := argTexts(args)
	if len(args) == 0 {
		next = stdinTexts(g.stdin, opts.JSONL)
	}
	fail := func(rec textRecord, err error) error {
		failed++
		where := rec.Text
		if rec.Line > 0 {
			where = fmt.Sprintf("stdin line %d", rec.Line)
		}
		fmt.Fprintf(g.stderr, "hybridembed: %s: %v\n", where, err)
		rec.Error = err.Error()
		return sink.add(rec)
	}
	for done := false; !done; {
		var chunk []textInput
		for len(chunk) < textChunk {
			in, ok, err := next()
			if err != nil {
				return failed, embedded, fmt.Errorf("reading stdin: %w", err)
			}
			if !ok {
				done = true
				break
			}
			chunk = append(chunk, in)
		}
		var texts []string
		for _, in := range chunk {
			if in.err == nil {
				texts = append(texts, in.text)
			}
		}
		var embs []hybridembed.Embedding
		itemErrs := map[int]error{}
		if len(texts) > 0 {
			var perr *hybridembed.PartialError
			embs, err = emb.EmbedTexts(ctx, opts.Model, texts)
			switch {
			case errors.As(err, &perr):
				for _, f := range perr.Failed {
					itemErrs[f.Index] = f.Err
				}
			case err != nil:
				return failed, embedded, err
			}
		}
		k := 0
		for _, in := range chunk {
			rec := textRecord{Text: in.text}
			if in.err != nil {
				rec.Line = in.line
				if err := fail(rec, in.err); err != nil {
					return failed, embedded, err
				}
				continue
			}
			if ierr, bad := itemErrs[k]; bad {
				k++
				if err := fail(rec, ierr); err != nil {
					return failed, embedded, err
				}
				continue
			}
			rec.vector = vectorOf(embs[k])
			k++
			embedded++
			if err := sink.add(rec); err != nil {
				return failed, embedded, err
			}
		}
	}
	return failed, embedded, nil
}

func argTexts(args []string) func() (textInput, bool, error) {
	i := 0
	return func() (textInput, bool, error) {
		if i >= len(args) {
			return textInput{}, false, nil
		}
		i++
		return textInput{text: args[i-1]}, true, nil
	}
}

// stdinTexts yields one text per line, or with jsonl the "text" field of
// one JSON object per line; a line that is not such an object is an
// input error, and reading goes on.
func stdinTexts(r io.Reader, jsonl bool) func() (textInput, bool, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	line := 0
	return func() (textInput, bool, error) {
		for {
			s, err := br.ReadString('\n')
			if s == "" && err != nil {
				if err == io.EOF {
					return textInput{}, false, nil
				}
				return textInput{}, false, err
			}
			line++
			s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
			// A blank line separates texts; it is not one (the server
			// refuses an empty input too).
			if strings.TrimSpace(s) == "" {
				continue
			}
			if !jsonl {
				return textInput{text: s, line: line}, true, nil
			}
			var obj struct {
				Text *string `json:"text"`
			}
			if err := json.Unmarshal([]byte(s), &obj); err != nil {
				return textInput{line: line, err: fmt.Errorf("not a JSON object: %v", err)}, true, nil
			}
			if obj.Text == nil {
				return textInput{line: line, err: errors.New(`object has no "text" string`)}, true, nil
			}
			return textInput{text: *obj.Text, line: line}, true, nil
		}
	}
}
