package imageprep

import (
	"fmt"
	"image"
	"math"
)

// Filter is a PIL resampling filter, numbered as in preprocessor_config.json
// ("resample": 3 is BICUBIC).
type Filter int

// PIL's filter numbers.
const (
	Nearest  Filter = 0
	Lanczos  Filter = 1
	Bilinear Filter = 2
	Bicubic  Filter = 3
	Box      Filter = 4
	Hamming  Filter = 5
)

func (f Filter) String() string {
	switch f {
	case Nearest:
		return "nearest"
	case Lanczos:
		return "lanczos"
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case Box:
		return "box"
	case Hamming:
		return "hamming"
	}
	return fmt.Sprintf("filter(%d)", int(f))
}

type kernel struct {
	support float64
	fn      func(float64) float64
}

func (f Filter) kernel() (kernel, bool) {
	switch f {
	case Box:
		return kernel{0.5, func(x float64) float64 {
			if x > -0.5 && x <= 0.5 {
				return 1
			}
			return 0
		}}, true
	case Bilinear:
		return kernel{1, func(x float64) float64 {
			x = math.Abs(x)
			if x < 1 {
				return 1 - x
			}
			return 0
		}}, true
	case Hamming:
		return kernel{1, func(x float64) float64 {
			x = math.Abs(x)
			if x == 0 {
				return 1
			}
			if x >= 1 {
				return 0
			}
			x *= math.Pi
			return math.Sin(x) / x * (0.54 + 0.46*math.Cos(x))
		}}, true
	case Bicubic:
		const a = -0.5
		return kernel{2, func(x float64) float64 {
			x = math.Abs(x)
			if x < 1 {
				return ((a+2)*x-(a+3))*x*x + 1
			}
			if x < 2 {
				return (((x-5)*x+8)*x - 4) * a
			}
			return 0
		}}, true
	case Lanczos:
		sinc := func(x float64) float64 {
			if x == 0 {
				return 1
			}
			x *= math.Pi
			return math.Sin(x) / x
		}
		return kernel{3, func(x float64) float64 {
			if x >= -3 && x < 3 {
				return sinc(x) * sinc(x/3)
			}
			return 0
		}}, true
	}
	return kernel{}, false
}

// Vector kernel levels for the resampler (amd64).
const (
	simdNone = iota
	simdAVX2
	simdAVX512 // the horizontal pass; the vertical one stays AVX2
)

// useSIMD picks the kernels: the best the CPU has; tests lower it to check
// each level against the scalar code.
var useSIMD = maxSIMD

// precisionBits is Pillow's fixed-point precision for 8-bit images.
const precisionBits = 32 - 8 - 2

// coeffs are the fixed-point weights of one pass: output i reads inputs
// [start[i], start[i]+n[i]) with weights w[i*k : i*k+n[i]].
type coeffs struct {
	k     int
	start []int
	n     []int
	w     []int32
}

