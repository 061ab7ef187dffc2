package hftest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lfsThreshold: files at least this big, and weights by extension, are
// served as Git LFS files, as the Hub's default .gitattributes does.
const lfsThreshold = 10 << 20

var lfsExts = map[string]bool{".onnx": true, ".onnx_data": true, ".data": true, ".bin": true, ".safetensors": true, ".pt": true, ".h5": true, ".msgpack": true}

type file struct {
	data   []byte
	sha256 string // LFS oid
	gitSHA string // git blob sha1
	lfs    bool
}

type repo struct {
	id     string
	commit string
	refs   map[string]string // branch or tag -> commit
	files  map[string]*file  // path -> file, at commit
	gate   string            // a gated repo: the bearer token it needs
}

// Host serves the files under dir as model repo id at branch main, via the
// resolve, revision and tree APIs, with LFS files redirected to a CDN path
// that honours Range. It returns the commit hash.
func (s *Server) Host(tb testing.TB, id, dir string) string {
	tb.Helper()
	r := &repo{id: id, refs: map[string]string{}, files: map[string]*file{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		r.files[filepath.ToSlash(rel)] = newFile(rel, data)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for n := range r.files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha1.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s %s\n", n, r.files[n].gitSHA)
	}
	r.commit = hex.EncodeToString(h.Sum(nil))
	r.refs["main"] = r.commit
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[id] = r
	return r.commit
}

// Gate makes a hosted repo answer 401 to requests without token.
func (s *Server) Gate(id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[id]; ok {
		r.gate = token
	}
}

// InjectDownload queues faults (ResetMidBody, Slow) for the next file
// contents of model the server sends, from the CDN or the resolve route.
func (s *Server) InjectDownload(model string, faults ...Fault) { s.inject("cdn:"+model, faults) }

// Corrupt replaces a hosted file's bytes while keeping the checksums the
// Hub advertises, as a bad mirror or a flipped bit in transit would.
func (s *Server) Corrupt(id, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.repos[id].files[path]
	bad := append([]byte(nil), f.data...)
	bad[len(bad)/2] ^= 0xff
	f.data = bad
}

func newFile(path string, data []byte) *file {
	s256 := sha256.Sum256(data)
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return &file{data: data, sha256: hex.EncodeToString(s256[:]), gitSHA: hex.EncodeToString(h.Sum(nil)),
		lfs: len(data) >= lfsThreshold || lfsExts[strings.ToLower(filepath.Ext(path))]}
}

func (s *Server) repoFor(id string, w http.ResponseWriter, r *http.Request) (*repo, bool) {
	s.mu.Lock()
	rp, ok := s.repos[id]
	s.mu.Unlock()
	if !ok {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Repository not found"})
		return nil, false
	}
	if rp.gate != "" && r.Header.Get("Authorization") != "Bearer "+rp.gate {
		w.Header().Set("X-Error-Code", "GatedRepo")
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Access to model " + id + " is restricted. You must have access to it and be authenticated to access it. Please log in."})
		return nil, false
	}
	return rp, true
}

// repoAt finds a hosted repo at a revision, answering the request itself
// (404, 401, an injected fault) when it cannot go on.
func (s *Server) repoAt(w http.ResponseWriter, r *http.Request, id, rev string) (*repo, string, bool) {
	rp, ok := s.repoFor(id, w, r)
	if !ok {
		return nil, "", false
	}
	if f, faulty := s.nextFault("hub", id); faulty && s.writeFault(w, r, f, id) {
		return nil, "", false
	}
	commit, ok := rp.resolve(rev)
	if !ok {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Invalid rev id: " + rev})
		return nil, "", false
	}
	return rp, commit, true
}

func (rp *repo) resolve(rev string) (string, bool) {
	if c, ok := rp.refs[rev]; ok {
		return c, true
	}
	return rev, rev == rp.commit
}

// splitRepoPath splits "org/name/rest" into the id and rest, trying the
// hosted ids (ids have one or two segments).
func (s *Server) splitRepoPath(p string) (string, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.SplitN(p, "/", 3)
	if len(parts) >= 2 {
		if _, ok := s.repos[parts[0]+"/"+parts[1]]; ok {
			rest := ""
			if len(parts) == 3 {
				rest = parts[2]
			}
			return parts[0] + "/" + parts[1], rest, true
		}
	}
	if _, ok := s.repos[parts[0]]; ok {
		return parts[0], strings.TrimPrefix(p, parts[0]+"/"), true
	}
	return "", "", false
}

// serveRepoAPI answers /api/models/{id}/revision/{rev} and
// /api/models/{id}/tree/{rev}; it returns false for other paths.
func (s *Server) serveRepoAPI(w http.ResponseWriter, r *http.Request, rest string) bool {
	id, sub, ok := s.splitRepoPath(rest)
	if !ok || sub == "" {
		return false
	}
	kind, rev, _ := strings.Cut(sub, "/")
	if kind != "revision" && kind != "tree" {
		return false
	}
	rp, commit, ok := s.repoAt(w, r, id, rev)
	if !ok {
		return true
	}
	var names []string
	for n := range rp.files {
		names = append(names, n)
	}
	sort.Strings(names)
	if kind == "revision" {
		sib := make([]map[string]any, len(names))
		for i, n := range names {
			sib[i] = map[string]any{"rfilename": n}
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "sha": commit, "siblings": sib})
		return true
	}
	var tree []map[string]any
	for _, n := range names {
		f := rp.files[n]
		e := map[string]any{"type": "file", "path": n, "size": len(f.data), "oid": f.gitSHA}
		if f.lfs {
			e["lfs"] = map[string]any{"oid": f.sha256, "size": len(f.data), "pointerSize": 134}
		}
		tree = append(tree, e)
	}
	writeJSON(w, http.StatusOK, tree)
	return true
}

