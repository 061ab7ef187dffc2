package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/remote"
)

// Errors a pull may return (wrapped), matched with errors.Is.
var (
	ErrOffline  = errors.New("offline: the network is not used (HF_HUB_OFFLINE or --offline)")
	ErrNotFound = errors.New("not found on the Hub")
	// ErrGated wraps remote.ErrUnauthorized: a gated repo is an auth error.
	ErrGated  = fmt.Errorf("access denied (gated or private repo): %w", remote.ErrUnauthorized)
	ErrNoONNX = errors.New("no usable ONNX files")
)

// Downloader fetches model repos from the Hub into a [Cache], in the layout
// huggingface_hub writes (so Python can use what it fetched, and the
// reverse). The zero value is usable; it is safe for concurrent use, and
// concurrent processes share a cache safely (per-blob file locks, temporary
// names, renames).
type Downloader struct {
	Cache Cache
	// Client speaks to the Hub (retries, token scoped to the Hub's host,
	// errors); when nil, one is made from HubURL, Token, HTTPClient and
	// UserAgent.
	Client     *remote.Client
	HubURL     string // default $HF_ENDPOINT, else https://huggingface.co
	Token      string // for gated and private repos
	HTTPClient *http.Client
	UserAgent  string
	// Parallel is how many files download at once (default 4).
	Parallel int
	// Attempts per file; each retry resumes where the last one was cut
	// (default 5).
	Attempts int
	// Offline refuses to touch the network.
	Offline bool
	// Progress receives byte counts as files download; it must be safe for
	// concurrent use.
	Progress func(Progress)
}

// Progress reports one file's download.
type Progress struct {
	Repo, File       string
	Completed, Total int64
	Cached, Done     bool
}

// PullOptions choose what to fetch.
type PullOptions struct {
	Revision string // branch, tag or commit (default main)
	Variant  string // ONNX variant: "" (fp32), "quantized", "fp16", ...
}

// hub is the client for the Hub.
func (d *Downloader) hub() *remote.Client {
	if d.Client != nil {
		return d.Client
	}
	u := d.HubURL
	if u == "" {
		u = os.Getenv("HF_ENDPOINT")
	}
	return &remote.Client{HubURL: u, Token: d.Token, HTTPClient: d.HTTPClient, UserAgent: d.UserAgent}
}

