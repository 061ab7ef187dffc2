package ort

import (
	"fmt"
	"math"
	"strings"
)

// ElementType is a tensor's element type, as a model declares it.
type ElementType int

// The element types hybridembed feeds or reads; anything else is Other.
const (
	TypeOther ElementType = iota
	TypeFloat32
	TypeFloat16
	TypeInt64
	TypeInt32
	TypeUint8
)

func (t ElementType) String() string {
	switch t {
	case TypeFloat32:
		return "float32"
	case TypeFloat16:
		return "float16"
	case TypeInt64:
		return "int64"
	case TypeInt32:
		return "int32"
	case TypeUint8:
		return "uint8"
	}
	return "unsupported type"
}

// IOInfo describes one declared input or output. Dynamic dimensions are -1.
type IOInfo struct {
	Name  string
	Type  ElementType
	Shape []int64
	// Tensor is false for sequences, maps and other non-tensor values.
	Tensor bool
}

func (i IOInfo) String() string {
	dims := make([]string, len(i.Shape))
	for k, d := range i.Shape {
		if d < 0 {
			dims[k] = "?"
		} else {
			dims[k] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%s %s[%s]", i.Name, i.Type, strings.Join(dims, ","))
}

// Tensor is a dense row-major tensor in Go memory. Exactly one of Int64,
// Float32 and Uint8 holds the data; [Session.Run] converts Int64 and
// Float32 to the declared type, and feeds Uint8 (image bytes) to uint8
// inputs only.
type Tensor struct {
	Shape   []int64
	Int64   []int64
	Float32 []float32
	Uint8   []uint8
}

// Len is the number of elements the shape calls for.
func (t Tensor) Len() int {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return int(n)
}

func (t Tensor) check(name string) error {
	want := t.Len()
	switch {
	case t.Int64 != nil && len(t.Int64) != want:
		return fmt.Errorf("input %s: shape %v needs %d values, got %d", name, t.Shape, want, len(t.Int64))
	case t.Float32 != nil && len(t.Float32) != want:
		return fmt.Errorf("input %s: shape %v needs %d values, got %d", name, t.Shape, want, len(t.Float32))
	case t.Uint8 != nil && len(t.Uint8) != want:
		return fmt.Errorf("input %s: shape %v needs %d values, got %d", name, t.Shape, want, len(t.Uint8))
	case t.Int64 == nil && t.Float32 == nil && t.Uint8 == nil:
		return fmt.Errorf("input %s: no data", name)
	}
	return nil
}

// Float32ToFloat16 converts with round-to-nearest-even, as numpy does.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127+15 >= 0x1f: // overflow
		return sign | 0x7c00
	case exp-127+15 <= 0: // subnormal or zero in half precision
		e := exp - 127 + 15
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	e := uint16(exp - 127 + 15)
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is still correct
	}
	return sign | uint16(half)
}

// Float16ToFloat32 widens exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Normalise the subnormal.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
