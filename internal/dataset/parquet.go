package dataset

import (
	"bufio"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/hybridembed/hybridembed/internal/atomicfile"

	"github.com/parquet-go/parquet-go"
)

// Row is one input in a Parquet dataset. Failed inputs have Error set and
// no embedding; they are committed like the others, so a rerun does not
// try them again.
type Row struct {
	Path     string `parquet:"path,zstd"`
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

var chunkRe = regexp.MustCompile(`^part-(\d{5})-of-(\d{5})-(\d{5})\.parquet$`)

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

// writeChunk writes rows to dir/name atomically (see atomicfile): a
// reader sees the whole chunk or none of it.
func writeChunk(dir, name string, rows []Row) error {
	return atomicfile.Write(filepath.Join(dir, name), func(bw *bufio.Writer) error {
		w := parquet.NewGenericWriter[Row](bw, parquet.Compression(&parquet.Zstd),
			parquet.CreatedBy("hybridembed", "", ""))
		if _, err := w.Write(rows); err != nil {
			return err
		}
		return w.Close()
	})
}

// ReadRows reads a chunk file whole.
func ReadRows(path string) ([]Row, error) {
	rows, err := parquet.ReadFile[Row](path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return rows, nil
}

// committed is what resuming needs of a committed row: everything but the
// vector, whose column is most of a chunk and is never read for it.
type committed struct {
	Path     string  `parquet:"path"`
	Model    string  `parquet:"model"`
	Revision string  `parquet:"revision"`
	Variant  string  `parquet:"variant"`
	Dim      int32   `parquet:"dim"`
	Error    *string `parquet:"error,optional"`
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
