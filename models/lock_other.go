//go:build !unix

package models

import "context"

// fileLock is a no-op where flock is unavailable; downloads still write to
// temporary names and rename, so a race costs a duplicate download, not a
// corrupt file.
func fileLock(context.Context, string) (func(), error) { return func() {}, nil }
