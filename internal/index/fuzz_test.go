package index

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// formatQuery writes terms back as a query string, every weight spelled
// out, for ParseQuery to read again.
func formatQuery(terms []Term) string {
	var b strings.Builder
	for i, t := range terms {
		neg := math.Signbit(t.Weight)
		switch {
		case i == 0 && neg:
			b.WriteString("- ")
		case neg:
			b.WriteString(" - ")
		case i > 0:
			b.WriteString(" + ")
		}
		b.WriteString(strconv.FormatFloat(math.Abs(t.Weight), 'f', -1, 64))
		b.WriteString(":")
		b.WriteString(t.Text + t.Image)
	}
	return b.String()
}

// FuzzParseQuery parses combined queries ("2:beach + ./me.jpg - people").
// It must not panic; a query that parses has terms that are each a text
// or an image (as isImage says), trimmed and non-empty, with a finite
// weight; and written back with formatQuery it must parse to the same
// terms.
func FuzzParseQuery(f *testing.F) {
	isImage := func(s string) bool { return strings.HasSuffix(s, ".jpg") }
	f.Fuzz(func(t *testing.T, q string) {
		terms, err := ParseQuery(q, isImage)
		if err != nil {
			return
		}
		if len(terms) == 0 {
			t.Fatalf("%q: no terms and no error", q)
		}
		for i, term := range terms {
			part := term.Text + term.Image
			switch {
			case (term.Text == "") == (term.Image == ""):
				t.Fatalf("%q: term %d has text %q and image %q", q, i, term.Text, term.Image)
			case (term.Image != "") != isImage(part):
				t.Fatalf("%q: term %d (%q) is an image: %v", q, i, part, term.Image != "")
			case strings.TrimFunc(part, unicode.IsSpace) != part:
				t.Fatalf("%q: term %d (%q) is not trimmed", q, i, part)
			case math.IsNaN(term.Weight) || math.IsInf(term.Weight, 0):
				t.Fatalf("%q: term %d has weight %v", q, i, term.Weight)
			}
		}
		again, err := ParseQuery(formatQuery(terms), isImage)
		if err != nil {
			t.Fatalf("%q parsed as %v; written back as %q it does not parse: %v", q, terms, formatQuery(terms), err)
		}
		if len(again) != len(terms) {
			t.Fatalf("%q parsed as %v; written back as %q it parses as %v", q, terms, formatQuery(terms), again)
		}
		for i := range terms {
			if again[i] != terms[i] || math.Signbit(again[i].Weight) != math.Signbit(terms[i].Weight) {
				t.Fatalf("%q parsed as %v; written back as %q it parses as %v", q, terms, formatQuery(terms), again)
			}
		}
	})
}
