package models

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// fileLock holds an exclusive lock on path (flock on Unix, LockFileEx on
// Windows, through gofrs/flock), waiting for it as long as ctx allows.
// huggingface_hub locks the same way, per blob, under .locks/, so two
// downloaders of one file take turns. The lock file is made 0666 less the
// umask (gofrs/flock's default is 0600) and opened read-only, so that
// another user of a shared cache can open and lock it too.
func fileLock(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return nil, err
	}
	l := flock.New(path, flock.SetPermissions(0o666))
	if _, err := l.TryLockContext(ctx, 100*time.Millisecond); err != nil {
		return nil, err
	}
	return func() { _ = l.Unlock() }, nil
}
