package local

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hybridembed/hybridembed/local/ort"
)

func TestDecodeWorkers(t *testing.T) {
	for _, c := range []struct {
		asked int
		dev   ort.Device
		cores int
		want  int
	}{
		{3, ort.DeviceCPU, 16, 3},   // asked for: kept
		{3, ort.DeviceCUDA, 16, 3},  // likewise on a GPU
		{0, ort.DeviceCUDA, 16, 16}, // GPU: every core decodes
		{0, ort.DeviceCPU, 16, 8},   // CPU: half, the rest run inference
		{0, ort.DeviceCPU, 2, 2},
		{0, ort.DeviceCPU, 1, 2},
		{0, ort.DeviceCPU, 5, 2},
	} {
		assert.Equal(t, c.want, decodeWorkers(c.asked, c.dev, c.cores), "%+v", c)
	}
}

func TestImageRuns(t *testing.T) {
	for _, c := range []struct {
		asked   int
		dev     ort.Device
		threads int
		want    int
	}{
		{3, ort.DeviceCPU, 16, 3},  // asked for: kept
		{3, ort.DeviceCUDA, 16, 3}, // likewise on a GPU
		{0, ort.DeviceCUDA, 16, 1}, // GPU: one batch at a time
		{0, ort.DeviceCPU, 16, 2},
		{0, ort.DeviceAuto, 2, 2}, // auto opens as the CPU
		{0, ort.DeviceCPU, 2, 2},
		{0, ort.DeviceCPU, 1, 1}, // one thread is not split
	} {
		assert.Equal(t, c.want, imageRuns(c.asked, c.dev, c.threads), "%+v", c)
	}
}

// TestCloseRacesFirstDecode: Close while the first decode starts the
// workers; under -race, a worker added while Close waits for them is
// reported, and every decode ends (run or ErrClosed).
func TestCloseRacesFirstDecode(t *testing.T) {
	for range 200 {
		e := New(Options{Workers: 2})
		done := make(chan error, 1)
		start := make(chan struct{})
		go func() {
			<-start
			done <- e.decode(context.Background(), ort.DeviceCPU, func() {})
		}()
		close(start)
		assert.NoError(t, e.Close())
		if err := <-done; err != nil {
			assert.ErrorIs(t, err, ErrClosed)
		}
	}
}
