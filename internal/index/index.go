// Package index keeps a photo library's embeddings in a SQLite file, brings
// them up to date by re-reading only what changed, and scans them for the
// images nearest to a query vector.
//
// Paths are stored relative to the index's root, with forward slashes, so
// a library moved or synced elsewhere with its index keeps it. File
// contents are keyed by sha256, so renamed, moved and duplicated photos
// reuse a stored vector, and vectors are keyed by the model's identity
// ([hybridembed.ModelInfo.Key]: its files and the settings that change its
// vectors), so several models share one index without ever mixing.
package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gofrs/flock"
	_ "github.com/mattn/go-sqlite3" // the SQLite driver, cgo like ONNX Runtime

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/library"
)

// DefaultName is the index file inside a library's state folder:
// ROOT/.hybridembed/index.db.
const DefaultName = "index.db"

// ErrSchema is returned for an index written by a newer hybridembed.
var ErrSchema = errors.New("index schema is newer than this hybridembed")

// Index is an open index file. It is safe for concurrent use by one
// process; [Index.Update] also excludes other processes.
type Index struct {
	db   *sql.DB
	path string
	root string
	mu   sync.Mutex   // one writer in this process (the file lock is per process)
	lock *flock.Flock // one writer among processes
}

// Locate picks the index for the paths to be indexed or searched: explicit
// when given (its root is the folder it is in); else the nearest
// ROOT/.hybridembed/index.db at or above the first path, as git finds
// .git; else a new one in the folder of the first path (the path itself
// when it is a folder). Keeping the index in the library means it moves
// and syncs with the photos, and one library has one index whichever
// subfolder is searched.
func Locate(paths []string, explicit string) (file, root string, err error) {
	if explicit != "" {
		abs, err := filepath.Abs(explicit)
		if err != nil {
			return "", "", err
		}
		return abs, filepath.Dir(abs), nil
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	start, err := filepath.Abs(paths[0])
	if err != nil {
		return "", "", err
	}
	if st, err := os.Stat(start); err != nil {
		return "", "", err
	} else if !st.IsDir() {
		start = filepath.Dir(start)
	}
	for dir := start; ; {
		f := filepath.Join(dir, library.StateDir, DefaultName)
		if _, err := os.Stat(f); err == nil {
			return f, dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return filepath.Join(start, library.StateDir, DefaultName), start, nil
}

// Open opens the index file at path, creating it (and its folder) when
// missing and migrating an older schema. root is the folder stored paths
// are relative to.
func Open(ctx context.Context, path, root string) (*Index, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	// synchronous=NORMAL in WAL mode never corrupts and loses nothing on a
	// process kill (only, on power loss, the last commits); immediate
	// transactions take the write lock up front, so writers queue instead
	// of failing mid-way.
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() +
		"?_synchronous=NORMAL&_busy_timeout=30000&_txlock=immediate&_foreign_keys=1"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	ix := &Index{db: db, path: abs, root: root, lock: flock.New(abs + ".lock")}
	if err := ix.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	return ix, nil
}

// Path is the index file.
func (ix *Index) Path() string { return ix.path }

// Root is the folder stored paths are relative to.
func (ix *Index) Root() string { return ix.root }

// Close closes the database.
func (ix *Index) Close() error { return ix.db.Close() }

// migrations[i] takes the schema from version i to i+1.
var migrations = []string{
	`CREATE TABLE models (
		id       INTEGER PRIMARY KEY,
		repo     TEXT NOT NULL,
		revision TEXT NOT NULL,
		variant  TEXT NOT NULL,
		digest   TEXT NOT NULL,
		name     TEXT NOT NULL,
		dim      INTEGER NOT NULL,
		UNIQUE (repo, revision, variant, digest)
	);
	-- The library as last seen: one row per image path.
	CREATE TABLE files (
		path  TEXT PRIMARY KEY,
		size  INTEGER NOT NULL,
		mtime INTEGER NOT NULL, -- nanoseconds since 1970
		hash  BLOB NOT NULL     -- sha256 of the contents
	) WITHOUT ROWID;
	CREATE INDEX files_hash ON files (hash);
	-- One row per distinct content and model: a vector, or why there is none.
	-- A rowid table: rows are appended, so pages fill up (keyed on the
	-- random hash, pages split and stay a third empty).
	CREATE TABLE vectors (
		id     INTEGER PRIMARY KEY,
		model  INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
		hash   BLOB NOT NULL,
		vector BLOB,            -- little-endian float32
		error  TEXT,
		UNIQUE (model, hash),
		CHECK ((vector IS NULL) != (error IS NULL))
	);`,
	// Models are found by hybridembed.ModelInfo.Key, which covers every file
	// and setting that changes vectors. The rows of version 1 keep their
	// graph-only digest there, which no Key equals: their vectors are not
	// found again (they could be another model's), and the library is
	// embedded again.
	`ALTER TABLE models RENAME COLUMN digest TO key;
	CREATE INDEX models_key ON models (key);`,
}

// migrate brings the schema to the newest version in one transaction, so
// two processes opening a new index at once cannot both create it.
func (ix *Index) migrate(ctx context.Context) error {
	conn, err := ix.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Both settings stick to the file, and page_size only takes on a new
	// one. 32 KiB pages hold fifteen 512-d vectors; at 4 KiB each 2 KiB
	// vector would take a page of its own.
	// WAL lets searches read while an update writes.
	for _, pragma := range []string{"PRAGMA page_size = 32768", "PRAGMA journal_mode = WAL"} {
		if _, err := conn.ExecContext(ctx, pragma); err != nil {
			return err
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("%w (version %d; this one reads up to %d)", ErrSchema, version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	for _, m := range migrations[version:] {
		if _, err := tx.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("migrating the schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// Model identifies the model that made a set of vectors. Vectors are
// shared only between models with the same Key ([hybridembed.ModelInfo.Key]:
// every file and setting that changes them); Repo, Revision and Variant are
// recorded for people reading the index.
type Model struct {
	Name     string // as the user named it, for display
	Key      string
	Repo     string
	Revision string
	Variant  string
	Dim      int
}

// ModelOf is the index's identity for the model info describes.
func ModelOf(info hybridembed.ModelInfo) Model {
	return Model{Name: info.Name, Key: info.Key(), Repo: info.Repo, Revision: info.Revision, Variant: info.Variant, Dim: info.Dim}
}

func (m Model) check() error {
	if m.Key == "" {
		return errors.New("the model has no identity: its files are not on this machine")
	}
	if m.Dim <= 0 {
		return fmt.Errorf("model %s: unknown vector size", m.Name)
	}
	return nil
}

// modelID finds the model's row; with create, it adds one when missing.
// ok is false when the model has no row.
func (ix *Index) modelID(ctx context.Context, m Model, create bool) (id int64, ok bool, err error) {
	err = ix.db.QueryRowContext(ctx, `SELECT id, dim FROM models WHERE key=?`, m.Key).Scan(&id, new(int))
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) || !create {
		return 0, false, nilIfNoRows(err)
	}
	res, err := ix.db.ExecContext(ctx, `INSERT INTO models (repo, revision, variant, key, name, dim) VALUES (?,?,?,?,?,?)`,
		m.Repo, m.Revision, m.Variant, m.Key, m.Name, m.Dim)
	if err != nil {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

func nilIfNoRows(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// rel turns a path as given on the command line into the stored form:
// relative to the root, with forward slashes ("." for the root itself).
func (ix *Index) rel(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	r, err := filepath.Rel(ix.root, abs)
	if err != nil {
		return "", fmt.Errorf("%s is not under the index root %s: %w", path, ix.root, err)
	}
	return filepath.ToSlash(r), nil
}

// Abs turns a stored path back into one on this machine.
func (ix *Index) Abs(rel string) string { return filepath.Join(ix.root, filepath.FromSlash(rel)) }

// scope is the stored paths a set of arguments covers: exact names and
// folder prefixes.
type scope []string

func (ix *Index) scope(paths []string) (scope, error) {
	var s scope
	for _, p := range paths {
		r, err := ix.rel(p)
		if err != nil {
			return nil, err
		}
		s = append(s, r)
	}
	return s, nil
}

// where is the SQL condition (on column path) for the scope, with its
// arguments: ranges on the primary key, so a subfolder reads only its rows.
func (s scope) where() (string, []any) {
	var conds []string
	var args []any
	for _, p := range s {
		if p == "." {
			return "path NOT LIKE '../%'", nil
		}
		// '0' is the byte after '/': [p/, p0) is everything under p.
		conds = append(conds, "(path = ? OR (path >= ? AND path < ?))")
		args = append(args, p, p+"/", p+"0")
	}
	return strings.Join(conds, " OR "), args
}
