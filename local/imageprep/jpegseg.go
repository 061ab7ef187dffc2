package imageprep

import (
	"errors"
	"fmt"
	"image"
	"io"
)

// JPEG marker codes (ITU-T T.81 Table B.1) the header readers care about.
const (
	markerTEM   = 0x01
	markerSOF0  = 0xc0
	markerSOF15 = 0xcf
	markerDHT   = 0xc4
	markerJPG   = 0xc8
	markerDAC   = 0xcc
	markerRST0  = 0xd0
	markerRST7  = 0xd7
	markerSOI   = 0xd8
	markerEOI   = 0xd9
	markerSOS   = 0xda
	markerAPP1  = 0xe1
	markerAPP14 = 0xee
)

// jpegSegment is one marker of a JPEG header and, for markers that have
// one, its payload (the bytes after the two length bytes).
type jpegSegment struct {
	marker  byte
	payload []byte // nil for standalone markers (SOI, EOI, RSTn, TEM)
	offset  int    // of the 0xFF that starts the marker
}

// standalone reports markers that have no length field: SOI, EOI, RST0-7
// and TEM (T.81 B.1.1.3). Reading a length after one of them misreads
// everything that follows.
func standalone(m byte) bool {
	return m == markerSOI || m == markerEOI || m == markerTEM || (m >= markerRST0 && m <= markerRST7)
}

// Why a walk ended early (classify prefixes the format).
var (
	errNotJPEG       = errors.New("no SOI marker")
	errJPEGTruncated = fmt.Errorf("header cut short: %w", io.ErrUnexpectedEOF)
	errJPEGNoFrame   = errors.New("no frame header (SOF) before the scan")
)

// jpegScanner walks a JPEG's header segment by segment the way libjpeg's
// marker reader does (jdmarker.c: first_marker, next_marker,
// read_markers), so that what we read from a header (the frame size the
// pixel limit is checked against, the EXIF orientation, the Adobe marker)
// is what libjpeg-turbo, and Pillow over it, will act on:
//
//   - the data must start with SOI (FF D8);
//   - bytes other than 0xFF between segments are skipped (libjpeg warns
//     "extraneous bytes before marker" and goes on; Go's decoder and
//     Pillow skip them too), and so is a stuffed FF 00;
//   - any number of 0xFF fill bytes may precede a marker (T.81 B.1.1.2);
//   - SOI, EOI, RST0-7 and TEM stand alone, every other marker has a
//     two-byte length that counts itself.
//
// The walk ends after SOS (entropy-coded data follows; the header is
// over) or EOI, or where a segment runs past the data.
//
// Use it like bufio.Scanner: for s.scan() { s.seg ... }; then s.err.
type jpegScanner struct {
	data []byte
	pos  int
	seg  jpegSegment
	err  error // why the walk ended early; nil after SOS, EOI or no more data
	done bool
}

func newJPEGScanner(data []byte) *jpegScanner {
	s := &jpegScanner{data: data}
	if len(data) < 2 || data[0] != 0xff || data[1] != markerSOI {
		s.err, s.done = errNotJPEG, true
	}
	return s
}

// scan advances to the next segment, reporting whether there is one.
func (s *jpegScanner) scan() bool {
	if s.done {
		return false
	}
	d := s.data
	for {
		// Skip to an 0xFF, then past fill bytes, to the marker code.
		for s.pos < len(d) && d[s.pos] != 0xff {
			s.pos++
		}
		for s.pos < len(d) && d[s.pos] == 0xff {
			s.pos++
		}
		if s.pos >= len(d) {
			return s.stop(errJPEGTruncated)
		}
		m := d[s.pos]
		s.pos++
		if m == 0 { // FF 00 is stuffed data, not a marker
			continue
		}
		// The marker's own 0xFF is the last of the fill bytes.
		off := s.pos - 2
		if standalone(m) {
			s.seg = jpegSegment{marker: m, offset: off}
			if m == markerEOI {
				s.done = true
			}
			return true
		}
		if s.pos+2 > len(d) {
			return s.stop(errJPEGTruncated)
		}
		n := int(d[s.pos])<<8 | int(d[s.pos+1])
		if n < 2 {
			// libjpeg skips nothing after a length of 0 or 1 (skip_variable
			// subtracts the 2 and skips only a positive rest); the markers
			// it parses instead (SOF, SOS, DHT, DQT, DRI) then fail their
			// own length checks.
			n = 2
		}
		if s.pos+n > len(d) {
			return s.stop(errJPEGTruncated)
		}
		s.seg = jpegSegment{marker: m, payload: d[s.pos+2 : s.pos+n : s.pos+n], offset: off}
		s.pos += n
		if m == markerSOS {
			s.done = true
		}
		return true
	}
}

func (s *jpegScanner) stop(err error) bool {
	s.err, s.done = err, true
	return false
}

// isSOF reports the frame-header markers SOF0-SOF15 (C0-CF less DHT, JPG
// and DAC, which share the range).
func isSOF(m byte) bool {
	return m >= markerSOF0 && m <= markerSOF15 && m != markerDHT && m != markerJPG && m != markerDAC
}

// jpegFrame reads the dimensions from a JPEG's first frame header (libjpeg
// refuses a second one), before the first scan.
func jpegFrame(data []byte) (image.Config, error) {
	s := newJPEGScanner(data)
	for s.scan() {
		if !isSOF(s.seg.marker) {
			continue
		}
		p := s.seg.payload
		if len(p) < 5 { // precision, height, width
			return image.Config{}, errJPEGTruncated
		}
		return image.Config{Height: int(p[1])<<8 | int(p[2]), Width: int(p[3])<<8 | int(p[4])}, nil
	}
	if s.err != nil {
		return image.Config{}, s.err
	}
	return image.Config{}, errJPEGNoFrame
}
