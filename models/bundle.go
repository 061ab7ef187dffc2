package models

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/internal/filehash"
)

// A bundle carries cached models into an air-gapped network: a tar (plain,
// gzip or zstd) whose first entry is manifest.json, followed by the
// models' cache subtrees exactly as the hub cache lays them out
// (models--org--name/{blobs,snapshots,refs}), so that it can even be
// unpacked into a cache by hand. The manifest lists every file with its
// size and sha256.

// ErrBadBundle is returned (wrapped, naming the entry) for bundles that are
// refused: path traversal, absolute paths, links out of the cache, files
// the manifest does not list, checksum mismatches.
var ErrBadBundle = errors.New("bad bundle")

const bundleFormat = "hybridembed-bundle"

type manifest struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Created time.Time       `json:"created"`
	Models  []manifestModel `json:"models"`
}

type manifestModel struct {
	ID     string            `json:"id"`
	Repo   string            `json:"repo"`
	Commit string            `json:"commit"`
	Refs   map[string]string `json:"refs"`
	Files  []manifestFile    `json:"files"`
}

type manifestFile struct {
	Path   string `json:"path"`
	Blob   string `json:"blob"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Compression of a bundle.
type Compression string

const (
	NoCompression Compression = "none"
	Gzip          Compression = "gzip"
	Zstd          Compression = "zstd"
)

// CompressionFor picks the compression a bundle's file name says: .tar is
// a plain tar, .tar.gz or .tgz gzip, .tar.zst or .tzst zstd. ok is false
// for any other name (a .zip, no extension): a bundle is a tar, and its
// name should say so.
func CompressionFor(name string) (c Compression, ok bool) {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar"):
		return NoCompression, true
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return Gzip, true
	case strings.HasSuffix(n, ".tar.zst"), strings.HasSuffix(n, ".tzst"):
		return Zstd, true
	}
	return "", false
}

// BundleModel is one model for [Cache.Export]: a cached model (ID, with an
// optional "@revision"), or a model folder (Dir) carried as repo ID at
// the revision [Cache.Add] would give it, so that an import puts it in
// the cache as Add does.
type BundleModel struct {
	ID    string
	Dir   string   // a model folder; "" for a cached model
	Files []string // the folder's files, relative to Dir with forward slashes
}

// Export writes models as a bundle. Snapshot entries that are plain files
// are carried as blobs named by their sha256.
func (c Cache) Export(w io.Writer, comp Compression, models []BundleModel) error {
	m := manifest{Format: bundleFormat, Version: 1, Created: time.Now().UTC()}
	var all []map[string]string // per model: blob name -> file to read
	for _, bm := range models {
		var mm manifestModel
		sources := map[string]string{}
		var err error
		if bm.Dir != "" {
			mm, err = folderManifest(bm, sources)
		} else {
			mm, err = c.cachedManifest(bm.ID, sources)
		}
		if err != nil {
			return err
		}
		sort.Slice(mm.Files, func(a, b int) bool { return mm.Files[a].Path < mm.Files[b].Path })
		m.Models = append(m.Models, mm)
		all = append(all, sources)
	}

	cw, err := compressor(w, comp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(cw)
	mdata, _ := json.MarshalIndent(m, "", " ")
	if err := writeTarFile(tw, "manifest.json", bytes.NewReader(mdata), int64(len(mdata))); err != nil {
		return err
	}
	for i, sources := range all {
		mm := m.Models[i]
		top := "models--" + strings.ReplaceAll(mm.Repo, "/", "--")
		blobs := make([]string, 0, len(sources))
		for b := range sources {
			blobs = append(blobs, b)
		}
		sort.Strings(blobs)
		for _, b := range blobs {
			f, err := os.Open(sources[b])
			if err != nil {
				return err
			}
			st, err := f.Stat()
			if err == nil {
				err = writeTarFile(tw, top+"/blobs/"+b, f, st.Size())
			}
			f.Close()
			if err != nil {
				return err
			}
		}
		for _, f := range mm.Files {
			link := top + "/snapshots/" + mm.Commit + "/" + f.Path
			target := strings.Repeat("../", strings.Count(f.Path, "/")+2) + "blobs/" + f.Blob
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: link, Linkname: target, Mode: 0o777, ModTime: m.Created}); err != nil {
				return err
			}
		}
		for name, commit := range mm.Refs {
			if err := writeTarFile(tw, top+"/refs/"+name, strings.NewReader(commit), int64(len(commit))); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return cw.Close()
}

// cachedManifest lists a cached model's snapshot for a bundle, and where
// each blob's content is.
func (c Cache) cachedManifest(arg string, sources map[string]string) (manifestModel, error) {
	id, rev, _ := strings.Cut(arg, "@")
	loc, err := c.Locate(id, rev)
	if err != nil {
		return manifestModel{}, err
	}
	mm := manifestModel{ID: id, Repo: loc.Repo, Commit: loc.Commit, Refs: map[string]string{}}
	repos, _ := c.List()
	for _, r := range repos {
		if r.ID == loc.Repo {
			for name, commit := range r.Refs {
				if commit == loc.Commit {
					mm.Refs[name] = commit
				}
			}
		}
	}
	err = filepath.WalkDir(loc.Dir, func(fp string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(loc.Dir, fp)
		real, err := filepath.EvalSymlinks(fp)
		if err != nil {
			return fmt.Errorf("%s: %w", fp, err)
		}
		sum, size, err := filehash.Hex(context.Background(), real)
		if err != nil {
			return err
		}
		blob := sum
		if d.Type()&fs.ModeSymlink != 0 {
			if etag, err := normalizeETag(filepath.Base(real)); err == nil {
				blob = etag
			}
		}
		mm.Files = append(mm.Files, manifestFile{Path: filepath.ToSlash(rel), Blob: blob, Size: size, SHA256: sum})
		sources[blob] = real
		return nil
	})
	return mm, err
}

// folderManifest lists a model folder's files for a bundle, as the repo
// bm.ID at the commit Add gives them, with a main ref.
func folderManifest(bm BundleModel, sources map[string]string) (manifestModel, error) {
	if err := ValidateID(bm.ID); err != nil {
		return manifestModel{}, err
	}
	mm := manifestModel{ID: bm.ID, Repo: bm.ID}
	sums := map[string]string{}
	for _, f := range bm.Files {
		if !safeRepoPath(f) {
			return manifestModel{}, fmt.Errorf("%s: unsafe path %q", bm.Dir, f)
		}
		src := filepath.Join(bm.Dir, filepath.FromSlash(f))
		sum, size, err := filehash.Hex(context.Background(), src)
		if err != nil {
			return manifestModel{}, err
		}
		sums[f] = sum
		mm.Files = append(mm.Files, manifestFile{Path: f, Blob: sum, Size: size, SHA256: sum})
		sources[sum] = src
	}
	mm.Commit = TreeCommit(sums)
	mm.Refs = map[string]string{"main": mm.Commit}
	return mm, nil
}

func writeTarFile(tw *tar.Writer, name string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Now().UTC()}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, r, size)
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func compressor(w io.Writer, comp Compression) (io.WriteCloser, error) {
	switch comp {
	case Gzip:
		return gzip.NewWriter(w), nil
	case Zstd:
		return zstd.NewWriter(w)
	case NoCompression, "":
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", comp)
}

// maxZstdWindow is zstd's own default limit for decompression (its
// --memory, windowLog 27); Export's frames use 8 MiB.
const maxZstdWindow = 128 << 20

// decompressor detects gzip and zstd by their magic bytes.
func decompressor(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		return zr, func() {}, err
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// A frame may ask for a window of up to 512 MiB, and the decoder
		// keeps up to a window of history in memory as the data flows; the
		// zstd command line refuses over 128 MiB unless told otherwise, and
		// so do we.
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// Imported is one model an import added.
type Imported struct {
	ID, Repo, Commit string
	Files            int
}

// Import reads a bundle into the cache. Everything is checked before the
// cache is touched: each entry's path (no absolute paths, no "..", nothing
// outside models--*/), its type (regular files in blobs/ and refs/,
// symlinks in snapshots/ that resolve to a blob of the same repo), that
// the manifest lists it, and every blob's sha256 (and its name's hash). A
// bundle that fails a check leaves the cache as it was.
//
// Checked, each model goes in as a download does: its blobs (synced as
// they were unpacked, each renamed into blobs/ and the folder synced),
// then its snapshot links, then its refs. A ref thus never names a
// snapshot whose files are not all on disk, even after a power loss. A
// failure while moving in (permissions, a full disk) leaves the models
// before it imported, and blobs and links of the one it was on that no
// ref names yet; importing again finishes it.
func (c Cache) Import(r io.Reader) ([]Imported, error) {
	root := c.dir()
	if err := os.MkdirAll(root, 0o777); err != nil {
		return nil, err
	}
	// Staged inside the cache root, so that moving into place is a rename.
	stage, err := os.MkdirTemp(root, ".import-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	dr, closeDR, err := decompressor(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	defer closeDR()
	entries, m, err := readBundle(tar.NewReader(dr), stage)
	if err != nil {
		return nil, err
	}
	if err := checkBundle(entries, m, stage); err != nil {
		return nil, err
	}

	// Verified: move into the cache, blobs first, refs last.
	var out []Imported
	for _, mm := range m.Models {
		top := "models--" + strings.ReplaceAll(mm.Repo, "/", "--")
		repoDir := filepath.Join(root, top)
		if err := os.MkdirAll(filepath.Join(repoDir, "blobs"), 0o777); err != nil {
			return out, err
		}
		for _, f := range mm.Files {
			dst := filepath.Join(repoDir, "blobs", f.Blob)
			if checkBlob(dst, fileMeta{etag: f.Blob, size: f.Size}) == nil {
				continue // already there, whole
			}
			src := filepath.Join(stage, top, "blobs", f.Blob)
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				continue // moved for an earlier file with the same blob
			}
			// A content-named blob: never over one that is there and
			// whole (put there meanwhile by a pull); over a damaged one.
			err := atomicfile.MoveNew(src, dst)
			if errors.Is(err, atomicfile.ErrExists) && checkBlob(dst, fileMeta{etag: f.Blob, size: f.Size}) != nil {
				err = atomicfile.Move(src, dst)
			} else if errors.Is(err, atomicfile.ErrExists) {
				err = nil
			}
			if err != nil {
				return out, err
			}
		}
		snap := filepath.Join(repoDir, "snapshots", mm.Commit)
		for _, f := range mm.Files {
			if err := linkSnapshot(snap, f.Path, f.Blob); err != nil {
				return out, err
			}
		}
		// The folders made on the way (the repo's, snapshots/, the
		// commit's) are entries of their parents: synced too, before a
		// ref names them.
		for _, d := range []string{filepath.Join(repoDir, "snapshots"), repoDir, root} {
			if err := atomicfile.SyncDir(d); err != nil {
				return out, err
			}
		}
		for name, commit := range mm.Refs {
			if err := writeRef(repoDir, name, commit); err != nil {
				return out, err
			}
		}
		out = append(out, Imported{ID: mm.ID, Repo: mm.Repo, Commit: mm.Commit, Files: len(mm.Files)})
	}
	return out, nil
}

type bundleEntry struct {
	kind   byte   // tar.TypeReg or tar.TypeSymlink
	target string // symlinks: where they point, resolved within the bundle
}

// readBundle unpacks the tar into stage, refusing dangerous entries. The
// manifest comes first (Export writes it first) and is checked before
// anything else is read; then a blob or ref is written only if the
// manifest lists it, a blob only at the size listed: what a bundle can
// put on disk is bounded by what its manifest declares, and nothing
// unlisted (a decompression bomb in an entry of its own) is ever written.
func readBundle(tr *tar.Reader, stage string) (map[string]bundleEntry, manifest, error) {
	var m manifest
	var want map[string]int64 // the regular files the manifest lists, by size (refs: their bound)
	entries := map[string]bundleEntry{}
	bad := func(name, why string) error { return fmt.Errorf("%w: entry %q: %s", ErrBadBundle, name, why) }
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, m, fmt.Errorf("%w: %v", ErrBadBundle, err)
		}
		name := h.Name
		if h.Typeflag == tar.TypeDir {
			continue
		}
		switch {
		case strings.HasPrefix(name, "/") || filepath.IsAbs(name) || strings.Contains(name, "\\"):
			return nil, m, bad(name, "absolute path")
		case !safeRepoPath(name):
			return nil, m, bad(name, "path traversal or empty path element")
		}
		if _, dup := entries[name]; dup {
			return nil, m, bad(name, "appears twice")
		}
		if want == nil {
			if name != "manifest.json" {
				return nil, m, bad(name, "comes before manifest.json, which a bundle starts with")
			}
			if h.Typeflag != tar.TypeReg || h.Size > 64<<20 {
				return nil, m, bad(name, "not a regular file of plausible size")
			}
			if err := json.NewDecoder(io.LimitReader(tr, h.Size)).Decode(&m); err != nil {
				return nil, m, bad(name, err.Error())
			}
			if m.Format != bundleFormat || m.Version != 1 {
				return nil, m, bad(name, fmt.Sprintf("format %q version %d, want %q version 1", m.Format, m.Version, bundleFormat))
			}
			if want, err = m.regularFiles(); err != nil {
				return nil, m, err
			}
			continue
		}
		parts := strings.SplitN(name, "/", 3)
		if len(parts) < 3 || !strings.HasPrefix(parts[0], "models--") {
			return nil, m, bad(name, "not under a models--org--name/ directory")
		}
		sub := parts[1]
		switch {
		case h.Typeflag == tar.TypeReg && (sub == "blobs" || sub == "refs"):
			size, listed := want[name]
			switch {
			case !listed:
				return nil, m, bad(name, "is not in the manifest")
			case sub == "refs" && h.Size > size:
				return nil, m, bad(name, "a ref larger than a commit hash")
			case sub == "blobs" && h.Size != size:
				return nil, m, bad(name, fmt.Sprintf("is %d bytes; the manifest says %d", h.Size, size))
			}
			dst := filepath.Join(stage, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
				return nil, m, err
			}
			// Committed (synced) here, so that moving it into the cache
			// is a rename; 0666 less the umask, the mode it keeps there.
			f, err := atomicfile.Create(dst)
			if err != nil {
				return nil, m, err
			}
			if _, err := io.CopyN(f, tr, h.Size); err != nil {
				f.Abort()
				return nil, m, fmt.Errorf("%w: entry %q: %v", ErrBadBundle, name, err)
			}
			if err := f.CommitNew(); err != nil {
				return nil, m, err
			}
			entries[name] = bundleEntry{kind: tar.TypeReg}
		case h.Typeflag == tar.TypeSymlink && sub == "snapshots":
			if path.IsAbs(h.Linkname) || strings.HasPrefix(h.Linkname, "/") {
				return nil, m, bad(name, "symlink to an absolute path "+h.Linkname)
			}
			target := path.Join(path.Dir(name), h.Linkname)
			tparts := strings.Split(target, "/")
			if len(tparts) != 3 || tparts[0] != parts[0] || tparts[1] != "blobs" {
				return nil, m, bad(name, "symlink points out of its repo's blobs/ ("+h.Linkname+")")
			}
			entries[name] = bundleEntry{kind: tar.TypeSymlink, target: target}
		default:
			return nil, m, bad(name, fmt.Sprintf("type %q is not allowed there", string(h.Typeflag)))
		}
	}
	if want == nil {
		return nil, m, fmt.Errorf("%w: no manifest.json", ErrBadBundle)
	}
	return entries, m, nil
}

// maxRefSize bounds a ref file: a commit hash and a newline, with room.
const maxRefSize = 256

// regularFiles checks the manifest on its own (ids, commits, ref names,
// paths, blob names, one size per blob) and lists the regular files it
// declares: each blob with its size, each ref with maxRefSize.
func (m manifest) regularFiles() (map[string]int64, error) {
	want := map[string]int64{}
	for _, mm := range m.Models {
		if err := ValidateID(mm.Repo); err != nil {
			return nil, fmt.Errorf("%w: manifest: %v", ErrBadBundle, err)
		}
		if !IsCommit(mm.Commit) {
			return nil, fmt.Errorf("%w: manifest: %s commit %q is not a commit hash", ErrBadBundle, mm.Repo, mm.Commit)
		}
		top := "models--" + strings.ReplaceAll(mm.Repo, "/", "--")
		for name, commit := range mm.Refs {
			if !safeRepoPath(name) || commit != mm.Commit {
				return nil, fmt.Errorf("%w: manifest: %s ref %q is not its commit", ErrBadBundle, mm.Repo, name)
			}
			want[top+"/refs/"+name] = maxRefSize
		}
		for _, f := range mm.Files {
			if !safeRepoPath(f.Path) {
				return nil, fmt.Errorf("%w: manifest: unsafe path %q", ErrBadBundle, f.Path)
			}
			etag, err := normalizeETag(f.Blob)
			if err != nil || etag != f.Blob {
				return nil, fmt.Errorf("%w: manifest: %s: blob name %q", ErrBadBundle, f.Path, f.Blob)
			}
			if f.Size < 0 {
				return nil, fmt.Errorf("%w: manifest: %s: size %d", ErrBadBundle, f.Path, f.Size)
			}
			blob := top + "/blobs/" + f.Blob
			if size, seen := want[blob]; seen && size != f.Size {
				return nil, fmt.Errorf("%w: manifest: blob %s listed as %d and %d bytes", ErrBadBundle, f.Blob, size, f.Size)
			}
			want[blob] = f.Size
		}
	}
	return want, nil
}

// checkBundle verifies the unpacked bundle against its manifest (which
// regularFiles has checked on its own).
func checkBundle(entries map[string]bundleEntry, m manifest, stage string) error {
	listed := map[string]bool{}
	for _, mm := range m.Models {
		top := "models--" + strings.ReplaceAll(mm.Repo, "/", "--")
		for name, commit := range mm.Refs {
			ref := top + "/refs/" + name
			data, err := os.ReadFile(filepath.Join(stage, filepath.FromSlash(ref)))
			if err != nil || strings.TrimSpace(string(data)) != commit {
				return fmt.Errorf("%w: %s does not hold the manifest's commit", ErrBadBundle, ref)
			}
			listed[ref] = true
		}
		for _, f := range mm.Files {
			blob := top + "/blobs/" + f.Blob
			link := top + "/snapshots/" + mm.Commit + "/" + f.Path
			if e, ok := entries[link]; !ok || e.kind != tar.TypeSymlink || e.target != blob {
				return fmt.Errorf("%w: %s is missing or does not point to %s", ErrBadBundle, link, blob)
			}
			listed[link] = true
			if listed[blob] {
				continue
			}
			if e, ok := entries[blob]; !ok || e.kind != tar.TypeReg {
				return fmt.Errorf("%w: %s is missing", ErrBadBundle, blob)
			}
			p := filepath.Join(stage, filepath.FromSlash(blob))
			sum, size, err := filehash.Hex(context.Background(), p)
			if err != nil {
				return err
			}
			if sum != f.SHA256 || size != f.Size {
				return fmt.Errorf("%w: %s: %w: manifest says sha256 %s (%d bytes), got %s (%d bytes)", ErrBadBundle, blob, ErrChecksum, f.SHA256, f.Size, sum, size)
			}
			if err := verifyFile(p, f.Blob); err != nil {
				return fmt.Errorf("%w: %w", ErrBadBundle, err)
			}
			listed[blob] = true
		}
	}
	for name := range entries {
		if !listed[name] {
			return fmt.Errorf("%w: entry %q is not in the manifest", ErrBadBundle, name)
		}
	}
	return nil
}
