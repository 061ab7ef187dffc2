package ort

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// probeGraph is an ONNX model of one 1x1 convolution, x [1,3,4,4] -> y
// [1,2,4,4] with fixed weights, written field by field (onnx.proto's
// ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto), and the
// output it must give for probeInput. A convolution, because on CUDA it
// runs through cuDNN, which the image towers' patch embeddings need.
func probeGraph() (model []byte, want []float32) {
	weights := []float32{0.5, -1, 2, 1.5, 0.25, -0.75} // [2,3,1,1]
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	str := func(b []byte, num protowire.Number, s string) []byte { return bytesField(b, num, []byte(s)) }
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	// ValueInfoProto{name, type: TypeProto{tensor_type{elem_type FLOAT, shape}}}
	valueInfo := func(name string, dims ...uint64) []byte {
		var shape []byte
		for _, d := range dims {
			shape = bytesField(shape, 1, varint(nil, 1, d)) // dim { dim_value }
		}
		tensor := bytesField(varint(nil, 1, 1), 2, shape)
		return bytesField(str(nil, 1, name), 2, bytesField(nil, 1, tensor))
	}
	var w []byte // TensorProto{dims, data_type FLOAT, float_data (packed), name}
	for _, d := range []uint64{2, 3, 1, 1} {
		w = varint(w, 1, d)
	}
	w = varint(w, 2, 1)
	var data []byte
	for _, f := range weights {
		data = protowire.AppendFixed32(data, math.Float32bits(f))
	}
	w = bytesField(w, 4, data)
	w = str(w, 8, "w")
	node := str(str(str(str(nil, 1, "x"), 1, "w"), 2, "y"), 4, "Conv")
	var graph []byte
	graph = bytesField(graph, 1, node)
	graph = str(graph, 2, "hybridembed-probe")
	graph = bytesField(graph, 5, w)
	graph = bytesField(graph, 11, valueInfo("x", 1, 3, 4, 4))
	graph = bytesField(graph, 12, valueInfo("y", 1, 2, 4, 4))
	model = varint(nil, 1, 8)                        // ir_version
	model = str(model, 2, "hybridembed")             // producer_name
	model = bytesField(model, 7, graph)              // graph
	model = bytesField(model, 8, varint(nil, 2, 17)) // opset_import { version 17 } (default domain)

	x := probeInput()
	want = make([]float32, 2*16)
	for o := range 2 {
		for p := range 16 {
			var s float32
			for c := range 3 {
				s += weights[o*3+c] * x[c*16+p]
			}
			want[o*16+p] = s
		}
	}
	return model, want
}

// probeInput is the probe's x: distinct values per channel and pixel.
func probeInput() []float32 {
	x := make([]float32, 3*16)
	for i := range x {
		x[i] = float32(i%7) - 2.5 + float32(i/16)
	}
	return x
}