// precompute is Pillow's precompute_coeffs + normalize_coeffs_8bpc for the
// outputs [from, to) of an inSize -> outSize pass.
func precompute(inSize, outSize, from, to int, kn kernel) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterScale := math.Max(scale, 1)
	support := kn.support * filterScale
	k := int(math.Ceil(support))*2 + 1
	c := coeffs{k: k, start: make([]int, to-from), n: make([]int, to-from), w: make([]int32, (to-from)*k)}
	tmp := make([]float64, k)
	for xx := from; xx < to; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterScale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w := kn.fn((float64(x+xmin) - center + 0.5) * ss)
			tmp[x] = w
			ww += w
		}
		i := xx - from
		for x := 0; x < xmax; x++ {
			w := tmp[x]
			if ww != 0 {
				w /= ww
			}
			if w < 0 {
				c.w[i*k+x] = int32(-0.5 + w*(1<<precisionBits))
			} else {
				c.w[i*k+x] = int32(0.5 + w*(1<<precisionBits))
			}
		}
		c.start[i], c.n[i] = xmin, xmax
	}
	return c
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizeCrop resizes src to ow x oh as PIL's Image.resize does, but computes
// only the pixels inside crop (in output coordinates), which is what a
// center crop keeps. The result is bit-identical to resize-then-crop.
func resizeCrop(src *RGB, ow, oh int, f Filter, crop image.Rectangle) (*RGB, error) {
	if f == Nearest {
		return nearestCrop(src, ow, oh, crop), nil
	}
	kn, ok := f.kernel()
	if !ok {
		return nil, fmt.Errorf("unsupported resample filter %d", int(f))
	}
	cw, ch := crop.Dx(), crop.Dy()
	needH := ow != src.W
	needV := oh != src.H

	// Rows of src the vertical pass reads.
	var vc coeffs
	y0, y1 := crop.Min.Y, crop.Max.Y
	if needV {
		vc = precompute(src.H, oh, crop.Min.Y, crop.Max.Y, kn)
		y0, y1 = vc.start[0], vc.start[ch-1]+vc.n[ch-1]
		for i := range vc.start {
			y0 = min(y0, vc.start[i])
			y1 = max(y1, vc.start[i]+vc.n[i])
		}
	}

	// Horizontal pass: rows [y0, y1) of src, output columns of the crop.
	var mid *RGB
	if needH {
		hc := precompute(src.W, ow, crop.Min.X, crop.Max.X, kn)
		mid = &RGB{W: cw, H: y1 - y0, Pix: make([]uint8, cw*(y1-y0)*3)}
		horizontalPass(mid, src, y0, y1, &hc)
	} else {
		mid = &RGB{W: cw, H: y1 - y0, Pix: make([]uint8, cw*(y1-y0)*3)}
		for y := y0; y < y1; y++ {
			copy(mid.Pix[(y-y0)*cw*3:(y-y0+1)*cw*3], src.Pix[(y*src.W+crop.Min.X)*3:(y*src.W+crop.Max.X)*3])
		}
	}
	if !needV {
		return mid, nil
	}

	// Vertical pass, a row at a time: each output row accumulates whole
	// input rows, which streams through memory instead of striding down
	// columns.
	out := &RGB{W: cw, H: ch, Pix: make([]uint8, cw*ch*3)}
	stride := cw * 3
	// The AVX2 kernel does 32 bytes at a time; the scalar loop the rest.
	groups := 0
	if useSIMD >= simdAVX2 {
		groups = stride / 32
	}
	acc := make([]int32, stride)
	for y := 0; y < ch; y++ {
		w := vc.w[y*vc.k : y*vc.k+vc.n[y]]
		base := vc.start[y] - y0
		dst := out.Pix[y*stride : (y+1)*stride]
		from := 0
		if groups > 0 && len(w) > 0 {
			vrowAVX2(&dst[0], &mid.Pix[base*stride], stride, &w[0], len(w), groups)
			from = groups * 32
		}
		verticalRow(dst, mid.Pix[base*stride:], stride, w, acc, from)
	}
	return out, nil
}

// verticalRow computes dst[from:] (one output row of the vertical pass) from
// the rows of rows (stride bytes apart) weighted by w, with acc as scratch:
// each output row accumulates whole input rows, which streams through
// memory instead of striding down columns.
func verticalRow(dst, rows []uint8, stride int, w, acc []int32, from int) {
	if from >= stride {
		return
	}
	acc = acc[from:stride]
	for x := range acc {
		acc[x] = 1 << (precisionBits - 1)
	}
	for i, k := range w {
		row := rows[i*stride+from : (i+1)*stride]
		row = row[:len(acc)]
		for x, v := range row {
			acc[x] += int32(v) * k
		}
	}
	dst = dst[from:stride]
	dst = dst[:len(acc)]
	for x, v := range acc {
		dst[x] = clip8(v)
	}
}

