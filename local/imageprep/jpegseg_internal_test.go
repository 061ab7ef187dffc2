package imageprep

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestJPEGScanner: the walk libjpeg's marker reader makes, segment by
// segment, for the cases the three walkers this replaced (the frame size,
// the EXIF orientation and the Adobe check, each its own loop) disagreed
// on: only the frame-size loop knew RST0-7, TEM and SOI have no length;
// none skipped stray bytes or FF 00 between segments, as libjpeg does.
func TestJPEGScanner(t *testing.T) {
	const soi, sos, eoi = "\xff\xd8", "\xff\xda\x00\x03\x01", "\xff\xd9"
	app1 := "\xff\xe1\x00\x04ab"
	tests := []struct {
		name string
		data string
		want []string // marker:payload length
		err  error
	}{
		{"plain", soi + app1 + sos + "\x12\x34", []string{"d8:-", "e1:2", "da:1"}, nil},
		{"RST and TEM stand alone", soi + "\xff\xd0\xff\xd7\xff\x01" + app1 + eoi, []string{"d8:-", "d0:-", "d7:-", "01:-", "e1:2", "d9:-"}, nil},
		{"a second SOI stands alone", soi + soi + app1, []string{"d8:-", "d8:-", "e1:2"}, errJPEGTruncated},
		{"fill bytes", soi + "\xff\xff\xff" + app1, []string{"d8:-", "e1:2"}, errJPEGTruncated},
		{"stray bytes", soi + "junk" + app1 + "\x00" + eoi, []string{"d8:-", "e1:2", "d9:-"}, nil},
		{"stuffed FF00", soi + "\xff\x00" + app1 + eoi, []string{"d8:-", "e1:2", "d9:-"}, nil},
		{"EOI ends it", soi + eoi + app1, []string{"d8:-", "d9:-"}, nil},
		{"SOS ends it", soi + sos + app1, []string{"d8:-", "da:1"}, nil},
		{"length under 2 skips nothing", soi + "\xff\xe1\x00\x01" + app1, []string{"d8:-", "e1:0", "e1:2"}, errJPEGTruncated},
		{"length past the end", soi + "\xff\xe1\x00\x09ab", []string{"d8:-"}, errJPEGTruncated},
		{"cut inside the length", soi + "\xff\xe1\x00", []string{"d8:-"}, errJPEGTruncated},
		{"cut after 0xFF", soi + "\xff", []string{"d8:-"}, errJPEGTruncated},
		{"not a JPEG", "\x89PNG", nil, errNotJPEG},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newJPEGScanner([]byte(tc.data))
			var got []string
			for s.scan() {
				n := "-"
				if s.seg.payload != nil {
					n = fmt.Sprint(len(s.seg.payload))
				}
				assert.Equal(t, byte(0xff), tc.data[s.seg.offset], "offset of %02x", s.seg.marker)
				assert.Equal(t, s.seg.marker, tc.data[s.seg.offset+1], "offset of %02x", s.seg.marker)
				got = append(got, fmt.Sprintf("%02x:%s", s.seg.marker, n))
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.err, s.err)
		})
	}
}
