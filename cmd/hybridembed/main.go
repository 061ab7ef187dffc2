// Command hybridembed embeds images and text from the command line; it is a
// thin client of the github.com/hybridembed/hybridembed package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridembed/hybridembed"
)

// The exit statuses: the one table every command's status comes from (run
// maps errors to them). Each command's help lists the ones it can give,
// in its own words (see exitHelp).
const (
	exitOK          = 0   // done
	exitFatal       = 1   // nothing was done, or nothing embedded
	exitPartial     = 3   // some inputs (or files) failed, each reported; the rest was done
	exitInterrupted = 130 // SIGINT or SIGTERM stopped the run
)

// exitTable is the root help's table.
const exitTable = `
EXIT STATUS
  0    done
  1    nothing was done, or nothing embedded: bad flags, a PATH that is not
       there, no images, an unusable or uncached model, every input failed
  3    some inputs or files failed, each reported; the others were done
       (embed, text, index, search, models verify)
  130  interrupted by SIGINT or SIGTERM (serve drains and exits 0 instead)
Each command's help lists the statuses it gives.`

// status is one row of a command's EXIT STATUS section.
type status struct {
	code int
	what string
}

// exitHelp is a command's EXIT STATUS section: the rows that apply to it.
func exitHelp(rows ...status) string {
	var b strings.Builder
	b.WriteString("\nEXIT STATUS\n")
	for _, r := range rows {
		lines := wrap(r.what, 72)
		fmt.Fprintf(&b, "  %-4d %s\n", r.code, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "       %s\n", l)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// wrap breaks s into lines of at most width columns, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// statusInterrupted is the row of commands that stop on a signal with
// nothing more to say about it.
var statusInterrupted = status{exitInterrupted, "interrupted by SIGINT or SIGTERM"}

// errPartial marks a run in which some inputs failed; they were reported
// as they happened.
var errPartial = errors.New("some inputs failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and maps its outcome to an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	// What a run left of its output is said last, after the cause.
	defer func() {
		for _, line := range g.outputNotes {
			fmt.Fprintf(stderr, "hybridembed: %s\n", line)
		}
	}()
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errPartial):
		return exitPartial
	case ctx.Err() != nil:
		var in *interrupted
		if errors.As(err, &in) {
			fmt.Fprintf(stderr, "hybridembed: interrupted: %s\n", in.saved)
		} else {
			fmt.Fprintln(stderr, "hybridembed: interrupted")
		}
		return exitInterrupted
	}
	for _, line := range g.explain(err) {
		fmt.Fprintf(stderr, "hybridembed: %s\n", line)
	}
	return exitFatal
}

// interrupted is a run cut short by a signal, with what it saved.
type interrupted struct {
	saved string // "1540 images embedded and saved; run the same command again to go on"
	err   error
}

func (e *interrupted) Error() string { return e.err.Error() }
func (e *interrupted) Unwrap() error { return e.err }

// explain turns a command's error into the lines printed for it, each
// prefixed once with "hybridembed: ": an option's error names the flag
// (or the config file line) it came from, and hints follow where one
// helps.
func (g *globalOptions) explain(err error) []string {
	msg := strings.TrimPrefix(err.Error(), "hybridembed: ")
	var oe *hybridembed.OptionError
	if errors.As(err, &oe) {
		msg = g.optionMessage(oe)
	}
	lines := []string{msg}
	// A model that is not here, or that the Hub does not have, may be a
	// typo of one that is.
	var nc *hybridembed.NotCachedError
	var de *downloadError
	name, offlineHint := "", false
	switch {
	case errors.As(err, &nc):
		name = nc.Model
	case errors.As(err, &de):
		name = de.model
		offlineHint = !errors.Is(err, hybridembed.ErrNotFound) && !errors.Is(err, hybridembed.ErrAuth) && !errors.Is(err, context.Canceled)
	case errors.Is(err, hybridembed.ErrNotFound) || errors.Is(err, hybridembed.ErrInvalidModel):
		name = g.model
	}
	if name != "" && g.emb != nil {
		if similar := g.emb.SimilarModels(name); len(similar) > 0 {
			lines = append(lines, "did you mean "+orList(similar)+"?")
		}
	}
	if offlineHint {
		lines = append(lines, "with no network, --offline (or HF_HUB_OFFLINE=1) uses only what is cached, without trying the Hub")
	}
	var le *hybridembed.LoadError
	if errors.As(err, &le) && le.Cached {
		lines = append(lines, fmt.Sprintf("its cached files may be damaged: check them with `hybridembed models verify %s`", le.Model))
	}
	return lines
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) > 3 {
		names = names[:3]
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func newRootCommand(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "hybridembed",
		Short: "Embed images and text, locally or through the Hugging Face router",
		Long: `hybridembed turns images and text into embedding vectors. Text models the
Hugging Face router serves are sent there; CLIP models, images and anything the
router does not serve run on this machine through ONNX Runtime. It works fully
offline from the local Hugging Face cache.` + "\n" + configHelp + "\n" + envHelp + "\n" + exitTable,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       hybridembed.Version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.applyDefaults(cmd)
		},
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	g.AddFlags(root)
	root.AddCommand(newEmbedCommand(g), newTextCommand(g), newSearchCommand(g), newIndexCommand(g), newServeCommand(g),
		newDatasetCommand(g), newModelsCommand(g), newResolveCommand(g), newConfigCommand(g), newDoctorCommand(g))
	return root
}
