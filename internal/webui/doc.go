// Package webui is the photo-library search page that `hybridembed serve
// --library DIR` serves: a search box (text with the CLI's weighted + and
// - terms, or an image dropped or pasted on the page), results as a grid
// of previews, a photo's view, and the indexing progress.
//
// The page is a view of the same index `hybridembed index` keeps
// (internal/index): each library is indexed in the background with
// [index.Index.Update], under the same data-safety rules, and kept current
// by file-system notifications where the platform has them and by
// periodic rescans. Searches scan the loaded vectors exactly, as `search`
// does.
//
// What a client can name is a photo's id, never a path: originals and
// previews are served only for files in the index, opened through an
// [os.Root] of their library, so neither "..", an encoded separator, an
// absolute path nor a symbolic link out of the library reaches anything
// else. The page, its script and its styles are embedded; a
// Content-Security-Policy keeps the browser from loading anything from
// elsewhere. It is read-only: nothing on the page changes or deletes a
// file.
//
// Handlers follow miniflux's internal/ui: one file per page or action,
// the session and request guards in middleware.go.
package webui
