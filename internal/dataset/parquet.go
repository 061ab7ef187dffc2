package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// Row is one input in a Parquet dataset. Failed inputs have Error set and
// no embedding; they are committed like the others, so a rerun does not
// try them again.
type Row struct {
	Path string `parquet:"path,zstd"` // as found on the machine that embedded it
	// Key is what sharding and resuming know the input by: its path
	// relative to the folder given (the same on every node and mount),
	// or the path as listed for --files-from. "" in datasets written
	// before keys.
	Key      string `parquet:"key,zstd"`
	Model    string `parquet:"model,dict,zstd"`
	Revision string `parquet:"revision,dict,zstd"`
	Variant  string `parquet:"variant,dict,zstd"`
	// Provider is the inference provider of a remote vector ("" for
	// local ones). Chunks written before it existed read it as "".
	Provider  string    `parquet:"provider,dict,zstd"`
	Dim       int32     `parquet:"dim"`
	Embedding []float32 `parquet:"embedding,optional,list,zstd"`
	Error     *string   `parquet:"error,optional,zstd"`
	Size      int64     `parquet:"size"`
	Mtime     int64     `parquet:"mtime,timestamp(nanosecond)"`
	SHA256    string    `parquet:"sha256,zstd"` // hex, of the file's bytes
}

// chunkName is a committed chunk of shard s: part-K-of-N-C.parquet, so
// `DIR/*.parquet` globs read the dataset and names sort by shard, then
// chunk.
func chunkName(s Shard, c int) string {
	return fmt.Sprintf("part-%05d-of-%05d-%05d.parquet", s.K, s.N, c)
}

var chunkRe = regexp.MustCompile(`^part-(\d{5,})-of-(\d{5,})-(\d{5,})\.parquet$`)

// parseChunk reads a chunk file's name; ok is false for other files.
func parseChunk(name string) (s Shard, c int, ok bool) {
	m := chunkRe.FindStringSubmatch(name)
	if m == nil {
		return Shard{}, 0, false
	}
	s.K, _ = strconv.Atoi(m[1])
	s.N, _ = strconv.Atoi(m[2])
	c, _ = strconv.Atoi(m[3])
	return s, c, true
}

// commitChunk writes rows as chunk *next of shard s, atomically (a reader
// sees the whole chunk or none of it) and never over a file that exists:
// if that name is taken (a chunk restored by a sync, a second writer on a
// file system whose locks do not reach other nodes), the next number is
// tried. It returns the name committed; *next is past it.
func commitChunk(dir string, s Shard, next *int, rows []Row) (string, error) {
	for range 1000 {
		name := chunkName(s, *next)
		*next++
		err := writeChunk(filepath.Join(dir, name), rows)
		if !errors.Is(err, atomicfile.ErrExists) {
			return name, err
		}
	}
	return "", fmt.Errorf("%s: no free chunk name for shard %s", dir, s)
}

func writeChunk(path string, rows []Row) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := parquet.NewGenericWriter[Row](bw, parquet.Compression(&parquet.Zstd),
		parquet.CreatedBy("hybridembed", "", ""))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.CommitNew()
}

// ReadRows reads a chunk file whole.
func ReadRows(path string) ([]Row, error) {
	rows, err := parquet.ReadFile[Row](path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return rows, nil
}

// EachRow calls fn with every committed row of the dataset in dir, chunk
// by chunk in name order.
func EachRow(dir string, fn func(chunk string, r Row) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if _, _, ok := parseChunk(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		rows, err := ReadRows(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(name, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// committed is what resuming needs of a committed row: everything but the
// vector, whose column is most of a chunk and is never read for it.
type committed struct {
	Path  string  `parquet:"path"`
	Key   string  `parquet:"key"`
	Error *string `parquet:"error,optional"`
}

// readCommitted reads a chunk file's rows without their vectors (20 times
// faster than ReadRows on 512-wide vectors).
func readCommitted(path string) ([]committed, error) {
	rows, err := parquet.ReadFile[committed](path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return rows, nil
}
