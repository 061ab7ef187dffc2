package benchkit

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBestRates: the sides' passes alternate, each side gets one rate,
// and a failing pass stops the measurement with its error.
func TestBestRates(t *testing.T) {
	var order []string
	side := func(name string) Side {
		return Side{Items: 10, Run: func() error { order = append(order, name); return nil }}
	}
	rates, err := BestRates(3, side("raw"), side("ours"))
	require.NoError(t, err)
	assert.Equal(t, []string{"raw", "ours", "raw", "ours", "raw", "ours"}, order, "interleaved")
	require.Len(t, rates, 2)
	for _, r := range rates {
		assert.Positive(t, r)
	}
	boom := errors.New("boom")
	_, err = BestRates(3, Side{Items: 1, Run: func() error { return boom }})
	assert.ErrorIs(t, err, boom)
}
