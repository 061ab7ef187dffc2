package local

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hybridembed/hybridembed/internal/pooling"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

// Input names the towers know how to feed. A model that declares any other
// input is refused at load time with the list of what it declared.
// immich's graphs call the token ids "text" and the image "image".
var (
	textInputs   = []string{"input_ids", "attention_mask", "token_type_ids", "position_ids", "text"}
	visionInputs = []string{"pixel_values", "image"}
)

// signature is what a graph declares, read once before its session opens.
type signature struct {
	path    string
	inputs  []ort.IOInfo
	outputs []ort.IOInfo
}

func readSignature(path string) (signature, error) {
	// ReadInfo remembers a graph's signature per version of the graph file
	// alone, so a graph whose weights file went missing since is caught
	// here, named, rather than at its first batch. A graph this reader
	// cannot parse is left to ONNX Runtime's own error.
	if ext, err := ExternalData(path); err == nil {
		for _, p := range ext {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return signature{}, fmt.Errorf("%s keeps its tensors in %s, which is missing or not a file", path, p)
			}
		}
	}
	in, out, err := ort.ReadInfo(path)
	if err != nil {
		return signature{}, err
	}
	return signature{path, in, out}, nil
}

func (s signature) has(name string) bool {
	return slices.ContainsFunc(s.inputs, func(i ort.IOInfo) bool { return i.Name == name })
}

func (s signature) input(name string) ort.IOInfo {
	for _, i := range s.inputs {
		if i.Name == name {
			return i
		}
	}
	return ort.IOInfo{}
}

// idsInput is the token ids input (input_ids, or immich's text).
func (s signature) idsInput() ort.IOInfo {
	if s.has("input_ids") {
		return s.input("input_ids")
	}
	return s.input("text")
}

// imageInput is the image input and whether it is immich's newer uint8
// NHWC form (the rescale and normalisation inside the graph) rather than
// normalised float NCHW pixels.
func (s signature) imageInput() (ort.IOInfo, bool) {
	in := s.input("pixel_values")
	if in.Name == "" {
		in = s.input("image")
	}
	return in, in.Type == ort.TypeUint8 && len(in.Shape) == 4 && in.Shape[3] == 3
}

// batch is the batch size every input fixes (0 when it is dynamic): exports
// with a fixed batch of 1 take one input per run.
func (s signature) batch() int64 {
	var b int64
	for _, in := range s.inputs {
		if len(in.Shape) == 0 || in.Shape[0] <= 0 {
			return 0
		}
		b = in.Shape[0]
	}
	return b
}

func (s signature) describe() string {
	var in, out []string
	for _, i := range s.inputs {
		in = append(in, i.String())
	}
	for _, o := range s.outputs {
		out = append(out, o.String())
	}
	return fmt.Sprintf("inputs %s; outputs %s", strings.Join(in, ", "), strings.Join(out, ", "))
}

// pickOutput chooses the embedding output: the preferred names first, else
// the only rank-2 output. It returns the name and its static width (0 when
// dynamic).
func (s signature) pickOutput(preferred ...string) (string, int64, error) {
	for _, name := range preferred {
		for _, o := range s.outputs {
			if o.Name == name {
				return o.Name, lastDim(o), nil
			}
		}
	}
	var rank2 []ort.IOInfo
	for _, o := range s.outputs {
		if o.Tensor && len(o.Shape) == 2 {
			rank2 = append(rank2, o)
		}
	}
	if len(rank2) == 1 {
		return rank2[0].Name, lastDim(rank2[0]), nil
	}
	return "", 0, fmt.Errorf("%s: no embedding output (want one of %s, or a single [batch, dim] output); the graph has %s",
		s.path, strings.Join(preferred, ", "), s.describe())
}

func lastDim(o ort.IOInfo) int64 {
	if len(o.Shape) == 0 || o.Shape[len(o.Shape)-1] < 0 {
		return 0
	}
	return o.Shape[len(o.Shape)-1]
}

