package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRemaining(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		elapsed     time.Duration
		want        time.Duration
		ok          bool
	}{
		{0, 100, time.Second, 0, false},
		{10, 100, 2 * time.Second, 18 * time.Second, true},
		{1, 3601, time.Second, time.Hour, true},
		{50, 100, 500 * time.Millisecond, time.Second, true}, // rounds half up
		{100, 100, time.Minute, 0, true},
		{120, 100, time.Minute, 0, true}, // a total that grew late
	} {
		got, ok := remaining(tc.done, tc.total, tc.elapsed)
		assert.Equal(t, tc.ok, ok, "%+v", tc)
		assert.Equal(t, tc.want, got, "%+v", tc)
	}
}
