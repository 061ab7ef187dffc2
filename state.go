package hybridembed

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/remote"
)

// stateVersion changes when the meaning of the state file's keys does:
// a file of another version is ignored (version 1 keyed everything by the
// model alone, which let one Hub's or router's answer stand for another's).
const stateVersion = 2

// hubFailureTTL is how long a failed Hub lookup is remembered: a dead or
// hung Hub then costs one wait a minute, not one a call.
const hubFailureTTL = time.Minute

// routerState is what routing remembers between calls and between
// runs, in $HYBRIDEMBED_CACHE/router/state.json: the Hub's provider
// mappings, keyed by Hub URL and model; the (router URL, provider, model)
// deployments a router answered 404 for while another provider of the
// same router answered; and failed Hub lookups, for a minute. Every entry
// has its own time, so that what one Hub or router said never stands for
// another's, and nothing lasts longer than its lifetime.
type routerState struct {
	path string

	mu sync.Mutex
	d  stateData
}

type stateData struct {
	Version int `json:"version"`
	// Mappings: key [mappingKey].
	Mappings map[string]remote.Mapping `json:"mappings"`
	// NotServed: key [notServedKey].
	NotServed map[string]notServed `json:"not_served"`
	// HubFailures: key [hubFailureKey], for the whole Hub (it could not
	// be reached or did not answer in time) or for one model (it answered
	// with an error).
	HubFailures map[string]hubFailure `json:"hub_failures"`
}

type notServed struct {
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

type hubFailure struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	Err   string    `json:"error"`
}

func mappingKey(hub, model string) string { return hub + " " + model }

func notServedKey(router, provider, model string) string {
	return router + " " + provider + " " + model
}

// hubFailureKey is the Hub's own key when model is "".
func hubFailureKey(hub, model string) string {
	if model == "" {
		return hub
	}
	return hub + " " + model
}

func emptyState() stateData {
	return stateData{Version: stateVersion, Mappings: map[string]remote.Mapping{},
		NotServed: map[string]notServed{}, HubFailures: map[string]hubFailure{}}
}

func loadState(path string) *routerState {
	s := &routerState{path: path}
	s.d, _ = readState(path)
	return s
}

// readState reads the file; a missing, corrupt or other-version file
// reads as empty: it is only memory, and asking again is always safe.
func readState(path string) (stateData, bool) {
	d := emptyState()
	if path == "" {
		return d, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return d, false
	}
	var f stateData
	if json.Unmarshal(data, &f) != nil || f.Version != stateVersion {
		return d, false
	}
	for k, v := range f.Mappings {
		d.Mappings[k] = v
	}
	for k, v := range f.NotServed {
		d.NotServed[k] = v
	}
	for k, v := range f.HubFailures {
		d.HubFailures[k] = v
	}
	return d, true
}

// mapping returns the mapping hub gave for model, if younger than ttl.
func (s *routerState) mapping(hub, model string, ttl time.Duration, now time.Time) (remote.Mapping, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.d.Mappings[mappingKey(hub, model)]
	if !ok || now.Sub(m.Fetched) > ttl || m.Fetched.After(now) {
		return remote.Mapping{}, false
	}
	return m, true
}

func (s *routerState) notServed(router, provider, model string, now time.Time) (notServed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.d.NotServed[notServedKey(router, provider, model)]
	return ns, ok && now.Before(ns.Until) && !ns.Since.After(now)
}

// hubFailure is a remembered failure to ask hub about model: the Hub's
// own first, then the model's.
func (s *routerState) hubFailure(hub, model string, now time.Time) (hubFailure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range []string{hubFailureKey(hub, ""), hubFailureKey(hub, model)} {
		if f, ok := s.d.HubFailures[k]; ok && now.Before(f.Until) && !f.Since.After(now) {
			return f, true
		}
	}
	return hubFailure{}, false
}

// forget drops everything remembered about model (with or without an
// @revision), and the failures of hub itself.
func (s *routerState) forget(hub, model string) error {
	model = modelID(model)
	return s.update(func(d *stateData) {
		for k, m := range d.Mappings {
			if m.Model == model || strings.HasSuffix(k, " "+model) {
				delete(d.Mappings, k)
			}
		}
		for k := range d.NotServed {
			if strings.HasSuffix(k, " "+model) {
				delete(d.NotServed, k)
			}
		}
		for k := range d.HubFailures {
			if k == hubFailureKey(hub, "") || strings.HasSuffix(k, " "+model) {
				delete(d.HubFailures, k)
			}
		}
	})
}

// update applies fn to the state and saves it. Under the file's lock (see
// lockFile), the file is read again first and merged, newest entry
// winning, so that another process's
// entries written since this one loaded survive (fn is applied to the
// file's entries too, so that what it deletes stays deleted); entries past
// their lifetime are dropped.
func (s *routerState) update(fn func(*stateData)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.lockFile()()
	if disk, ok := readState(s.path); ok {
		fn(&disk)
		merge(&s.d, disk)
	}
	fn(&s.d)
	prune(&s.d, time.Now())
	return s.saveLocked()
}

// lockFile takes the state file's lock between processes, so that no
// other process writes the file between this one's read and its write
// (that write would drop the other's entries), and returns its release.
// Where it cannot be had (a read-only folder, a file system without
// locks, a holder that does not let go), update goes on without it:
// the file is only memory.
func (s *routerState) lockFile() (unlock func()) {
	if s.path == "" || os.MkdirAll(filepath.Dir(s.path), 0o755) != nil {
		return func() {}
	}
	l := flock.New(s.path + ".lock")
	ctx, cancel := context.WithTimeout(context.Background(), stateLockWait)
	defer cancel()
	if ok, err := l.TryLockContext(ctx, 5*time.Millisecond); err != nil || !ok {
		return func() {}
	}
	return func() { _ = l.Unlock() }
}

// stateLockWait bounds the wait for another process's save.
const stateLockWait = 2 * time.Second

// merge adds other's entries to d where d has none or an older one.
func merge(d *stateData, other stateData) {
	for k, v := range other.Mappings {
		if cur, ok := d.Mappings[k]; !ok || v.Fetched.After(cur.Fetched) {
			d.Mappings[k] = v
		}
	}
	for k, v := range other.NotServed {
		if cur, ok := d.NotServed[k]; !ok || v.Since.After(cur.Since) {
			d.NotServed[k] = v
		}
	}
	for k, v := range other.HubFailures {
		if cur, ok := d.HubFailures[k]; !ok || v.Since.After(cur.Since) {
			d.HubFailures[k] = v
		}
	}
}

// maxMappingAge bounds how long a mapping stays in the file, whatever
// the mapping lifetime of the process that reads it.
const maxMappingAge = 30 * 24 * time.Hour

func prune(d *stateData, now time.Time) {
	for k, v := range d.NotServed {
		if !now.Before(v.Until) {
			delete(d.NotServed, k)
		}
	}
	for k, v := range d.HubFailures {
		if !now.Before(v.Until) {
			delete(d.HubFailures, k)
		}
	}
	for k, v := range d.Mappings {
		if now.Sub(v.Fetched) > maxMappingAge {
			delete(d.Mappings, k)
		}
	}
}

// saveLocked writes through atomicfile, so that concurrent processes
// never read half a file. Memory keeps working where the file cannot be
// written (a read-only home): the error is only reported.
func (s *routerState) saveLocked() error {
	if s.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(s.d, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, data); err != nil {
		return errors.Join(errors.New("routing state not saved"), err)
	}
	return nil
}