// checkInputs refuses graphs with inputs we would not know how to fill.
func (s signature) checkInputs(known ...[]string) error {
	for _, i := range s.inputs {
		ok := false
		for _, k := range known {
			if slices.Contains(k, i.Name) {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("%s: input %s is not one hybridembed can feed (it feeds %s)",
				s.path, i, strings.Join(slices.Concat(known...), ", "))
		}
	}
	return nil
}

// textTower runs a CLIP text tower, or the text half of a joint CLIPModel
// export (which also needs a pixel_values input; it gets one blank image).
type textTower struct {
	sess *ort.Session
	// exec runs the batches (sess, or a test's stand-in); oom splits those
	// the device has no memory for.
	exec  runner
	oom   oomSplit
	feeds []string
	dim   int64
	tok   *tokenize.Tokenizer
	// clean rewrites a text before it is tokenized (immich's clean_text);
	// nil leaves it as it is.
	clean  func(string) string
	pixels []int64 // joint models: the shape of the blank image to feed
	// pooling is set for graphs that return token states [rows][cols][dim]
	// (sentence encoders without pooling in the graph).
	pooling []string
	output  string
	batch   *batcher
}

// encode tokenizes one text as the tower is fed.
func (t *textTower) encode(s string) (tokenize.Encoding, error) {
	if t.clean != nil {
		s = t.clean(s)
	}
	return t.tok.Encode(s)
}

func (t *textTower) run(ctx context.Context, b tokenize.Batch) ([][]float32, error) {
	inputs := make([]ort.Tensor, len(t.feeds))
	shape := []int64{int64(b.Rows), int64(b.Cols)}
	for i, name := range t.feeds {
		switch name {
		case "input_ids", "text":
			inputs[i] = ort.Tensor{Shape: shape, Int64: b.IDs}
		case "attention_mask":
			inputs[i] = ort.Tensor{Shape: shape, Int64: b.AttentionMask}
		case "token_type_ids":
			inputs[i] = ort.Tensor{Shape: shape, Int64: b.TypeIDs}
		case "position_ids":
			pos := make([]int64, len(b.IDs))
			for k := range pos {
				pos[k] = int64(k % b.Cols)
			}
			inputs[i] = ort.Tensor{Shape: shape, Int64: pos}
		case "pixel_values":
			n := int64(1)
			for _, d := range t.pixels {
				n *= d
			}
			inputs[i] = ort.Tensor{Shape: t.pixels, Float32: make([]float32, n)}
		}
	}
	if t.pooling == nil {
		return runRows(ctx, t.exec, inputs, b.Rows, t.dim)
	}
	var shapes [][]int64
	if t.dim > 0 {
		shapes = [][]int64{{int64(b.Rows), int64(b.Cols), t.dim}}
	}
	out, err := t.exec.Run(ctx, inputs, shapes)
	if err != nil {
		return nil, err
	}
	o := out[0]
	if len(o.Shape) != 3 || o.Shape[0] != int64(b.Rows) || o.Shape[1] != int64(b.Cols) {
		return nil, fmt.Errorf("%s: token states have shape %v, want [%d, %d, hidden]", t.exec.Path(), o.Shape, b.Rows, b.Cols)
	}
	return pooling.Pool(o.Float32, b.AttentionMask, b.Rows, b.Cols, int(o.Shape[2]), t.pooling)
}

// visionTower runs a CLIP vision tower, or the image half of a joint export
// (fed a minimal [BOS, EOS] text).
type visionTower struct {
	sess  *ort.Session
	exec  runner // sess, or a test's stand-in
	oom   oomSplit
	feeds []string
	dim   int64
	proc  imageprep.Processor
	// nhwc: the graph takes the resized RGB bytes (uint8, NHWC) and
	// normalises them itself, as immich's newer exports do.
	nhwc  bool
	ids   []int64 // joint models: the token ids of the blank text
	batch *batcher
}

// run runs n images of h x w: normalised float CHW planes, or RGB bytes
// (HWC) for a graph that takes them.
func (v *visionTower) run(ctx context.Context, pixels []float32, rgb []uint8, n, h, w int) ([][]float32, error) {
	inputs := make([]ort.Tensor, len(v.feeds))
	for i, name := range v.feeds {
		switch name {
		case "pixel_values", "image":
			if v.nhwc {
				inputs[i] = ort.Tensor{Shape: []int64{int64(n), int64(h), int64(w), 3}, Uint8: rgb}
				continue
			}
			inputs[i] = ort.Tensor{Shape: []int64{int64(n), 3, int64(h), int64(w)}, Float32: pixels}
		case "input_ids":
			inputs[i] = ort.Tensor{Shape: []int64{1, int64(len(v.ids))}, Int64: v.ids}
		case "attention_mask", "token_type_ids", "position_ids":
			vals := make([]int64, len(v.ids))
			for k := range vals {
				switch name {
				case "attention_mask":
					vals[k] = 1
				case "position_ids":
					vals[k] = int64(k)
				}
			}
			inputs[i] = ort.Tensor{Shape: []int64{1, int64(len(v.ids))}, Int64: vals}
		}
	}
	return runRows(ctx, v.exec, inputs, n, v.dim)
}

// runRows runs a session whose single output is [rows, dim] and splits it.
func runRows(ctx context.Context, s runner, inputs []ort.Tensor, rows int, dim int64) ([][]float32, error) {
	var shapes [][]int64
	if dim > 0 {
		shapes = [][]int64{{int64(rows), dim}}
	}
	out, err := s.Run(ctx, inputs, shapes)
	if err != nil {
		return nil, err
	}
	o := out[0]
	if len(o.Shape) != 2 || o.Shape[0] != int64(rows) {
		return nil, fmt.Errorf("%s: output has shape %v, want [%d, dim]", s.Path(), o.Shape, rows)
	}
	d := int(o.Shape[1])
	vecs := make([][]float32, rows)
	for i := range vecs {
		vecs[i] = o.Float32[i*d : (i+1)*d : (i+1)*d]
	}
	return vecs, nil
}
