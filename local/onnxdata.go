package local

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hybridembed/hybridembed/internal/filever"
)

// ExternalData lists the files an ONNX graph keeps tensors in outside itself
// (a TensorProto whose data_location is EXTERNAL, its external_data
// "location" relative to the graph's folder, which is where ONNX Runtime
// looks), absolute and each once. It reads the protobuf wire format and
// seeks over tensor bytes, so a graph with its weights inside costs a few
// reads, not a read of the whole file; results are kept per file version.
func ExternalData(graph string) ([]string, error) {
	f, err := os.Open(graph)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	key := externalKey{graph, filever.Of(st)}
	if v, ok := externalMemo.Load(key); ok {
		return v.([]string), nil
	}
	w := &protoWalker{f: f, br: bufio.NewReaderSize(f, 64<<10), size: st.Size(), seen: map[string]bool{}}
	if err := w.message(st.Size(), pbModel, 0); err != nil {
		return nil, fmt.Errorf("%s: reading the ONNX graph: %w", graph, err)
	}
	out := make([]string, len(w.locations))
	for i, loc := range w.locations {
		if filepath.IsAbs(loc) {
			out[i] = filepath.Clean(loc)
		} else {
			out[i] = filepath.Join(filepath.Dir(graph), filepath.FromSlash(loc))
		}
	}
	externalMemo.Store(key, out)
	return out, nil
}

var externalMemo sync.Map // externalKey -> []string

type externalKey struct {
	path    string
	version filever.Version
}

// The ONNX messages on the way from a ModelProto to its tensors (onnx.proto).
type pbKind int

const (
	pbModel pbKind = iota
	pbGraph
	pbNode
	pbAttribute
	pbTensor
	pbSparseTensor
	pbFunction
)

// pbChildren are, per message, the fields that hold messages which may hold
// tensors; every other field is skipped unread.
var pbChildren = map[pbKind]map[uint64]pbKind{
	pbModel:        {7: pbGraph, 25: pbFunction},                                                                 // graph, functions
	pbGraph:        {1: pbNode, 5: pbTensor, 15: pbSparseTensor},                                                 // node, initializer, sparse_initializer
	pbNode:         {5: pbAttribute},                                                                             // attribute
	pbAttribute:    {5: pbTensor, 6: pbGraph, 10: pbTensor, 11: pbGraph, 22: pbSparseTensor, 23: pbSparseTensor}, // t, g, tensors, graphs, sparse_tensor(s)
	pbSparseTensor: {1: pbTensor, 2: pbTensor},                                                                   // values, indices
	pbFunction:     {7: pbNode},                                                                                  // node
}

const (
	tensorExternalData = 13 // repeated StringStringEntryProto
	tensorDataLocation = 14 // enum; EXTERNAL = 1
	maxProtoDepth      = 64 // graphs nest in If and Loop attributes
	maxEntryBytes      = 1 << 16
)

var errTruncated = errors.New("truncated or malformed protobuf")

type protoWalker struct {
	f         *os.File
	br        *bufio.Reader
	off, size int64
	locations []string
	seen      map[string]bool
}

func (w *protoWalker) ReadByte() (byte, error) {
	b, err := w.br.ReadByte()
	if err == nil {
		w.off++
	} else if err == io.EOF {
		err = errTruncated
	}
	return b, err
}

func (w *protoWalker) uvarint() (uint64, error) { return binary.ReadUvarint(w) }

// skip moves n bytes on, seeking when they are not buffered.
func (w *protoWalker) skip(n int64) error {
	if n <= int64(w.br.Buffered()) {
		_, err := w.br.Discard(int(n))
		w.off += n
		return err
	}
	w.off += n
	if _, err := w.f.Seek(w.off, io.SeekStart); err != nil {
		return err
	}
	w.br.Reset(w.f)
	return nil
}

func (w *protoWalker) bytes(n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(w.br, b); err != nil {
		return nil, errTruncated
	}
	w.off += n
	return b, nil
}

// message walks one message of kind that ends at offset end.
func (w *protoWalker) message(end int64, kind pbKind, depth int) error {
	if depth > maxProtoDepth {
		return fmt.Errorf("messages nested deeper than %d", maxProtoDepth)
	}
	var location string
	external := false
	for w.off < end {
		tag, err := w.uvarint()
		if err != nil {
			return err
		}
		num, typ := tag>>3, tag&7
		switch typ {
		case 0: // varint
			v, err := w.uvarint()
			if err != nil {
				return err
			}
			if kind == pbTensor && num == tensorDataLocation {
				external = v == 1
			}
		case 1: // fixed64
			err = w.skip(8)
		case 5: // fixed32
			err = w.skip(4)
		case 2: // length-delimited
			n, err := w.uvarint()
			if err != nil {
				return err
			}
			if n > uint64(end-w.off) {
				return errTruncated
			}
			sub := w.off + int64(n)
			switch child, ok := pbChildren[kind][num]; {
			case ok:
				err = w.message(sub, child, depth+1)
			case kind == pbTensor && num == tensorExternalData:
				var k, v string
				if k, v, err = w.entry(sub); k == "location" {
					location = v
				}
			default:
				err = w.skip(int64(n))
			}
			if err != nil {
				return err
			}
		default: // groups, deprecated and not in ONNX
			return fmt.Errorf("wire type %d: %w", typ, errTruncated)
		}
		if err != nil {
			return err
		}
	}
	if w.off != end || end > w.size {
		return errTruncated
	}
	if external && location != "" && !w.seen[location] {
		w.seen[location] = true
		w.locations = append(w.locations, location)
	}
	return nil
}

// entry reads a StringStringEntryProto (key 1, value 2).
func (w *protoWalker) entry(end int64) (key, value string, err error) {
	if end-w.off > maxEntryBytes {
		return "", "", fmt.Errorf("an external_data entry of %d bytes", end-w.off)
	}
	b, err := w.bytes(end - w.off)
	if err != nil {
		return "", "", err
	}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 || tag&7 != 2 {
			return "", "", errTruncated
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", "", errTruncated
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		switch tag >> 3 {
		case 1:
			key = s
		case 2:
			value = s
		}
	}
	return key, value, nil
}