// Pull fetches the files id needs (its registry entry's, or a usable layout
// found in its file list) at one commit, verifies every byte, and lays them
// out in the cache: blobs, then snapshot links, then refs/ last. Files
// already in the cache are not fetched again. It returns where the model is.
func (d *Downloader) Pull(ctx context.Context, id string, opts PullOptions) (Location, error) {
	if err := ValidateID(id); err != nil {
		return Location{}, err
	}
	if d.Offline {
		return Location{}, fmt.Errorf("pull %s: %w", id, ErrOffline)
	}
	repo := id
	var entry *Entry
	if e, ok := Lookup(id); ok {
		entry, repo = &e, e.Repo
	}
	rev := opts.Revision
	if rev == "" {
		rev = "main"
	}
	hub := d.hub()
	info, err := d.revision(ctx, hub, repo, rev)
	if err != nil {
		return Location{}, err
	}
	files, err := chooseFiles(repo, info.siblings, entry, opts.Variant)
	if err != nil {
		return Location{}, err
	}
	repoDir, err := d.Cache.RepoDir(repo)
	if err != nil {
		return Location{}, err
	}

	metas := make([]fileMeta, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(d.Parallel, 1) * 2)
	for i, f := range files {
		g.Go(func() error {
			m, err := d.head(gctx, hub, repo, info.commit, f)
			metas[i] = m
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Location{}, err
	}

	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(positive(d.Parallel, 4))
	for _, m := range metas {
		g.Go(func() error { return d.fetchBlob(gctx, hub, repo, repoDir, m) })
	}
	if err := g.Wait(); err != nil {
		return Location{}, err
	}

	// Every blob is verified and in place: now the snapshot, then the ref.
	snap := filepath.Join(repoDir, "snapshots", info.commit)
	for _, m := range metas {
		if err := linkSnapshot(snap, m.path, m.etag); err != nil {
			return Location{}, err
		}
	}
	if !IsCommit(rev) {
		if err := writeRef(repoDir, rev, info.commit); err != nil {
			return Location{}, err
		}
	}
	return Location{ID: id, Repo: repo, Dir: snap, Commit: info.commit, Entry: entry}, nil
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

type revisionInfo struct {
	commit   string
	siblings []string
}

// revision asks the Hub which commit rev is and which files it has.
func (d *Downloader) revision(ctx context.Context, hub *remote.Client, repo, rev string) (revisionInfo, error) {
	r, err := hub.Revision(ctx, repo, rev)
	if err != nil {
		return revisionInfo{}, hubError(repo+"@"+rev, err)
	}
	if !IsCommit(r.Commit) {
		return revisionInfo{}, fmt.Errorf("%s@%s: the Hub answered commit %q, not a 40-hex hash", repo, rev, r.Commit)
	}
	return revisionInfo{commit: r.Commit, siblings: r.Files}, nil
}

// chooseFiles picks what to download: the graphs of a usable layout (the
// registry's files for known models) with their external weights, and
// whichever config files the repo has.
func chooseFiles(repo string, siblings []string, entry *Entry, variant string) ([]string, error) {
	have := map[string]bool{}
	for _, s := range siblings {
		if safeRepoPath(s) {
			have[s] = true
		}
	}
	var graphs []string
	if entry != nil && entry.Repo == repo {
		want, err := entry.Files(variant)
		if err != nil {
			return nil, err
		}
		for _, f := range want {
			if strings.HasSuffix(f, ".onnx") {
				if !have[f] {
					return nil, fmt.Errorf("%s: %w: the registry expects %s, which the repo does not have (it has variants: %s)", repo, ErrNoONNX, f, strings.Join(layout.Variants(siblings), ", "))
				}
				graphs = append(graphs, f)
			}
		}
	} else {
		l, looked := layout.FindLayout(func(p string) bool { return have[p] }, variant)
		graphs = l.Files()
		if graphs == nil {
			var onnx []string
			for _, s := range siblings {
				if strings.HasSuffix(s, ".onnx") {
					onnx = append(onnx, s)
				}
			}
			if len(onnx) > 0 {
				return nil, fmt.Errorf("%s: %w for variant %q (looked for %s); the repo has %s (variants: %s)", repo, ErrNoONNX, variant, strings.Join(looked, ", "), strings.Join(onnx, ", "), strings.Join(layout.Variants(onnx), ", "))
			}
			return nil, fmt.Errorf("%s: %w: the repo has no .onnx files (it has %s); hybridembed runs ONNX exports, such as the Xenova/ or onnx-community/ conversions", repo, ErrNoONNX, sample(siblings))
		}
	}
	files := append([]string(nil), graphs...)
	immich := false
	for _, g := range graphs {
		files = append(files, layout.ExternalData(g, have)...)
		immich = immich || g == layout.ImmichVisual || g == layout.ImmichTextual
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[f] = true
	}
	for _, s := range siblings {
		if have[s] && !seen[s] && (layout.IsConfigFile(s) || immich && layout.IsImmichFolder(s)) {
			files = append(files, s)
			seen[s] = true
		}
	}
	sort.Strings(files)
	return files, nil
}

func sample(xs []string) string {
	if len(xs) > 8 {
		return strings.Join(xs[:8], ", ") + ", ..."
	}
	if len(xs) == 0 {
		return "no files"
	}
	return strings.Join(xs, ", ")
}

// safeRepoPath rejects file names that could escape a snapshot directory.
func safeRepoPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// fileMeta is what the Hub says about one file at a commit.
type fileMeta struct {
	path     string
	etag     string // sha256 for LFS files, git sha1 otherwise
	size     int64
	location string // where to GET the content (a CDN for LFS files)
}

// head reads a file's metadata (its hash, size and download location)
// from the Hub, as huggingface_hub does.
func (d *Downloader) head(ctx context.Context, hub *remote.Client, repo, commit, file string) (fileMeta, error) {
	m, err := hub.FileMeta(ctx, repo, commit, file)
	if err != nil {
		return fileMeta{}, hubError(repo+"/"+file, err)
	}
	if m.Commit != "" && m.Commit != commit {
		return fileMeta{}, fmt.Errorf("%s/%s: asked for commit %s, the Hub answered for %s", repo, file, commit, m.Commit)
	}
	etag, err := normalizeETag(m.ETag)
	if err != nil {
		return fileMeta{}, fmt.Errorf("%s/%s: %w", repo, file, err)
	}
	return fileMeta{path: file, etag: etag, size: m.Size, location: m.Location}, nil
}

// fetchBlob makes sure blobs/<etag> holds the verified content, resuming a
// partial download (blobs/<etag>.incomplete) with Range, under a per-blob
// lock shared with other processes.
//
// A blob of the published size is taken as it is without the lock, as
// huggingface_hub takes one (hashing every cached file on every pull
// would read whole models; `models verify` re-hashes them). Any other
// blob is looked at again under the lock, where another process may just
// have finished it: it is kept only if its size and hash are right, and
// is otherwise downloaded again and replaced.
func (d *Downloader) fetchBlob(ctx context.Context, hub *remote.Client, repo, repoDir string, m fileMeta) error {
	blob := filepath.Join(repoDir, "blobs", m.etag)
	report := func(p Progress) {
		if d.Progress != nil {
			p.Repo, p.File, p.Total = repo, m.path, m.size
			d.Progress(p)
		}
	}
	if st, err := os.Stat(blob); err == nil && st.Mode().IsRegular() && m.size >= 0 && st.Size() == m.size {
		report(Progress{Completed: st.Size(), Cached: true, Done: true})
		return nil
	}
	unlock, err := fileLock(ctx, filepath.Join(d.Cache.dir(), ".locks", filepath.Base(repoDir), m.etag+".lock"))
	if err != nil {
		return fmt.Errorf("%s/%s: lock: %w", repo, m.path, err)
	}
	defer unlock()
	switch err := checkBlob(blob, m); {
	case err == nil: // another process finished it while we waited
		report(Progress{Completed: m.size, Cached: true, Done: true})
		return nil
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrChecksum) && !errors.Is(err, errBlobSize):
		return fmt.Errorf("%s/%s: %w", repo, m.path, err)
	}
	// Missing or damaged: fetched again, and renamed over a damaged one.
	if err := os.MkdirAll(filepath.Dir(blob), 0o777); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // another file failed: do not start this one
		return err
	}
	incomplete := blob + ".incomplete"
	attempts := positive(d.Attempts, 5)
	var lastErr error
	for n := 1; n <= attempts; n++ {
		lastErr = d.download(ctx, hub, m, incomplete, report)
		if lastErr == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(lastErr, ErrChecksum) || errors.Is(lastErr, ErrNotFound) || errors.Is(lastErr, ErrGated) {
			break
		}
		if n < attempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(n*n) * 100 * time.Millisecond):
			}
		}
	}
	if lastErr != nil {
		if st, err := os.Stat(incomplete); err == nil && st.Size() == 0 {
			os.Remove(incomplete) // nothing to resume from
		}
		return fmt.Errorf("%s/%s: %w", repo, m.path, lastErr)
	}
	if err := os.Rename(incomplete, blob); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(filepath.Dir(blob)); err != nil {
		return err
	}
	report(Progress{Completed: m.size, Done: true})
	return nil
}

