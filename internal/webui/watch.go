package webui

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/hybridembed/hybridembed/internal/library"
)

// notifyWorks says where file notifications can keep a whole library
// current. On macOS and the BSDs fsnotify uses kqueue, which holds a file
// descriptor open for every file watched: a photo library would exhaust
// them, so the periodic rescan does the work there.
var notifyWorks = runtime.GOOS == "linux" || runtime.GOOS == "windows"

// watch starts notifications for the library's folders, poking the
// library on every change to an image or a folder. It returns nil, having
// said why, when notifications cannot cover the library: then only the
// periodic rescans keep it current.
func (l *folder) watch(ctx context.Context) *fsnotify.Watcher {
	if !l.ui.cfg.Notify || !notifyWorks {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		l.ui.log.Warn("no file notifications: rescanning periodically instead", "library", l.name, "error", err.Error())
		return nil
	}
	if err := l.addTree(w, l.dir); err != nil {
		w.Close()
		msg := err.Error()
		if errors.Is(err, syscall.ENOSPC) {
			msg = "more folders than the system lets one process watch (raise fs.inotify.max_user_watches): " + msg
		}
		l.ui.log.Warn("no file notifications: rescanning periodically instead", "library", l.name, "error", msg)
		return nil
	}
	l.setStatus(func(s *Status) { s.Watching = true })
	go func() {
		defer l.setStatus(func(s *Status) { s.Watching = false })
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				l.event(w, ev)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow lost events: only a rescan knows what changed.
				l.ui.log.Warn("file notifications", "library", l.name, "error", err.Error())
				l.poke()
			}
		}
	}()
	return w
}

// event pokes the library for a change that may touch its images. Writes
// to the index and to files that are not images are ignored.
func (l *folder) event(w *fsnotify.Watcher, ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod || inStateDir(l.dir, ev.Name) {
		return
	}
	if ev.Has(fsnotify.Create) {
		if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
			_ = l.addTree(w, ev.Name) // a folder moved or copied in
			l.poke()
			return
		}
	}
	switch {
	case library.IsImageName(ev.Name):
		l.poke()
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		l.poke() // perhaps a folder of images
	}
}

// addTree watches dir and every folder below it but the index's own, and
// not folders reached through links (the walk does not follow them).
func (l *folder) addTree(w *fsnotify.Watcher, dir string) error {
	start := dir
	if st, err := os.Lstat(dir); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		start += string(filepath.Separator) // a link to the library: walk what it names
	}
	return filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != start {
				return fs.SkipDir // unreadable: the walk reports it
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == library.StateDir {
			return fs.SkipDir
		}
		return w.Add(p)
	})
}

func inStateDir(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	return first == library.StateDir
}
