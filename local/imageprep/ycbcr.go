package imageprep

import "image"

// JPEG colour conversion as libjpeg(-turbo) does it, which is what PIL uses:
// "fancy" (triangle-filter) chroma upsampling, then fixed-point YCbCr->RGB
// tables. Go's image/jpeg replicates chroma instead, which costs up to ~18
// levels at colour edges after resizing.

const (
	jScaleBits = 16
	jOneHalf   = 1 << (jScaleBits - 1)
)

func jFix(x float64) int32 { return int32(x*(1<<jScaleBits) + 0.5) }

var jTabs = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		t.crR[i] = (jFix(1.40200)*x + jOneHalf) >> jScaleBits
		t.cbB[i] = (jFix(1.77200)*x + jOneHalf) >> jScaleBits
		t.crG[i] = -jFix(0.71414) * x
		t.cbG[i] = -jFix(0.34414)*x + jOneHalf
	}
	return t
}()

// rangeLimit clamps y+offset to 0..255 by lookup, as libjpeg's range_limit
// does: index v+384 for v in [-384, 640).
var rangeLimit = func() (t [1024]uint8) {
	for i := range t {
		t[i] = uint8(min(max(i-384, 0), 255))
	}
	return t
}()

// jpegRow converts one row of Y with already-upsampled chroma.
func jpegRow(dst []uint8, y, cb, cr []uint8) {
	cb, cr = cb[:len(y)], cr[:len(y)]
	dst = dst[:3*len(y)]
	for x, Y := range y {
		b, r := cb[x], cr[x]
		o := dst[3*x : 3*x+3 : 3*x+3]
		yy := int32(Y) + 384
		o[0] = rangeLimit[(yy+jTabs.crR[r])&1023]
		o[1] = rangeLimit[(yy+(jTabs.cbG[b]+jTabs.crG[r])>>jScaleBits)&1023]
		o[2] = rangeLimit[(yy+jTabs.cbB[b])&1023]
	}
}

// chromaPlanes gives the chroma geometry of m: how many output pixels one
// chroma sample spans horizontally and vertically, and the plane size.
func chromaPlanes(m *image.YCbCr) (hs, vs, cw, ch int) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	case image.YCbCrSubsampleRatio411:
		hs, vs = 4, 1
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	default:
		hs, vs = 1, 1
	}
	return hs, vs, (w + hs - 1) / hs, (h + vs - 1) / vs
}

