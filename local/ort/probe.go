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
	var w []byte                                       // TensorProto{dims, data_type FLOAT, float_data (packed), name}
	for _, d := range []uint64{2, 3, 1, 1} {
		w = pbVarint(w, 1, d)
	}
	w = pbVarint(w, 2, 1)
	var data []byte
	for _, f := range weights {
		data = protowire.AppendFixed32(data, math.Float32bits(f))
	}
	w = pbBytes(w, 4, data)
	w = pbString(w, 8, "w")
	node := pbString(pbString(pbString(pbString(nil, 1, "x"), 1, "w"), 2, "y"), 4, "Conv")
	var graph []byte
	graph = pbBytes(graph, 1, node)
	graph = pbString(graph, 2, "hybridembed-probe")
	graph = pbBytes(graph, 5, w)
	graph = pbBytes(graph, 11, pbValueInfo("x", 1, 3, 4, 4))
	graph = pbBytes(graph, 12, pbValueInfo("y", 1, 2, 4, 4))
	model = pbVarint(nil, 1, 8)                     // ir_version
	model = pbString(model, 2, "hybridembed")       // producer_name
	model = pbBytes(model, 7, graph)                // graph
	model = pbBytes(model, 8, pbVarint(nil, 2, 17)) // opset_import { version 17 } (default domain)

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

// The protobuf fields an ONNX graph is written with.
func pbBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func pbString(b []byte, num protowire.Number, s string) []byte { return pbBytes(b, num, []byte(s)) }

func pbVarint(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

// pbValueInfo is a ValueInfoProto{name, type: TypeProto{tensor_type{elem_type
// FLOAT, shape}}}.
func pbValueInfo(name string, dims ...uint64) []byte {
	var shape []byte
	for _, d := range dims {
		shape = pbBytes(shape, 1, pbVarint(nil, 1, d)) // dim { dim_value }
	}
	tensor := pbBytes(pbVarint(nil, 1, 1), 2, shape)
	return pbBytes(pbString(nil, 1, name), 2, pbBytes(nil, 1, tensor))
}

// probeInput is the probe's x: distinct values per channel and pixel.
func probeInput() []float32 {
	x := make([]float32, 3*16)
	for i := range x {
		x[i] = float32(i%7) - 2.5 + float32(i/16)
	}
	return x
}