// serveFile answers /{id}/resolve/{rev}/{path}.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) bool {
	p := strings.TrimPrefix(r.URL.Path, "/")
	id, sub, ok := s.splitRepoPath(p)
	if !ok {
		return false
	}
	rev, path, ok := strings.Cut(strings.TrimPrefix(sub, "resolve/"), "/")
	if !strings.HasPrefix(sub, "resolve/") || !ok {
		return false
	}
	rp, commit, ok := s.repoAt(w, r, id, rev)
	if !ok {
		return true
	}
	f, ok := rp.files[path]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Entry not found"})
		return true
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f.lfs {
		w.Header().Set("X-Linked-Etag", `"`+f.sha256+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.data)))
		w.Header().Set("ETag", `"`+f.sha256+`"`)
		w.Header().Set("Location", s.CDNURL+"/cdn/"+f.sha256+"?repo="+id)
		w.WriteHeader(http.StatusFound)
		return true
	}
	w.Header().Set("ETag", `"`+f.gitSHA+`"`)
	if r.Method == http.MethodGet && s.contentFault(w, r, id, f.data) {
		return true
	}
	serveBytes(w, r, f.data)
	return true
}

// contentFault applies a queued download fault; it reports whether it
// answered the request.
func (s *Server) contentFault(w http.ResponseWriter, r *http.Request, id string, data []byte) bool {
	fault, ok := s.nextFault("cdn", id)
	if !ok {
		return false
	}
	switch fault.Kind {
	case Slow:
		select {
		case <-r.Context().Done():
			return true
		case <-time.After(fault.Delay):
		}
	case ResetMidBody:
		cutAfter(w, data, len(data)/2)
		return true
	}
	return false
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request, sha string) {
	if r.Header.Get("Authorization") != "" {
		// A client must not send the Hub token to another host.
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Authorization header sent to the CDN"})
		return
	}
	id := r.URL.Query().Get("repo")
	s.mu.Lock()
	var f *file
	if rp, ok := s.repos[id]; ok {
		for _, x := range rp.files {
			if x.sha256 == sha {
				f = x
			}
		}
	}
	s.mu.Unlock()
	if f == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if s.contentFault(w, r, id, f.data) {
		return
	}
	serveBytes(w, r, f.data)
}

// serveBytes writes data, honouring a "bytes=N-" or "bytes=N-M" Range.
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("Accept-Ranges", "bytes")
	start, end := 0, len(data)
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		spec, ok := strings.CutPrefix(rg, "bytes=")
		a, b, _ := strings.Cut(spec, "-")
		n, err := strconv.Atoi(a)
		if !ok || err != nil || n > len(data) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		if m, err := strconv.Atoi(b); err == nil && m+1 < end {
			end = m + 1
		}
		status = http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(data)))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(end-start))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data[start:end])
	}
}

// cutAfter starts a 200 answer for data, sends its first n bytes and
// resets the connection.
func cutAfter(w http.ResponseWriter, data []byte, n int) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data[:n])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
	}
}
