package server

import (
	"container/list"
	"context"
	"image"
	"image/color"
	"sync"
)

// memory is the server-wide budget of bytes that requests in flight hold:
// their bodies, what is parsed out of them, and the images being decoded.
// It is one budget for every route and model, because memory is one
// resource however the requests divide it.
//
// Bodies are admitted or refused at once (the client gets 429 and comes
// back later); decodes wait for room, in arrival order, since their
// request is already read and paid for. So that waiting decodes can
// never be starved by bodies, bodies together may only hold the budget
// less a reserve that always leaves one image of the largest admitted
// size room to decode; a decode then waits only for other decodes, which
// finish without waiting on anything, so the budget cannot deadlock.
type memory struct {
	mu      sync.Mutex
	limit   int64
	reserve int64     // what bodies leave free for decodes
	used    int64     // by bodies and decodes
	bodies  int64     // by bodies
	waiters list.List // of *waiter, first come first served
}

type waiter struct {
	n     int64
	ready chan struct{} // closed once n is granted
}

func newMemory(limit, reserve int64) *memory {
	reserve = min(reserve, limit)
	return &memory{limit: limit, reserve: reserve}
}

// tryBody takes n bytes for a body, or reports that they do not fit now.
func (m *memory) tryBody(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bodies+n > m.limit-m.reserve || m.used+n > m.limit {
		return false
	}
	m.used += n
	m.bodies += n
	return true
}

// releaseBody gives back what tryBody took.
func (m *memory) releaseBody(n int64) {
	m.mu.Lock()
	m.used -= n
	m.bodies -= n
	m.grant()
	m.mu.Unlock()
}

// decodeCost clamps a decode's cost to what the budget can ever grant.
func (m *memory) decodeCost(n int64) int64 { return min(n, m.reserve) }

// acquireDecode waits until n bytes (see decodeCost) are free for a decode,
// behind every decode that asked before it, or until ctx ends.
func (m *memory) acquireDecode(ctx context.Context, n int64) error {
	n = m.decodeCost(n)
	m.mu.Lock()
	if m.waiters.Len() == 0 && m.used+n <= m.limit {
		m.used += n
		m.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	e := m.waiters.PushBack(w)
	m.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			m.used -= n
		default:
			m.waiters.Remove(e)
		}
		m.grant()
		m.mu.Unlock()
		return ctx.Err()
	}
}

// releaseDecode gives back what acquireDecode(n) took.
func (m *memory) releaseDecode(n int64) {
	m.mu.Lock()
	m.used -= m.decodeCost(n)
	m.grant()
	m.mu.Unlock()
}

// grant wakes the waiting decodes that fit, in order. m.mu is held.
func (m *memory) grant() {
	for e := m.waiters.Front(); e != nil; e = m.waiters.Front() {
		w := e.Value.(*waiter)
		if m.used+w.n > m.limit {
			return
		}
		m.used += w.n
		m.waiters.Remove(e)
		close(w.ready)
	}
}

// inUse is the bytes held now.
func (m *memory) inUse() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// decodeBytes is what decoding an image with this header holds at its
// peak: the decoder's own image (1 to 8 bytes a pixel by format and
// depth) and the RGB copy the preprocessor reads (3 bytes a pixel).
func decodeBytes(cfg image.Config) int64 {
	return int64(cfg.Width) * int64(cfg.Height) * (nativeBytes(cfg.ColorModel) + 3)
}

// nativeBytes is the bytes per pixel of the image a decoder returns for
// a color model; unknown models count as 16-bit RGBA, the largest.
func nativeBytes(cm color.Model) int64 {
	switch cm {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel, color.NYCbCrAModel:
		return 3 // 4:4:4 at most; JPEGs are often less
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := cm.(color.Palette); ok {
		return 4 // GIF frames are composed on an RGBA canvas
	}
	return 8
}
