package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/hybridembed/hybridembed"
)

// Term is one part of a combined query: a text or an image, with a weight
// (negative to steer away from it).
type Term struct {
	Weight float64
	Text   string
	Image  string // a file path; Text is "" then
}

var (
	operator = regexp.MustCompile(`\s+([+-])\s+`)
	weighted = regexp.MustCompile(`(?s)^(\d+(?:\.\d*)?|\.\d+):(.*)$`) // (?s): a term may hold a newline
)

// ParseQuery splits a combined query as rclip writes them: terms joined by
// " + " and " - " (the operators stand alone between spaces, so "t-shirt"
// is one term), each optionally weighted "2:cat" or "0.5:./dog.jpg". A
// term for which isImage is true is an image path. "sunset" is one term
// of weight 1; "2:beach + ./me.jpg - people" is three.
func ParseQuery(s string, isImage func(string) bool) ([]Term, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, " +") || strings.HasSuffix(s, " -") {
		return nil, fmt.Errorf("query %q: an empty term after the last operator", s)
	}
	sign := 1.0
	if rest, ok := strings.CutPrefix(s, "- "); ok {
		sign, s = -1, rest
	}
	var terms []Term
	add := func(part string, sign float64) error {
		part = strings.TrimSpace(part)
		w := 1.0
		if m := weighted.FindStringSubmatch(part); m != nil {
			var err error
			if w, err = strconv.ParseFloat(m[1], 64); err != nil {
				return err
			}
			part = strings.TrimSpace(m[2])
		}
		if part == "" {
			return fmt.Errorf("query %q: an empty term", s)
		}
		t := Term{Weight: sign * w}
		if isImage != nil && isImage(part) {
			t.Image = part
		} else {
			t.Text = part
		}
		terms = append(terms, t)
		return nil
	}
	last := 0
	for _, loc := range operator.FindAllStringSubmatchIndex(s, -1) {
		if err := add(s[last:loc[0]], sign); err != nil {
			return nil, err
		}
		sign = 1
		if s[loc[2]:loc[3]] == "-" {
			sign = -1
		}
		last = loc[1]
	}
	if err := add(s[last:], sign); err != nil {
		return nil, err
	}
	return terms, nil
}

// Combine makes one query vector from the terms' vectors: the weighted sum
// of the unit vectors, normalised. Weights are the terms'.
func Combine(terms []Term, vectors [][]float32) ([]float32, error) {
	if len(terms) == 0 || len(terms) != len(vectors) {
		return nil, errors.New("index: one vector per query term is needed")
	}
	dim := len(vectors[0])
	sum := make([]float64, dim)
	for i, v := range vectors {
		if len(v) != dim {
			return nil, fmt.Errorf("index: query term %d has %d dimensions, not %d", i+1, len(v), dim)
		}
		var norm float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		if norm == 0 {
			continue
		}
		scale := terms[i].Weight / math.Sqrt(norm)
		for j, x := range v {
			sum[j] += scale * float64(x)
		}
	}
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	if norm == 0 {
		return nil, errors.New("index: the query terms cancel out")
	}
	out := make([]float32, dim)
	for j, x := range sum {
		out[j] = float32(x / math.Sqrt(norm))
	}
	return out, nil
}

// Query is one search: what was asked (a -q string or an image path), its
// terms, and once embedded, its vector.
type Query struct {
	Label  string
	Terms  []Term
	Vector []float32
}

// ParseQueries makes queries from query strings (a term naming an existing
// file is an image) and image paths (one image each).
func ParseQueries(texts, images []string) ([]Query, error) {
	isFile := func(s string) bool {
		st, err := os.Stat(s)
		return err == nil && st.Mode().IsRegular()
	}
	var out []Query
	for _, q := range texts {
		terms, err := ParseQuery(q, isFile)
		if err != nil {
			return nil, err
		}
		out = append(out, Query{Label: q, Terms: terms})
	}
	for _, f := range images {
		if !isFile(f) {
			return nil, fmt.Errorf("--image %s: not a readable file", f)
		}
		out = append(out, Query{Label: f, Terms: []Term{{Weight: 1, Image: f}}})
	}
	return out, nil
}

// QueryEmbedder embeds query terms; *hybridembed.Model is one.
type QueryEmbedder interface {
	EmbedTexts(ctx context.Context, texts []string) ([]hybridembed.Embedding, error)
	EmbedImages(ctx context.Context, images []hybridembed.Image) ([]hybridembed.Embedding, error)
}

// EmbedQueries embeds every term (texts in one call, images in another,
// so they batch) and combines each query's terms into its Vector.
func EmbedQueries(ctx context.Context, m QueryEmbedder, queries []Query) error {
	var texts []string
	var images []hybridembed.Image
	for _, q := range queries {
		for _, t := range q.Terms {
			if t.Image != "" {
				images = append(images, hybridembed.ImageFile(t.Image))
			} else {
				texts = append(texts, t.Text)
			}
		}
	}
	var tv, iv []hybridembed.Embedding
	var err error
	if len(texts) > 0 {
		if tv, err = m.EmbedTexts(ctx, texts); err != nil {
			return err
		}
	}
	if len(images) > 0 {
		if iv, err = m.EmbedImages(ctx, images); err != nil {
			return fmt.Errorf("query image: %w", err)
		}
	}
	for qi := range queries {
		q := &queries[qi]
		vecs := make([][]float32, len(q.Terms))
		for i, t := range q.Terms {
			if t.Image != "" {
				vecs[i], iv = iv[0].Vector, iv[1:]
			} else {
				vecs[i], tv = tv[0].Vector, tv[1:]
			}
		}
		if q.Vector, err = Combine(q.Terms, vecs); err != nil {
			return fmt.Errorf("query %q: %w", q.Label, err)
		}
	}
	return nil
}
