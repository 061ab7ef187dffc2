package imageprep_test

import (
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// The tests link libjpeg-turbo's binding as the engine does, so that every
// JPEG golden runs through both decoders.
func init() { imageprep.UseJPEGLibrary(local.TurboJPEG) }
