package index

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Imported is one image's state computed elsewhere (a dataset made on a
// cluster): its path on this machine, what it was when embedded, and its
// vector or why there is none.
type Imported struct {
	Path   string
	Size   int64
	Mtime  int64 // nanoseconds since 1970
	Hash   []byte
	Vector []float32
	Err    string
}

// Import adds rows to the index as if Update had embedded them: file rows
// and model's vectors, in transactions of a thousand. A later Update sees
// files whose size and modification time match as unchanged; others are
// hashed again and, with the same contents, reuse the imported vector.
// Vectors already stored for model are kept; those of contents a replaced
// row had, which no row has any more, are dropped with it.
func (ix *Index) Import(ctx context.Context, model Model, rows []Imported) (int, error) {
	if err := model.check(); err != nil {
		return 0, err
	}
	if err := ix.lockWrite(ctx, nil); err != nil {
		return 0, err
	}
	defer ix.unlockWrite()
	modelID, _, err := ix.modelID(ctx, model, true)
	if err != nil {
		return 0, err
	}
	n := 0
	for start := 0; start < len(rows); start += 1000 {
		batch := rows[start:min(start+1000, len(rows))]
		err := ix.inTx(ctx, func(tx *sql.Tx) error {
			file, err := tx.PrepareContext(ctx, `INSERT INTO files (path, size, mtime, hash) VALUES (?,?,?,?)
				ON CONFLICT (path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime, hash=excluded.hash`)
			if err != nil {
				return err
			}
			defer file.Close()
			vec, err := tx.PrepareContext(ctx, `INSERT INTO vectors (model, hash, vector, error) VALUES (?,?,?,?)
				ON CONFLICT (model, hash) DO NOTHING`)
			if err != nil {
				return err
			}
			defer vec.Close()
			was, err := tx.PrepareContext(ctx, `SELECT hash FROM files WHERE path = ?`)
			if err != nil {
				return err
			}
			defer was.Close()
			var dropped [][]byte // contents of rows this import replaces
			for _, r := range batch {
				if len(r.Hash) != 32 {
					return fmt.Errorf("import %s: no sha256 of its contents", r.Path)
				}
				var v, msg any
				switch {
				case r.Err != "":
					msg = r.Err
				case len(r.Vector) != model.Dim:
					return fmt.Errorf("import %s: %d numbers, the model makes %d", r.Path, len(r.Vector), model.Dim)
				default:
					v = encode(r.Vector)
				}
				rel, err := ix.rel(r.Path)
				if err != nil {
					return err
				}
				var old []byte
				switch err := was.QueryRowContext(ctx, rel).Scan(&old); {
				case err == nil && !bytes.Equal(old, r.Hash):
					dropped = append(dropped, old)
				case err != nil && !errors.Is(err, sql.ErrNoRows):
					return err
				}
				if _, err := file.ExecContext(ctx, rel, r.Size, r.Mtime, r.Hash); err != nil {
					return err
				}
				if _, err := vec.ExecContext(ctx, modelID, r.Hash, v, msg); err != nil {
					return err
				}
			}
			return purgeOrphans(ctx, tx, dropped)
		})
		if err != nil {
			return n, err
		}
		n += len(batch)
	}
	return n, nil
}

// Outside counts the rows whose paths are not at or under dir (the library
// they are to be imported into: rows elsewhere are never found by its
// updates and searches), and names the first.
func Outside(rows []Imported, dir string) (n int, first string, err error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return 0, "", err
	}
	for _, r := range rows {
		abs, err := filepath.Abs(r.Path)
		if err != nil {
			return 0, "", err
		}
		rel, err := filepath.Rel(root, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			if n++; first == "" {
				first = r.Path
			}
		}
	}
	return n, first, nil
}