// errBlobSize marks a blob whose size is not the published one.
var errBlobSize = errors.New("blob size differs from the Hub's")

// checkBlob checks that blob holds m's content: its size, then its hash.
// A missing blob matches fs.ErrNotExist; a damaged one errBlobSize or
// ErrChecksum.
func checkBlob(blob string, m fileMeta) error {
	st, err := os.Stat(blob)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file", blob, errBlobSize)
	}
	if m.size >= 0 && st.Size() != m.size {
		return fmt.Errorf("%s: %w: %d bytes, want %d", blob, errBlobSize, st.Size(), m.size)
	}
	return verifyFile(blob, m.etag)
}

// download continues incomplete from where it ends, then verifies the whole
// file against the etag; a mismatch deletes it. Like the blob it becomes,
// it is made 0666 less the umask, as huggingface_hub makes blobs, so that
// a cache shared by a group (umask 002) stays writable by the group.
//
// Blobs are not written through atomicfile: huggingface_hub resumes a
// download from blobs/<etag>.incomplete, under the blob's lock, and so
// does this; the steps are atomicfile's all the same (a temporary name in
// the same folder, fsync, rename, folder fsync).
func (d *Downloader) download(ctx context.Context, hub *remote.Client, m fileMeta, incomplete string, report func(Progress)) error {
	f, err := os.OpenFile(incomplete, os.O_CREATE|os.O_RDWR, 0o666)
	if errors.Is(err, fs.ErrPermission) {
		// Left by another user whose umask kept it from us: we hold the
		// blob's lock, so no one writes it; start it again as ours.
		if rerr := os.Remove(incomplete); rerr == nil {
			f, err = os.OpenFile(incomplete, os.O_CREATE|os.O_RDWR, 0o666)
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if m.size >= 0 && have > m.size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
	}
	var resp *http.Response
	if m.size < 0 || have < m.size {
		if resp, err = hub.Open(ctx, m.location, have); err != nil {
			return hubError(m.path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent { // the server ignored Range: start over
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			have = 0
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	size := m.size
	if size < 0 && resp != nil && resp.ContentLength >= 0 {
		size = have + resp.ContentLength
	}
	ch := newContentHash(m.etag, size)
	if _, err := io.CopyN(ch, f, have); err != nil { // hash what is already there
		return err
	}
	if resp != nil {
		pw := &progressWriter{w: io.MultiWriter(f, ch), done: have, report: report}
		if _, err := io.Copy(pw, resp.Body); err != nil {
			return fmt.Errorf("download cut after %d bytes (will resume): %w", pw.done, err)
		}
		have = pw.done
	}
	if size >= 0 && have != size {
		return fmt.Errorf("download ended at %d of %d bytes (will resume)", have, size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := ch.check(m.path); err != nil {
		f.Close()
		os.Remove(incomplete) // never resume from bytes that do not verify
		return err
	}
	return nil
}

type progressWriter struct {
	w      io.Writer
	done   int64
	last   time.Time
	report func(Progress)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.report(Progress{Completed: p.done})
	}
	return n, err
}

// hubError names what failed and classifies a Hub answer the way callers
// branch on it: a gated or private repo (401, 403, X-Error-Code GatedRepo)
// is ErrGated, which is an auth error; 404 is ErrNotFound.
func hubError(what string, err error) error {
	var he *remote.HTTPError
	if !errors.As(err, &he) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := he.Message
	if he.ErrorCode != "" {
		msg = he.ErrorCode + ": " + msg
	}
	switch {
	case he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden || he.ErrorCode == "GatedRepo":
		return fmt.Errorf("%s: %w: %s (set HF_TOKEN to a token with access, after accepting the repo's terms on the Hub)", what, ErrGated, msg)
	case he.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: %w: %s", what, ErrNotFound, msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// linkSnapshot points snapshots/<commit>/<file> at its blob with a relative
// symlink, as huggingface_hub does.
func linkSnapshot(snap, file, etag string) error {
	link := filepath.Join(snap, filepath.FromSlash(file))
	_, statErr := os.Lstat(filepath.Dir(link))
	made := errors.Is(statErr, fs.ErrNotExist) // folders made here, up to the snapshot's
	if err := os.MkdirAll(filepath.Dir(link), 0o777); err != nil {
		return err
	}
	depth := strings.Count(file, "/")
	target := strings.Repeat("../", depth+2) + "blobs/" + etag
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	// A unique temporary name: concurrent pulls may link the same file.
	tmp := fmt.Sprintf("%s.tmp-%d-%d", link, os.Getpid(), rand.Int64())
	if err := os.Symlink(filepath.FromSlash(target), tmp); err != nil {
		// Where symlinks need privileges (Windows without developer mode),
		// huggingface_hub copies the blob into the snapshot: so do we.
		if err := copyFile(filepath.Join(filepath.Dir(link), filepath.FromSlash(target)), tmp); err != nil {
			return fmt.Errorf("%s: neither a link nor a copy: %w", link, err)
		}
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	// Synced before a ref names the snapshot: after a power loss, a ref
	// never points at a snapshot with links missing. A folder made for
	// this link (onnx/, or the snapshot itself) is an entry of its parent,
	// synced too, up to snapshots/.
	if err := atomicfile.SyncDir(filepath.Dir(link)); err != nil || !made {
		return err
	}
	for d := filepath.Dir(link); d != filepath.Dir(snap) && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := atomicfile.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies src to a new file dst (0666 less the umask, as the blob),
// synced before linkSnapshot renames it into place.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// writeRef records that rev points at commit, atomically.
func writeRef(repoDir, rev, commit string) error {
	if !safeRepoPath(rev) {
		return fmt.Errorf("invalid revision name %q", rev)
	}
	ref := filepath.Join(repoDir, "refs", filepath.FromSlash(rev))
	if err := os.MkdirAll(filepath.Dir(ref), 0o777); err != nil {
		return err
	}
	return atomicfile.WriteFile(ref, []byte(commit))
}
