package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// progress draws a one-line bar on stderr while work runs, and keeps
// messages printed through it from tearing the bar. It draws nothing when
// stderr is not a terminal. Its methods are safe for concurrent use.
type progress struct {
	w       io.Writer
	enabled bool
	total   int
	start   time.Time

	mu    sync.Mutex
	done  int
	bytes bool // counts are bytes: draw them as sizes
	drawn bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(w io.Writer, total int, label string) *progress {
	p := &progress{w: w, total: total, start: time.Now(), stop: make(chan struct{})}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		p.enabled = true
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.mu.Lock()
					p.draw(label)
					p.mu.Unlock()
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// Add records n finished items (or bytes).
func (p *progress) Add(n int) {
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

// AddTotal grows the total as more work becomes known.
func (p *progress) AddTotal(n int) {
	p.mu.Lock()
	p.total += n
	p.mu.Unlock()
}

// Println prints a message line, above the bar.
func (p *progress) Println(a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, a...)
}

// Finish removes the bar.
func (p *progress) Finish() {
	if p.enabled {
		close(p.stop)
		p.wg.Wait()
	}
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progress) draw(label string) {
	const width = 30
	if p.total <= 0 {
		return
	}
	frac := min(float64(p.done)/float64(p.total), 1)
	n := int(frac * width)
	elapsed := time.Since(p.start)
	rate := float64(p.done) / elapsed.Seconds()
	eta := "?"
	if d, ok := remaining(p.done, p.total, elapsed); ok {
		eta = d.String()
	}
	if p.bytes {
		fmt.Fprintf(p.w, "\r\033[K%s [%s%s] %s/%s %s/s ETA %s", label, strings.Repeat("=", n), strings.Repeat(" ", width-n),
			humanBytes(int64(p.done)), humanBytes(int64(p.total)), humanBytes(int64(rate)), eta)
	} else {
		fmt.Fprintf(p.w, "\r\033[K%s [%s%s] %d/%d %.1f/s ETA %s", label,
			strings.Repeat("=", n), strings.Repeat(" ", width-n), p.done, p.total, rate, eta)
	}
	p.drawn = true
}

// remaining estimates the time left from the rate so far, to the second;
// ok is false before anything is done.
func remaining(done, total int, elapsed time.Duration) (d time.Duration, ok bool) {
	if done <= 0 || elapsed <= 0 {
		return 0, false
	}
	perItem := float64(elapsed) / float64(done)
	return time.Duration(perItem * float64(max(total-done, 0))).Round(time.Second), true
}
