package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryBudgetRules: bodies are refused beyond the budget less the
// decode reserve, or beyond what is free; decodes wait in arrival order,
// a cancelled wait takes nothing and lets the next through, and a decode
// larger than the reserve is clamped to it rather than waiting for ever.
func TestMemoryBudgetRules(t *testing.T) {
	m := newMemory(100, 40)
	assert.True(t, m.tryBody(50))
	assert.False(t, m.tryBody(11), "bodies leave the reserve")
	assert.True(t, m.tryBody(10))
	assert.Equal(t, int64(60), m.inUse())

	ctx := context.Background()
	require.NoError(t, m.acquireDecode(ctx, 30)) // 90

	order := make(chan int, 3)
	waitCtx, cancel := context.WithCancel(ctx)
	go func() {
		if m.acquireDecode(ctx, 40) == nil { // clamped: the reserve
			order <- 1
		}
	}()
	time.Sleep(20 * time.Millisecond)
	cancelled := make(chan error, 1)
	go func() { cancelled <- m.acquireDecode(waitCtx, 5) }()
	go func() {
		time.Sleep(40 * time.Millisecond)
		if m.acquireDecode(ctx, 5) == nil {
			order <- 3
		}
	}()
	time.Sleep(80 * time.Millisecond)
	assert.Empty(t, order, "5 bytes are free, but the first decode in line needs 40: the others wait behind it")
	cancel()
	assert.ErrorIs(t, <-cancelled, context.Canceled)

	m.releaseDecode(30) // 60 in use: the first fits (100), the third not yet
	assert.Equal(t, 1, <-order)
	time.Sleep(20 * time.Millisecond)
	assert.Empty(t, order)
	m.releaseBody(10) // 90: now it does
	assert.Equal(t, 3, <-order)
	assert.Equal(t, int64(50+40+5), m.inUse())
	m.releaseDecode(40)
	m.releaseDecode(5)
	m.releaseBody(50)
	assert.Zero(t, m.inUse())
	assert.Zero(t, m.waiters.Len())

	// Decodes may fill what bodies leave; a body must then wait its turn.
	require.NoError(t, m.acquireDecode(ctx, 40))
	require.NoError(t, m.acquireDecode(ctx, 40))
	assert.False(t, m.tryBody(30), "only 20 bytes are free")
	assert.True(t, m.tryBody(20))
}
