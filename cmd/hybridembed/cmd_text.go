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
)

type textOptions struct {
	Model string
	JSONL bool
}

func (o *textOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Model, "model", "m", "", "model directory or Hugging Face id (required)")
	f.BoolVar(&o.JSONL, "jsonl", false, `read stdin as JSON Lines objects with a "text" field (texts may hold newlines)`)
}

func newTextCommand(g *globalOptions) *cobra.Command {
	var opts textOptions
	cmd := &cobra.Command{
		Use:   "text --model MODEL [flags] [TEXT...]",
		Short: "Embed texts",
		Long: `Embed texts given as arguments, or else read from stdin: one text per line,
or with --jsonl one JSON object per line with a "text" field.

Output is JSON Lines in input order:
  {"text":"...","model":"...","backend":"local","dim":512,"embedding":[...]}
with "provider" (hf-inference, together, ...) on vectors the router made.
A text that cannot be embedded gives {"text":"...","error":"..."} and a line
on stderr, and the run goes on.` + "\n" + exitStatusHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runText(cmd.Context(), opts, g, cmd.Flags(), args)
		},
	}
	opts.AddFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

type textRecord struct {
	Text string `json:"text"`
	Line int    `json:"line,omitempty"`
	vector
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

func runText(ctx context.Context, opts textOptions, g *globalOptions, flags *pflag.FlagSet, args []string) error {
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	out, err := openOutput("", g.stdout)
	if err != nil {
		return err
	}
	next := argTexts(args)
	if len(args) == 0 {
		next = stdinTexts(g.stdin, opts.JSONL)
	}
	failed := 0
	fail := func(rec textRecord, err error) error {
		failed++
		where := rec.Text
		if rec.Line > 0 {
			where = fmt.Sprintf("stdin line %d", rec.Line)
		}
		fmt.Fprintf(g.stderr, "hybridembed: %s: %v\n", where, err)
		rec.Error = err.Error()
		return out.Record(rec)
	}
	for done := false; !done; {
		var chunk []textInput
		for len(chunk) < textChunk {
			in, ok, err := next()
			if err != nil {
				return fmt.Errorf("reading stdin: %w", err)
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
				return err
			}
		}
		k := 0
		for _, in := range chunk {
			rec := textRecord{Text: in.text}
			if in.err != nil {
				rec.Line = in.line
				if err := fail(rec, in.err); err != nil {
					return err
				}
				continue
			}
			if ierr, bad := itemErrs[k]; bad {
				k++
				if err := fail(rec, ierr); err != nil {
					return err
				}
				continue
			}
			rec.vector = vectorOf(embs[k])
			k++
			if err := out.Record(rec); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return errPartial
	}
	return nil
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
			if !jsonl {
				return textInput{text: s, line: line}, true, nil
			}
			if strings.TrimSpace(s) == "" {
				continue
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
