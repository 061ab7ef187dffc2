// Package localtest builds local engines for tests.
package localtest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// Engine returns a CPU engine for tests, closed when the test ends. It
// skips the test when ONNX Runtime is not installed (fails instead when
// $HYBRIDEMBED_REQUIRE_ORT is set, as make test does).
func Engine(tb testing.TB, opts local.Options) *local.Engine {
	tb.Helper()
	orttest.Init(tb)
	if opts.Device == "" {
		opts.Device = ort.DeviceCPU
	}
	e := local.New(opts)
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("closing engine: %v", err)
		}
	})
	return e
}

// ExternalWeights copies the ONNX graph src to dst with the bytes of every
// initializer moved into the file dataName beside dst, as ONNX's
// save_model(..., save_as_external_data=True) stores large models: the
// tensors keep their names and shapes, with data_location EXTERNAL and
// external_data {location, offset, length}.
func ExternalWeights(tb testing.TB, src, dst, dataName string) {
	tb.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	var data []byte
	tensor := func(b []byte) []byte {
		var out, raw []byte
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeField(b)
			if n < 0 {
				tb.Fatalf("%s: bad tensor", src)
			}
			if num == 9 && typ == protowire.BytesType { // raw_data
				raw, _ = protowire.ConsumeBytes(b[protowire.SizeTag(num):n])
			} else {
				out = append(out, b[:n]...)
			}
			b = b[n:]
		}
		if raw == nil {
			return out
		}
		entry := func(k, v string) {
			var e []byte
			e = protowire.AppendTag(e, 1, protowire.BytesType)
			e = protowire.AppendString(e, k)
			e = protowire.AppendTag(e, 2, protowire.BytesType)
			e = protowire.AppendString(e, v)
			out = protowire.AppendTag(out, 13, protowire.BytesType)
			out = protowire.AppendBytes(out, e)
		}
		entry("location", dataName)
		entry("offset", strconv.Itoa(len(data)))
		entry("length", strconv.Itoa(len(raw)))
		out = protowire.AppendTag(out, 14, protowire.VarintType)
		out = protowire.AppendVarint(out, 1) // EXTERNAL
		data = append(data, raw...)
		for len(data)%4096 != 0 { // ONNX aligns offsets to pages
			data = append(data, 0)
		}
		return out
	}
	// rewrite replaces the length-delimited field num of msg with fn of it.
	rewrite := func(msg []byte, num protowire.Number, fn func([]byte) []byte) []byte {
		var out []byte
		for len(msg) > 0 {
			n0, typ, n := protowire.ConsumeField(msg)
			if n < 0 {
				tb.Fatalf("%s: bad protobuf", src)
			}
			if n0 == num && typ == protowire.BytesType {
				v, _ := protowire.ConsumeBytes(msg[protowire.SizeTag(n0):n])
				out = protowire.AppendTag(out, num, protowire.BytesType)
				out = protowire.AppendBytes(out, fn(v))
			} else {
				out = append(out, msg[:n]...)
			}
			msg = msg[n:]
		}
		return out
	}
	out := rewrite(in, 7, func(graph []byte) []byte { return rewrite(graph, 5, tensor) })
	if len(data) == 0 {
		tb.Fatalf("%s has no initializer with raw_data", src)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(dst), dataName), data, 0o644); err != nil {
		tb.Fatal(err)
	}
}
