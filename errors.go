package hybridembed

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/remote"
)

// Errors callers branch on, matched with errors.Is. They are the only
// ones a caller needs: the lower packages' errors wrap or are these.
var (
	// ErrNotCached: the model is not on this machine (and the network was
	// not asked, or could not help). The message names the command that
	// fetches it.
	ErrNotCached = models.ErrNotCached
	// ErrNotFound: the Hub has no such model (404), or not at that
	// revision: nothing was downloaded, and asking again will not help.
	ErrNotFound = models.ErrNotFound
	// ErrInvalidModel: the name is neither a model folder here nor a
	// Hugging Face id ("org/name").
	ErrInvalidModel = models.ErrInvalidID
	// ErrAlreadyCached: [Embedder.AddModel] would replace the main
	// revision of a model that came from elsewhere (the Hub).
	ErrAlreadyCached = models.ErrAlreadyCached
	// ErrNoModality: the model cannot embed that kind of input (a text-only
	// model asked for images, or the reverse).
	ErrNoModality = errors.New("model does not embed this kind of input")
	// ErrClosed: the Embedder was closed (also returned by calls that Close
	// cut short).
	ErrClosed = errors.New("hybridembed: embedder closed")
	// ErrAuth: the router or the Hub refused the token (401/403), a gated
	// or private repo included.
	ErrAuth = remote.ErrUnauthorized
	// ErrUnavailable: the router failed (after retries) and the model is
	// not cached locally either.
	ErrUnavailable = errors.New("neither the router nor a local copy could embed it")
	// ErrOffline: the call needed the network, and offline mode forbids it.
	ErrOffline = models.ErrOffline
	// ErrCUDAUnavailable: device cuda was asked for and CUDA cannot be used.
	ErrCUDAUnavailable = ort.ErrCUDAUnavailable
	// ErrImageTooLarge: an image is over the pixel limit (see
	// WithMaxPixels); it was refused before its pixels were decoded.
	ErrImageTooLarge = imageprep.ErrTooLarge
	// ErrImageUnsupported: not an image format (or variant of one) that
	// hybridembed decodes.
	ErrImageUnsupported = errors.New("unsupported image")
	// ErrImageCorrupt: the image is corrupt, truncated or empty.
	ErrImageCorrupt = errors.New("corrupt image")
)

// imageErr classifies an image's failure for errors.Is without changing
// its message.
type imageErr struct{ err error }

func (e imageErr) Error() string { return e.err.Error() }
func (e imageErr) Unwrap() error { return e.err }
func (e imageErr) Is(target error) bool {
	switch target {
	case ErrImageUnsupported:
		return errors.Is(e.err, imageprep.ErrUnknown) || errors.Is(e.err, imageprep.ErrUnsupported)
	case ErrImageCorrupt:
		return errors.Is(e.err, imageprep.ErrCorrupt) || errors.Is(e.err, imageprep.ErrEmpty)
	}
	return false
}

func imageError(err error) error {
	if err == nil {
		return nil
	}
	return imageErr{err}
}

// NotCachedError says a model is not on this machine and how to get it.
type NotCachedError struct {
	Model string
	// Cache is the Hugging Face cache it was looked for in.
	Cache string
	// Why is why the network could not embed it instead, when it was
	// considered: one clause ("no inference provider serves it").
	Why string
	Err error // the cache's own error
}

// Error says one thing once: the model is not here, why the network did
// not embed it instead, and the command that fetches it.
func (e *NotCachedError) Error() string {
	where := ""
	if e.Cache != "" {
		where = " (" + e.Cache + ")"
	}
	why := ""
	if e.Why != "" {
		why = ", and " + e.Why
	}
	return fmt.Sprintf("model %s is not cached on this machine%s%s; fetch it with `hybridembed models pull %s`", e.Model, where, why, modelID(e.Model))
}

func (e *NotCachedError) Unwrap() error { return e.Err }

// unavailableError is a model the router failed to embed that is not
// cached either: it matches ErrUnavailable and ErrNotCached, and says so
// once, in the NotCachedError's words.
type unavailableError struct{ nc *NotCachedError }

func (e unavailableError) Error() string        { return e.nc.Error() }
func (e unavailableError) Unwrap() error        { return e.nc }
func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }

// unreadableCacheError is a cache that could not be read for a model
// (permissions, a damaged layout): the model may be there, so the message
// names the cause and not `models pull`.
type unreadableCacheError struct {
	model string
	err   error
}

func (e *unreadableCacheError) Error() string {
	return fmt.Sprintf("model %s: %v", e.model, e.err)
}

func (e *unreadableCacheError) Unwrap() error { return e.err }

func isNotCached(err error) bool {
	var nc *NotCachedError
	return errors.As(err, &nc)
}

// LoadError is a model on this machine whose files could not be loaded
// or opened by ONNX Runtime: a damaged, truncated or incomplete file, or
// a graph this runtime cannot run. For a cached model (Cached), verifying
// its files against their checksums tells damage from the rest.
type LoadError struct {
	Model  string // as asked for
	Dir    string // the directory its files are in
	Cached bool   // Dir is a snapshot in the Hugging Face cache
	Err    error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("model %s could not be loaded from %s: %v", e.Model, e.Dir, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

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
