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

// Collect expands folders (as library.Walk does) and, when filesFrom is
// set, reads one path per line from that file ("-": stdin), for inputs a
// cluster lists once. Unreadable paths are problems; the rest goes on.
func Collect(args []string, filesFrom string, stdin io.Reader) ([]Input, []library.Problem, error) {
	var inputs []Input
	var problems []library.Problem
	for _, arg := range args {
		files, probs := library.Walk([]string{arg})
		problems = append(problems, probs...)
		st, err := os.Stat(arg)
		isDir := err == nil && st.IsDir()
		for _, f := range files {
			key := filepath.ToSlash(filepath.Clean(f.Path))
			if isDir {
				if rel, err := filepath.Rel(arg, f.Path); err == nil {
					key = filepath.ToSlash(rel)
				}
			}
			inputs = append(inputs, Input{Path: f.Path, Key: key})
		}
	}
	if filesFrom == "" {
		return inputs, problems, nil
	}
	r := stdin
	if filesFrom != "-" {
		f, err := os.Open(filesFrom)
		if err != nil {
			return nil, nil, fmt.Errorf("--files-from: %w", err)
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
		inputs = append(inputs, Input{Path: line, Key: filepath.ToSlash(filepath.Clean(line))})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("--files-from %s: %w", filesFrom, err)
	}
	return inputs, problems, nil
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
