package ort

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// addChain is an ONNX model y = x + w0 + w1 + ... over n float32s, with k
// weights of n floats each in the graph (raw_data): a model whose weights
// are k*n*4 bytes in blocks of n*4, as a transformer's are.
func addChain(k, n int) []byte {
	var graph []byte
	in := "x"
	for i := range k {
		w := pbVarint(nil, 1, uint64(n))
		w = pbVarint(w, 2, 1) // FLOAT
		w = pbString(w, 8, fmt.Sprintf("w%d", i))
		data := make([]byte, 0, 4*n)
		for j := range n {
			data = protowire.AppendFixed32(data, math.Float32bits(float32(i+j%7)))
		}
		w = pbBytes(w, 9, data) // raw_data
		graph = pbBytes(graph, 5, w)
		out := fmt.Sprintf("y%d", i)
		if i == k-1 {
			out = "y"
		}
		node := pbString(pbString(pbString(pbString(nil, 1, in), 1, fmt.Sprintf("w%d", i)), 2, out), 4, "Add")
		graph = pbBytes(graph, 1, node)
		in = out
	}
	graph = pbString(graph, 2, "hybridembed-add-chain")
	graph = pbBytes(graph, 11, pbValueInfo("x", uint64(n)))
	graph = pbBytes(graph, 12, pbValueInfo("y", uint64(n)))
	model := pbVarint(nil, 1, 8)
	model = pbBytes(model, 7, graph)
	return pbBytes(model, 8, pbVarint(nil, 2, 17))
}
