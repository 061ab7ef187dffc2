package local

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSessionSpinning: image towers never spin (they share the cores with
// the decoders); text towers spin for throughput unless QuietTexts asks
// them to give the cores back as each call returns.
func TestSessionSpinning(t *testing.T) {
	tests := []struct {
		name        string
		quiet       bool
		sharesCores bool
		want        bool
	}{
		{"text tower", false, false, false},
		{"text tower, quiet", true, false, true},
		{"image tower", false, true, true},
		{"image tower, quiet", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(Options{QuietTexts: tt.quiet, Threads: 4})
			defer e.Close()
			got := e.sessionOptions(1, tt.sharesCores)
			assert.Equal(t, tt.want, got.NoSpinning)
			assert.Equal(t, 4, got.Threads)
			assert.Equal(t, 2, e.sessionOptions(2, tt.sharesCores).Threads, "two runs share the threads")
		})
	}
}