// ycbcrToRGB converts a JPEG-style (JFIF, full range) YCbCr image.
func ycbcrToRGB(m *image.YCbCr, out *RGB) {
	w, h := out.W, out.H
	if m.Rect.Min != (image.Point{}) {
		// A sub-image: chroma siting is relative to a parent we cannot see,
		// so convert pixel by pixel with nearest chroma.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				ci := m.COffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				jpegRow(out.Pix[(y*w+x)*3:], m.Y[yi:yi+1], m.Cb[ci:ci+1], m.Cr[ci:ci+1])
			}
		}
		return
	}
	hs, vs, cw, ch := chromaPlanes(m)
	cb := make([]uint8, cw*hs+2)
	cr := make([]uint8, cw*hs+2)
	sums := make([]int32, cw)
	plane := func(p []uint8, row int) []uint8 { return p[row*m.CStride : row*m.CStride+cw] }
	for y := 0; y < h; y++ {
		for i, p := range [2][]uint8{m.Cb, m.Cr} {
			dst := cb
			if i == 1 {
				dst = cr
			}
			cy := y / vs
			switch {
			case hs == 1 && vs == 1:
				copy(dst, plane(p, y))
			case hs == 2 && vs == 1:
				upsampleH2(dst, plane(p, cy))
			case hs == 1 && vs == 2:
				near, far, bias := plane(p, cy), plane(p, neighbour(y, cy, ch)), int32(1)
				if y%2 == 1 {
					bias = 2
				}
				for x := 0; x < cw; x++ {
					dst[x] = uint8((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
				}
			case hs == 2 && vs == 2 && cw > 2:
				near, far := plane(p, cy), plane(p, neighbour(y, cy, ch))
				for x := 0; x < cw; x++ {
					sums[x] = 3*int32(near[x]) + int32(far[x])
				}
				upsampleH2V2(dst, sums)
			default: // libjpeg's plain replication (int_upsample, or h2v2 on tiny widths)
				row := plane(p, cy)
				for x := 0; x < cw*hs; x++ {
					dst[x] = row[x/hs]
				}
			}
		}
		jpegRow(out.Pix[y*w*3:(y+1)*w*3], m.Y[y*m.YStride:y*m.YStride+w], cb, cr)
	}
}

// neighbour is the second-nearest chroma row for output row y (the row
// above for the upper half of a chroma row, else the row below), clamped
// to the plane as libjpeg's context rows are.
func neighbour(y, cy, ch int) int {
	if y%2 == 0 {
		return max(cy-1, 0)
	}
	return min(cy+1, ch-1)
}

// upsampleH2 is libjpeg-turbo's h2v1_fancy_upsample (or plain replication
// for widths of two samples or fewer, as libjpeg does).
func upsampleH2(dst, in []uint8) {
	n := len(in)
	if n <= 2 {
		for i, v := range in {
			dst[2*i], dst[2*i+1] = v, v
		}
		return
	}
	dst[0] = in[0]
	dst[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int32(in[i])
		dst[2*i] = uint8((v + int32(in[i-1]) + 1) >> 2)
		dst[2*i+1] = uint8((v + int32(in[i+1]) + 2) >> 2)
	}
	dst[2*n-2] = uint8((3*int32(in[n-1]) + int32(in[n-2]) + 1) >> 2)
	dst[2*n-1] = in[n-1]
}

// upsampleH2V2 is the horizontal half of libjpeg-turbo's h2v2_fancy_upsample,
// over column sums 3*nearer + further.
func upsampleH2V2(dst []uint8, s []int32) {
	n := len(s)
	dst[0] = uint8((s[0]*4 + 8) >> 4)
	dst[1] = uint8((s[0]*3 + s[1] + 7) >> 4)
	for i := 1; i < n-1; i++ {
		dst[2*i] = uint8((s[i]*3 + s[i-1] + 8) >> 4)
		dst[2*i+1] = uint8((s[i]*3 + s[i+1] + 7) >> 4)
	}
	dst[2*n-2] = uint8((s[n-1]*3 + s[n-2] + 8) >> 4)
	dst[2*n-1] = uint8((s[n-1]*4 + 7) >> 4)
}

// WebP (VP8) stores limited-range BT.601 YUV 4:2:0, and libwebp, which PIL
// uses, upsamples chroma with its own "fancy" filter and converts with
// 14-bit fixed-point constants. Go's x/image/webp hands back the planes
// as an image.YCbCr, whose colour model assumes full-range JFIF.

func webpClip8(v int32) uint8 {
	const mask = (256 << 6) - 1
	if v&^mask == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

func multHi(v, c int32) int32 { return (v * c) >> 8 }

func webpRow(dst []uint8, y, u, v []uint8) {
	for x := range y {
		Y := multHi(int32(y[x]), 19077)
		U, V := int32(u[x]), int32(v[x])
		dst[3*x] = webpClip8(Y + multHi(V, 26149) - 14234)
		dst[3*x+1] = webpClip8(Y - multHi(U, 6419) - multHi(V, 13320) + 8708)
		dst[3*x+2] = webpClip8(Y + multHi(U, 33050) - 17685)
	}
}

// webpToRGB converts decoded VP8 planes as libwebp's EmitFancyRGB does.
func webpToRGB(m *image.YCbCr, out *RGB) {
	w, h := out.W, out.H
	_, _, cw, ch := chromaPlanes(m)
	u := make([]uint8, w+1)
	v := make([]uint8, w+1)
	plane := func(p []uint8, row int) []uint8 { return p[row*m.CStride : row*m.CStride+cw] }
	for y := 0; y < h; y++ {
		// An odd row is the top of a pair and leans on the chroma row above
		// it; an even row leans on its own. Edges repeat the last row.
		var top, cur []int
		var isTop bool
		if y%2 == 1 {
			top, cur, isTop = []int{(y - 1) / 2}, []int{min((y+1)/2, ch-1)}, true
		} else {
			top, cur = []int{max(y/2-1, 0)}, []int{y / 2}
		}
		for i, p := range [2][]uint8{m.Cb, m.Cr} {
			dst := u
			if i == 1 {
				dst = v
			}
			webpUpsampleRow(dst[:w], plane(p, top[0]), plane(p, cur[0]), isTop)
		}
		webpRow(out.Pix[y*w*3:(y+1)*w*3], m.Y[y*m.YStride:y*m.YStride+w], u[:w], v[:w])
	}
}

// webpUpsampleRow is one channel of libwebp's UpsampleRgbLinePair for the
// top (near t) or bottom (near c) row of a pair.
func webpUpsampleRow(dst []uint8, t, c []uint8, isTop bool) {
	n := len(dst)
	near, far := t, c
	if !isTop {
		near, far = c, t
	}
	dst[0] = uint8((3*int32(near[0]) + int32(far[0]) + 2) >> 2)
	last := (n - 1) >> 1
	for x := 1; x <= last; x++ {
		tl, tt, l, uv := int32(t[x-1]), int32(t[x]), int32(c[x-1]), int32(c[x])
		avg := tl + tt + l + uv + 8
		d12 := (avg + 2*(tt+l)) >> 3
		d03 := (avg + 2*(tl+uv)) >> 3
		if isTop {
			dst[2*x-1] = uint8((d12 + tl) >> 1)
			dst[2*x] = uint8((d03 + tt) >> 1)
		} else {
			dst[2*x-1] = uint8((d03 + l) >> 1)
			dst[2*x] = uint8((d12 + uv) >> 1)
		}
	}
	if n%2 == 0 {
		dst[n-1] = uint8((3*int32(near[last]) + int32(far[last]) + 2) >> 2)
	}
}
