package hybridembed

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hybridembed/hybridembed/models"
)

// Errors callers branch on, matched with errors.Is.
var (
	// ErrNotCached: the model is not on this machine (and the network was
	// not asked, or could not help). The message names the command that
	// fetches it.
	ErrNotCached = models.ErrNotCached
	// ErrNoModality: the model cannot embed that kind of input (a text-only
	// model asked for images, or the reverse).
	ErrNoModality = errors.New("model does not embed this kind of input")
	// ErrClosed: the Embedder was closed.
	ErrClosed = errors.New("hybridembed: embedder closed")
)

// InputError is the failure of one input in a batch, naming it.
type InputError struct {
	Index  int    // position in the call's input slice
	Source string // file path, reader name or text excerpt
	Err    error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// PartialError reports the inputs that failed when others succeeded (or
// could have): the results of the others are valid.
type PartialError struct {
	Failed []*InputError
	Total  int
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d inputs failed", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-3)
			break
		}
		b.WriteString("; " + f.Error())
	}
	return b.String()
}

// Unwrap exposes each input's error to errors.Is and errors.As.
func (e *PartialError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

func partial(failed []*InputError, total int) error {
	if len(failed) == 0 {
		return nil
	}
	return &PartialError{Failed: failed, Total: total}
}
