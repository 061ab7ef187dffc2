package imageprep

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"strings"
)

// OpenAI CLIP's normalisation, CLIPImageProcessor's defaults.
var (
	ClipMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	ClipStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// Convention is the arithmetic of the pipeline a model was exported with,
// where pipelines that agree on the steps differ in their rounding.
type Convention int

const (
	// Transformers is Hugging Face's image processors (PIL path): the long
	// edge of a shortest-edge resize is int(size * long / short), the
	// rescale is done in float64 and cast, then (x - mean) / std in float32.
	Transformers Convention = iota
	// Immich is immich's OpenCLIP transforms (immich_ml/models/transforms.py):
	// the long edge is int((long / short) * size), the rescale is x / 255 in
	// float32, and the normalisation x * (1/std) - mean/std in float32.
	Immich
)

// Processor is a model's image preprocessing, as its preprocessor_config.json
// describes it, with its image processor's defaults for what the file leaves
// out. The zero value is not useful; use [LoadProcessor], [ParseOpenCLIP] or
// [CLIPProcessor].
type Processor struct {
	Convention   Convention
	Resize       bool
	ShortestEdge int // resize so the short side is this long, keeping aspect
	Height       int // or resize to exactly Height x Width
	Width        int
	Resample     Filter
	CenterCrop   bool
	CropHeight   int
	CropWidth    int
	Rescale      bool
	RescaleBy    float64
	Normalize    bool
	Mean, Std    [3]float32
}

// CLIPProcessor is openai/clip-vit-base-patch32's preprocessing at size.
func CLIPProcessor(size int) Processor {
	return Processor{Resize: true, ShortestEdge: size, Resample: Bicubic, CenterCrop: true,
		CropHeight: size, CropWidth: size, Rescale: true, RescaleBy: 1.0 / 255, Normalize: true,
		Mean: ClipMean, Std: ClipStd}
}

// SiglipProcessor is SiglipImageProcessor's defaults at size: a straight
// resize to size x size (no aspect kept, no crop), bicubic, rescale, and
// mean and std 0.5.
func SiglipProcessor(size int) Processor {
	return Processor{Resize: true, Height: size, Width: size, Resample: Bicubic, Rescale: true, RescaleBy: 1.0 / 255,
		Normalize: true, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
}

// ErrNaFlex refuses SigLIP 2's NaFlex image processor, whose patch
// sequences of variable length (with pixel_attention_mask and
// spatial_shapes) are not the fixed-size images hybridembed feeds.
var ErrNaFlex = errors.New("SigLIP 2 NaFlex preprocessing (Siglip2ImageProcessor) is not supported; use a FixRes checkpoint (SiglipImageProcessor, model_type \"siglip\", e.g. google/siglip2-base-patch16-224)")

// LoadProcessor reads a preprocessor_config.json, in either the current
// image-processor form ("size": {"shortest_edge": 224}) or the older
// feature-extractor form ("size": 224). What the file leaves out takes the
// defaults of its image_processor_type: SiglipImageProcessor's for SigLIP
// (straight resize to height x width, no crop, mean and std 0.5), else
// CLIPImageProcessor's.
func LoadProcessor(path string) (Processor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Processor{}, err
	}
	p, err := ParseProcessor(data)
	if err != nil {
		return Processor{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseProcessor parses preprocessor_config.json contents.
func ParseProcessor(data []byte) (Processor, error) {
	var c struct {
		Type          string          `json:"image_processor_type"`
		DoResize      *bool           `json:"do_resize"`
		Size          json.RawMessage `json:"size"`
		Resample      *int            `json:"resample"`
		DoCenterCrop  *bool           `json:"do_center_crop"`
		CropSize      json.RawMessage `json:"crop_size"`
		DoRescale     *bool           `json:"do_rescale"`
		RescaleFactor *float64        `json:"rescale_factor"`
		DoNormalize   *bool           `json:"do_normalize"`
		ImageMean     json.RawMessage `json:"image_mean"`
		ImageStd      json.RawMessage `json:"image_std"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return Processor{}, err
	}
	p := CLIPProcessor(224)
	switch strings.TrimSuffix(c.Type, "Fast") {
	case "Siglip2ImageProcessor":
		return Processor{}, ErrNaFlex
	case "SiglipImageProcessor":
		p = SiglipProcessor(224)
	}
	p.Resize, p.CenterCrop = orDefault(c.DoResize, true), orDefault(c.DoCenterCrop, p.CenterCrop)
	p.Rescale, p.Normalize = orDefault(c.DoRescale, true), orDefault(c.DoNormalize, true)
	if c.Resample != nil {
		p.Resample = Filter(*c.Resample)
		if _, ok := p.Resample.kernel(); !ok && p.Resample != Nearest {
			return Processor{}, fmt.Errorf("resample %d is not a PIL filter", *c.Resample)
		}
	}
	if c.RescaleFactor != nil {
		p.RescaleBy = *c.RescaleFactor
	}
	if len(c.Size) > 0 {
		s, err := parseSize(c.Size)
		if err != nil {
			return Processor{}, fmt.Errorf("size: %w", err)
		}
		p.ShortestEdge, p.Height, p.Width = s.shortest, s.height, s.width
		if s.shortest > 0 && !p.CenterCrop && c.Type != "" && strings.HasPrefix(c.Type, "Siglip") {
			// SiglipImageProcessor reads a bare int as height = width.
			p.ShortestEdge, p.Height, p.Width = 0, s.shortest, s.shortest
		}
	}
	if len(c.CropSize) > 0 {
		s, err := parseSize(c.CropSize)
		if err != nil {
			return Processor{}, fmt.Errorf("crop_size: %w", err)
		}
		p.CropHeight, p.CropWidth = s.height, s.width
		if s.shortest > 0 { // a bare int crop is square
			p.CropHeight, p.CropWidth = s.shortest, s.shortest
		}
	}
	for _, v := range []struct {
		raw json.RawMessage
		dst *[3]float32
	}{{c.ImageMean, &p.Mean}, {c.ImageStd, &p.Std}} {
		if len(v.raw) == 0 || string(v.raw) == "null" {
			continue
		}
		var f []float32
		if err := json.Unmarshal(v.raw, &f); err != nil {
			var one float32 // a single value for every channel
			if err2 := json.Unmarshal(v.raw, &one); err2 != nil {
				return Processor{}, fmt.Errorf("image_mean/image_std: %w", err)
			}
			f = []float32{one, one, one}
		}
		if len(f) != 3 {
			return Processor{}, fmt.Errorf("image_mean/image_std need 3 values, got %d", len(f))
		}
		copy(v.dst[:], f)
	}
	return p, p.validate()
}

func orDefault(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

type sizeSpec struct{ shortest, height, width int }

func parseSize(raw json.RawMessage) (sizeSpec, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return sizeSpec{shortest: n}, nil
	}
	var m map[string]int
	if err := json.Unmarshal(raw, &m); err != nil {
		return sizeSpec{}, err
	}
	switch {
	case m["shortest_edge"] > 0:
		return sizeSpec{shortest: m["shortest_edge"]}, nil
	case m["height"] > 0 && m["width"] > 0:
		return sizeSpec{height: m["height"], width: m["width"]}, nil
	}
	return sizeSpec{}, fmt.Errorf("want shortest_edge or height and width, got %v", m)
}

func (p Processor) validate() error {
	if p.Resize && p.ShortestEdge <= 0 && (p.Height <= 0 || p.Width <= 0) {
		return errors.New("resize without a size")
	}
	if p.CenterCrop && (p.CropHeight <= 0 || p.CropWidth <= 0) {
		return errors.New("center crop without a crop_size")
	}
	if p.Normalize {
		for _, s := range p.Std {
			if s == 0 {
				return errors.New("image_std has a zero")
			}
		}
	}
	if max(p.ShortestEdge, p.Height, p.Width, p.CropHeight, p.CropWidth) > 8192 {
		return errors.New("sizes over 8192 pixels are not plausible for a vision tower")
	}
	return nil
}

// DraftSize is the short side a draft (reduced-scale) decode must keep:
// twice what the resize step makes of it, so that the resampler still
// averages over real pixels. 0 when the processor does not resize.
func (p Processor) DraftSize() int {
	switch {
	case !p.Resize:
		return 0
	case p.ShortestEdge > 0:
		return 2 * p.ShortestEdge
	}
	return 2 * max(p.Height, p.Width)
}

// OutputSize is the height and width Preprocess produces, or ok=false when
// it depends on the image (no crop and a shortest-edge resize).
func (p Processor) OutputSize() (h, w int, ok bool) {
	switch {
	case p.CenterCrop:
		return p.CropHeight, p.CropWidth, true
	case p.Resize && p.ShortestEdge == 0:
		return p.Height, p.Width, true
	}
	return 0, 0, false
}

// resizedSize is transformers' get_resize_output_image_size.
func (p Processor) resizedSize(w, h int) (int, int) {
	if !p.Resize {
		return w, h
	}
	if p.ShortestEdge == 0 {
		return p.Width, p.Height
	}
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	ns, nl := p.ShortestEdge, int(float64(p.ShortestEdge)*float64(long)/float64(short))
	if p.Convention == Immich {
		nl = int(float64(long) / float64(short) * float64(p.ShortestEdge))
	}
	if w <= h {
		return ns, nl
	}
	return nl, ns
}

// cropPlan is transformers' center_crop for one axis: which span of the
// resized axis to keep, and where it lands in the output (zero padding
// around it when the image is smaller than the crop).
func cropPlan(resized, crop int) (src0, n, dst0 int) {
	if crop <= resized {
		return (resized - crop) / 2, crop, 0
	}
	return 0, resized, (crop - resized + 1) / 2
}

// Shape is the CHW shape Preprocess gives for an image of w x h pixels.
func (p Processor) Shape(w, h int) (int, int) {
	if oh, ow, ok := p.OutputSize(); ok {
		return oh, ow
	}
	rw, rh := p.resizedSize(w, h)
	return rh, rw
}

// Pixels resizes and crops img to the model's input size: the uint8 image
// CLIPImageProcessor rescales and normalises, bit for bit.
func (p Processor) Pixels(img *RGB) (*RGB, error) {
	if img.W <= 0 || img.H <= 0 {
		return nil, errors.New("preprocess: empty image")
	}
	oh, ow := p.Shape(img.W, img.H)
	rw, rh := p.resizedSize(img.W, img.H)
	if rw <= 0 || rh <= 0 {
		return nil, fmt.Errorf("preprocess: %dx%d image resizes to nothing", img.W, img.H)
	}
	sx, nx, dx := 0, rw, 0
	sy, ny, dy := 0, rh, 0
	if p.CenterCrop {
		sx, nx, dx = cropPlan(rw, p.CropWidth)
		sy, ny, dy = cropPlan(rh, p.CropHeight)
	}
	region := image.Rect(sx, sy, sx+nx, sy+ny)
	var part *RGB
	if p.Resize && (rw != img.W || rh != img.H) {
		var err error
		if part, err = resizeCrop(img, rw, rh, p.Resample, region); err != nil {
			return nil, err
		}
	} else {
		part = cropRGB(img, region)
	}
	if nx == ow && ny == oh {
		return part, nil
	}
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, ow*oh*3)} // padding is pixel value 0
	for y := 0; y < ny; y++ {
		copy(out.Pix[((y+dy)*ow+dx)*3:], part.Pix[y*nx*3:(y+1)*nx*3])
	}
	return out, nil
}

// Preprocess resizes, crops, rescales and normalises img into CHW float32,
// bit for bit as CLIPImageProcessor does for the same RGB input. dst must
// hold 3*h*w values for the [Processor.Shape] of img.
func (p Processor) Preprocess(img *RGB, dst []float32) error {
	oh, ow := p.Shape(img.W, img.H)
	if len(dst) != 3*oh*ow {
		return fmt.Errorf("preprocess: destination holds %d values, want %d", len(dst), 3*oh*ow)
	}
	px, err := p.Pixels(img)
	if err != nil {
		return err
	}
	lut := p.lut()
	plane := oh * ow
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	for i := 0; i < plane; i++ {
		r[i], g[i], b[i] = lut[0][px.Pix[3*i]], lut[1][px.Pix[3*i+1]], lut[2][px.Pix[3*i+2]]
	}
	return nil
}

// lut precomputes the float32 value of every 8-bit level per channel with
// numpy's operation order: float64 rescale cast to float32, then float32
// (x - mean) / std; or immich's float32 x / 255, x * (1/std) - mean/std.
func (p Processor) lut() *[3][256]float32 {
	var t [3][256]float32
	if p.Convention == Immich {
		for c := 0; c < 3; c++ {
			inv, off := float32(1)/p.Std[c], p.Mean[c]/p.Std[c]
			for v := 0; v < 256; v++ {
				x := float32(v) / float32(255)
				if p.Normalize {
					x = x*inv - off
				}
				t[c][v] = x
			}
		}
		return &t
	}
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v)
			if p.Rescale {
				x = float32(float64(v) * p.RescaleBy)
			}
			if p.Normalize {
				x = (x - p.Mean[c]) / p.Std[c]
			}
			t[c][v] = x
		}
	}
	return &t
}

func cropRGB(img *RGB, r image.Rectangle) *RGB {
	out := &RGB{W: r.Dx(), H: r.Dy(), Pix: make([]uint8, r.Dx()*r.Dy()*3)}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(out.Pix[(y-r.Min.Y)*out.W*3:(y-r.Min.Y+1)*out.W*3], img.Pix[(y*img.W+r.Min.X)*3:(y*img.W+r.Max.X)*3])
	}
	return out
}

// openCLIPConfig is the preprocess_cfg.json open_clip writes
// (get_model_preprocess_cfg) and immich puts beside visual/model.onnx.
type openCLIPConfig struct {
	Size          json.RawMessage `json:"size"`
	Mode          string          `json:"mode"`
	Mean          []float32       `json:"mean"`
	Std           []float32       `json:"std"`
	Interpolation string          `json:"interpolation"`
	ResizeMode    string          `json:"resize_mode"`
}

// pilFilters are PIL's Image.Resampling names, which immich looks the
// interpolation up in (lowercased).
var pilFilters = map[string]Filter{
	"nearest": Nearest, "lanczos": Lanczos, "bilinear": Bilinear, "bicubic": Bicubic, "box": Box, "hamming": Hamming,
}

// ParseOpenCLIP reads an open_clip preprocess_cfg.json as immich's
// OpenClipVisualEncoder applies it: the first of size's values for both
// sides; resize_mode "squash" resizes straight to size x size, "shortest"
// (the default, as in open_clip's older configs) resizes the short side to
// size and crops the centre; the interpolation by PIL name; rescale by
// 1/255 and normalise with mean and std, in immich's arithmetic.
func ParseOpenCLIP(data []byte) (Processor, error) {
	var c openCLIPConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return Processor{}, err
	}
	var size int
	var sizes []int
	if err := json.Unmarshal(c.Size, &size); err != nil {
		if err := json.Unmarshal(c.Size, &sizes); err != nil || len(sizes) == 0 {
			return Processor{}, fmt.Errorf("size: want an int or a list of ints, got %s", c.Size)
		}
		size = sizes[0]
	}
	if c.Mode != "" && c.Mode != "RGB" {
		return Processor{}, fmt.Errorf("mode %q: only RGB images are supported", c.Mode)
	}
	f, ok := pilFilters[strings.ToLower(c.Interpolation)]
	if !ok {
		return Processor{}, fmt.Errorf("interpolation %q is not a PIL resampling filter", c.Interpolation)
	}
	p := Processor{Convention: Immich, Resize: true, Resample: f, Rescale: true, RescaleBy: 1.0 / 255, Normalize: true}
	switch c.ResizeMode {
	case "squash":
		p.Height, p.Width = size, size
	case "shortest", "":
		p.ShortestEdge, p.CenterCrop, p.CropHeight, p.CropWidth = size, true, size, size
	default:
		return Processor{}, fmt.Errorf("resize_mode %q is not supported (immich reads squash and shortest)", c.ResizeMode)
	}
	for _, v := range []struct {
		name string
		src  []float32
		dst  *[3]float32
	}{{"mean", c.Mean, &p.Mean}, {"std", c.Std, &p.Std}} {
		if len(v.src) != 3 {
			return Processor{}, fmt.Errorf("%s needs 3 values, got %d", v.name, len(v.src))
		}
		for _, x := range v.src {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return Processor{}, fmt.Errorf("%s has a value that is not finite", v.name)
			}
		}
		copy(v.dst[:], v.src)
	}
	return p, p.validate()
}
