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
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridembed/hybridembed"
)

// Exit statuses; every command's help lists them.
const (
	exitOK          = 0
	exitFatal       = 1
	exitPartial     = 3
	exitInterrupted = 130
)

const exitStatusHelp = `
EXIT STATUS
  0    every input was embedded
  1    nothing was done, or nothing embedded: bad flags, a PATH that is not
       there, no images, unusable model, model not cached, every input failed
  3    some inputs failed (each is reported); the others were embedded; for
       index and search, also a folder that could not be read (its rows kept)
  130  interrupted`

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
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errPartial):
		return exitPartial
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "hybridembed: interrupted")
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "hybridembed: %v\n", err)
	return exitFatal
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "hybridembed",
		Short: "Embed images and text, locally or through the Hugging Face router",
		Long: `hybridembed turns images and text into embedding vectors. Text models the
Hugging Face router serves are sent there; CLIP models, images and anything the
router does not serve run on this machine through ONNX Runtime. It works fully
offline from the local Hugging Face cache.` + "\n" + envHelp + exitStatusHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       hybridembed.Version,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	g.AddFlags(root)
	root.AddCommand(newEmbedCommand(g), newTextCommand(g), newSearchCommand(g), newIndexCommand(g), newServeCommand(g), newDatasetCommand(g), newModelsCommand(g), newResolveCommand(g), newDoctorCommand(g))
	return root
}
