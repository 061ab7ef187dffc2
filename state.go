package hybridembed

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/remote"
)

// routerState is what the Resolver remembers between runs, on disk under
// hybridembed's cache: Hub provider mappings and models the router 404'd,
// each with an expiry, so repeated CLI runs do not ask again.
type routerState struct {
	path string

	mu        sync.Mutex
	Mappings  map[string]remote.Mapping `json:"mappings"`
	NotServed map[string]notServed      `json:"not_served"`
}

type notServed struct {
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

func loadState(path string) *routerState {
	s := &routerState{path: path, Mappings: map[string]remote.Mapping{}, NotServed: map[string]notServed{}}
	if data, err := os.ReadFile(path); err == nil {
		// A corrupt file is as good as none: it is only a cache.
		_ = json.Unmarshal(data, s)
		if s.Mappings == nil {
			s.Mappings = map[string]remote.Mapping{}
		}
		if s.NotServed == nil {
			s.NotServed = map[string]notServed{}
		}
	}
	return s
}

// mapping returns a cached mapping younger than ttl.
func (s *routerState) mapping(model string, ttl time.Duration, now time.Time) (remote.Mapping, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.Mappings[model]
	if !ok || now.Sub(m.Fetched) > ttl || m.Fetched.After(now) {
		return remote.Mapping{}, false
	}
	return m, true
}

func (s *routerState) notServed(model string, now time.Time) (notServed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.NotServed[model]
	return ns, ok && now.Before(ns.Until)
}

func (s *routerState) update(fn func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
	return s.saveLocked()
}

// saveLocked writes atomically, so that concurrent processes never read
// half a file; the last writer wins, which is fine for a cache.
func (s *routerState) saveLocked() error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path, data)
}
