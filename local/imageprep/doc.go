// Package imageprep decodes images and turns them into model input exactly
// as Hugging Face's CLIPImageProcessor (PIL path) does.
//
// Parity with the reference is the point, so the pieces are Pillow's and
// libjpeg's algorithms rather than approximations: Pillow's two-pass
// fixed-point resampling (every filter, uint8 between passes), libjpeg-turbo's
// "fancy" chroma upsampling and YCbCr tables for JPEG, libwebp's for lossy
// WebP, PIL's convert("RGB") rules (alpha dropped, not composited; CMYK by
// PIL's formula; a GIF's transparent index keeps its palette colour), and
// exif_transpose. Only the pixels a center crop keeps are computed. HEIC,
// HEIF and AVIF decode through libheif, loaded at run time, exactly as
// Pillow-heif decodes them, or are refused as unsupported (naming the
// install script) where it is not installed.
//
// Decoding untrusted input is bounded: the header is read first and images
// over [Limits].MaxPixels (PIL's decompression-bomb limit by default) are
// refused before any pixel is decoded, and decoder panics become errors.
package imageprep
