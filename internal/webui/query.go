package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/index"
)

// query is what a search asks for: text with the CLI's weighted + and -
// terms, a photo of the index to find similar ones to, an image sent by
// the browser, or a combination ("similar to this photo - people").
type query struct {
	Text  string
	Like  string // a photo id
	Image string // sha256 (hex) of an image sent earlier, whose vector is cached
	// upload is the image's bytes, when this request carries it.
	upload []byte
}

func (q query) empty() bool { return strings.TrimSpace(q.Text) == "" && q.Like == "" && q.Image == "" }

// Errors a search can fail with that the client can act on.
var (
	errNoQuery      = errors.New("nothing to search for: type some words, or drop an image on the page")
	errUnknownPhoto = errors.New("that photo is not in the index (any more)")
	errImageExpired = errors.New("the image searched by is no longer remembered: send it again")
	errBusy         = errors.New("too many searches at once: try again in a moment")
	errTooLarge     = errors.New("the image is larger than this server takes")
)

// queryError is a query the client got wrong (400).
type queryError struct{ err error }

func (e *queryError) Error() string { return e.err.Error() }
func (e *queryError) Unwrap() error { return e.err }

// timing is where a search's time went, for the Server-Timing header.
type timing struct{ embed, scan time.Duration }

// vector makes the query's unit vector: the weighted sum of its terms'
// unit vectors (index.Combine), each text term embedded once and
// remembered, a photo's own stored vector, an image embedded once and
// remembered by its hash.
func (u *UI) vector(ctx context.Context, s *snapshot, q query, tm *timing) ([]float32, error) {
	if q.empty() && q.upload == nil {
		return nil, &queryError{errNoQuery}
	}
	var terms []index.Term
	var vecs [][]float32
	var texts []string // text terms not remembered
	var textAt []int
	if strings.TrimSpace(q.Text) != "" {
		// No term is ever an image path: a client names no file.
		parsed, err := index.ParseQuery(q.Text, nil)
		if err != nil {
			return nil, &queryError{err}
		}
		for _, t := range parsed {
			terms = append(terms, t)
			v, ok := u.vectors.Get("t:" + t.Text)
			vecs = append(vecs, v)
			if !ok {
				texts, textAt = append(texts, t.Text), append(textAt, len(vecs)-1)
			}
		}
	}
	if q.Like != "" {
		p := s.byID[q.Like]
		if p == nil {
			return nil, &queryError{errUnknownPhoto}
		}
		terms = append(terms, index.Term{Weight: 1, Text: p.Rel})
		vecs = append(vecs, p.vector(s))
	}
	var image []byte
	imageAt := -1
	switch {
	case q.upload != nil:
		sum := sha256.Sum256(q.upload)
		q.Image = hex.EncodeToString(sum[:])
		fallthrough
	case q.Image != "":
		terms = append(terms, index.Term{Weight: 1, Text: "(image)"})
		v, ok := u.vectors.Get("i:" + q.Image)
		vecs = append(vecs, v)
		if !ok {
			if q.upload == nil {
				return nil, &queryError{errImageExpired}
			}
			image, imageAt = q.upload, len(vecs)-1
		}
	}
	if len(texts) > 0 || image != nil {
		start := time.Now()
		select {
		case u.embeds <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, errBusy
		}
		err := func() error {
			defer func() { <-u.embeds }()
			if len(texts) > 0 {
				embs, err := u.model.EmbedTexts(ctx, texts)
				if err != nil {
					return err
				}
				for i, e := range embs {
					vecs[textAt[i]] = e.Vector
					u.vectors.Add("t:"+texts[i], e.Vector)
				}
			}
			if image != nil {
				// The image's own failure (not an image, too large) is the
				// client's; the run's (a shutdown) is not.
				var bad error
				err := u.model.EmbedImagesFunc(ctx, []hybridembed.Image{hybridembed.ImageReader("the image searched by", bytes.NewReader(image))},
					func(_ int, e hybridembed.Embedding, err error) error {
						if err != nil {
							bad = err
							return nil
						}
						vecs[imageAt] = e.Vector
						u.vectors.Add("i:"+q.Image, e.Vector)
						return nil
					})
				if err != nil {
					return err
				}
				if bad != nil {
					return &queryError{fmt.Errorf("the image searched by: %w", bad)}
				}
			}
			return nil
		}()
		tm.embed = time.Since(start)
		if err != nil {
			return nil, err
		}
	}
	v, err := index.Combine(terms, vecs)
	if err != nil {
		return nil, &queryError{err}
	}
	return v, nil
}

// imageHash is the hash the vector of q's uploaded image is remembered by.
func imageHash(q query) string {
	if q.upload == nil {
		return q.Image
	}
	sum := sha256.Sum256(q.upload)
	return hex.EncodeToString(sum[:])
}
