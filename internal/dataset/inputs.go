package dataset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hybridembed/hybridembed/internal/library"
)

// Input is one file to embed: its path as found, and the key that assigns
// it to a shard and that resuming knows it by: its path relative to the
// folder given, so that nodes that mount the data at different places, and
// a rerun after the data moved, agree. A file given by itself, or listed
// by --files-from, is keyed by its path as given.
type Input struct {
	Path string
	Key  string
}

// Problem is a path [Collect] could not read, with the key an input at
// that path would have, so that the shard that owns it reports it: "" for
// a folder (or a path that could not be looked at at all), whose files may
// be any shard's, so that every shard reports it.
type Problem struct {
	library.Problem
	Key string
}

// In reports whether shard s reports the problem: one of its inputs may be
// among what could not be read.
func (p Problem) In(s Shard) bool { return p.Key == "" || s.Owns(p.Key) }

// Collect expands folders (as walk.Walk does: hidden folders and OS
// clutter left out unless walk.IncludeHidden, what it left out counted in
// skipped) and, when filesFrom is set, reads one path per line from that
// file ("-": stdin), for inputs a cluster lists once; those are taken as
// listed. Unreadable paths are problems; the rest goes on.
func Collect(args []string, filesFrom string, stdin io.Reader, walk library.Options) (inputs []Input, problems []Problem, skipped library.Skipped, err error) {
	for _, arg := range args {
		res := walk.Walk([]string{arg})
		skipped.Add(res.Skipped)
		st, err := os.Stat(arg)
		isDir := err == nil && st.IsDir()
		for _, f := range res.Files {
			inputs = append(inputs, Input{Path: f.Path, Key: inputKey(arg, isDir, f.Path)})
		}
		for _, p := range res.Problems {
			key := ""
			if st, err := os.Lstat(p.Path); err == nil && !st.IsDir() {
				key = inputKey(arg, isDir, p.Path)
			}
			problems = append(problems, Problem{Problem: p, Key: key})
		}
	}
	if filesFrom == "" {
		return inputs, problems, skipped, nil
	}
	r := stdin
	if filesFrom != "-" {
		f, err := os.Open(filesFrom)
		if err != nil {
			return nil, nil, skipped, fmt.Errorf("--files-from: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		inputs = append(inputs, Input{Path: line, Key: inputKey(line, false, line)})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, skipped, fmt.Errorf("--files-from %s: %w", filesFrom, err)
	}
	return inputs, problems, skipped, nil
}

// inputKey is the key of the input at path, found under arg: its path
// relative to arg when arg is a folder, else the path as given.
func inputKey(arg string, argIsDir bool, path string) string {
	if argIsDir {
		if rel, err := filepath.Rel(arg, path); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(filepath.Clean(path))
}

// Select keeps the inputs the shard owns, in their order.
func Select(inputs []Input, s Shard) []Input {
	var out []Input
	for _, in := range inputs {
		if s.Owns(in.Key) {
			out = append(out, in)
		}
	}
	return out
}