// horizontalPass resamples rows [y0, y1) of src into mid's rows.
func horizontalPass(mid, src *RGB, y0, y1 int, hc *coeffs) {
	cw := mid.W
	if useSIMD == simdNone {
		for y := y0; y < y1; y++ {
			horizontalRow(mid.Pix[(y-y0)*cw*3:(y-y0+1)*cw*3], src.Pix[y*src.W*3:(y+1)*src.W*3], hc)
		}
		return
	}
	// AVX2 takes 2 pixels a step (8 lanes, 8 bytes read), AVX-512 5 (16
	// lanes, 16 bytes read).
	kernel, per, lanes := hrowAVX2, 2, 8
	if useSIMD >= simdAVX512 {
		kernel, per, lanes = hrowAVX512, 5, 16
	}
	sc := newChunkCoeffs(hc, per, lanes)
	var scratch []uint8
	for y := y0; y < y1; y++ {
		row := src.Pix[y*src.W*3:]
		// The kernel reads whole vectors, past the last tap: the image's
		// last rows go through a padded copy.
		if len(row) < sc.reach {
			if scratch == nil {
				scratch = make([]uint8, sc.reach)
			}
			clear(scratch[copy(scratch, row[:src.W*3]):])
			row = scratch
		}
		kernel(&mid.Pix[(y-y0)*cw*3], &row[0], &sc.off[0], &sc.chunks[0], &sc.w[0], sc.stride, cw)
	}
}

// chunkCoeffs are a horizontal pass's weights laid out for a vector
// kernel, which takes an output pixel's taps per input pixels (3*per
// bytes) at a time into lanes int32 lanes: output x reads chunks[x] chunks
// from byte off[x] of a row, weighted by w[x*stride:] as w0 w0 w0 w1 w1 w1
// ... 0 (lanes - 3*per zero weights) per chunk.
type chunkCoeffs struct {
	off, chunks []int32
	w           []int32
	stride      int
	reach       int // bytes past a row's start the kernel may read
}

func newChunkCoeffs(hc *coeffs, per, lanes int) *chunkCoeffs {
	n := len(hc.start)
	maxChunks := max(1, (hc.k+per-1)/per)
	sc := &chunkCoeffs{off: make([]int32, n), chunks: make([]int32, n), w: make([]int32, n*maxChunks*lanes), stride: maxChunks * lanes}
	for x := range n {
		c := max(1, (hc.n[x]+per-1)/per)
		sc.off[x], sc.chunks[x] = int32(hc.start[x]*3), int32(c)
		ws := sc.w[x*sc.stride:]
		for i, k := range hc.w[x*hc.k : x*hc.k+hc.n[x]] {
			j := (i/per)*lanes + (i%per)*3
			ws[j], ws[j+1], ws[j+2] = k, k, k
		}
		sc.reach = max(sc.reach, hc.start[x]*3+3*per*(c-1)+lanes)
	}
	return sc
}

// horizontalRow resamples one RGB row with the pass's coefficients.
func horizontalRow(out, in []uint8, hc *coeffs) {
	const half = int32(1) << (precisionBits - 1)
	for x := 0; x < len(out)/3; x++ {
		n := hc.n[x]
		w := hc.w[x*hc.k : x*hc.k+n]
		p := in[hc.start[x]*3 : (hc.start[x]+n)*3]
		p = p[:len(w)*3]
		s0, s1, s2 := half, half, half
		for i, k := range w {
			q := p[3*i : 3*i+3 : 3*i+3]
			s0 += int32(q[0]) * k
			s1 += int32(q[1]) * k
			s2 += int32(q[2]) * k
		}
		o := out[3*x : 3*x+3 : 3*x+3]
		o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
	}
}

// nearestCrop is PIL's NEAREST resize: each output pixel takes the input
// pixel under its centre.
func nearestCrop(src *RGB, ow, oh int, crop image.Rectangle) *RGB {
	out := &RGB{W: crop.Dx(), H: crop.Dy(), Pix: make([]uint8, crop.Dx()*crop.Dy()*3)}
	sx, sy := float64(src.W)/float64(ow), float64(src.H)/float64(oh)
	for y := crop.Min.Y; y < crop.Max.Y; y++ {
		iy := min(int((float64(y)+0.5)*sy), src.H-1)
		for x := crop.Min.X; x < crop.Max.X; x++ {
			ix := min(int((float64(x)+0.5)*sx), src.W-1)
			o := ((y-crop.Min.Y)*out.W + x - crop.Min.X) * 3
			copy(out.Pix[o:o+3], src.Pix[(iy*src.W+ix)*3:(iy*src.W+ix)*3+3])
		}
	}
	return out
}

// Resize resizes src to w x h as PIL's Image.resize does with filter f.
func Resize(src *RGB, w, h int, f Filter) (*RGB, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("resize to %dx%d: sizes must be positive", w, h)
	}
	return resizeCrop(src, w, h, f, image.Rect(0, 0, w, h))
}
