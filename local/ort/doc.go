// Package ort loads the ONNX Runtime shared library once per process and runs
// inference sessions on it, on the CPU or through CUDA.
//
// The library is found, in order, at the path given to [Init], at
// $ONNXRUNTIME_LIB, in hybridembed's cache
// ($HYBRIDEMBED_CACHE, else $XDG_CACHE_HOME/hybridembed, else
// ~/.cache/hybridembed; onnxruntime/GOOS-GOARCH/{gpu,cpu}/lib/, where
// scripts/install-onnxruntime.sh puts it) and then on the system loader path.
// ONNX Runtime's environment is process-global, so it is the one global this
// module keeps; everything else hangs off a [Session].
//
// Sessions feed a model what it declares: [Session.Inputs] reports names,
// element types and shapes, and [Session.Run] converts int64 ids to int32 and
// float32 pixels to float16 where a model asks for them, and float16 outputs
// back to float32.
//
// Local inference needs cgo. A build without it compiles, and [Init] then
// returns an error that says how to build with cgo.
package ort
