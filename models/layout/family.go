package layout

// Family is what kind of model an id or a directory holds. It decides
// routing (image-text models run locally for text too, so that their text
// and image vectors share one space) and it is part of a model's identity:
// the same weights read as another family are preprocessed, tokenized and
// pooled differently, so their vectors must never be mixed.
type Family string

// The families. The image-text ones are dual encoders whose text and image
// vectors share one space.
const (
	FamilyCLIP     Family = "clip"     // CLIP and OpenCLIP: softmax-trained, EOS pooling
	FamilySigLIP   Family = "siglip"   // SigLIP: sigmoid-trained, last-position pooling, SentencePiece text
	FamilySigLIP2  Family = "siglip2"  // SigLIP 2 FixRes: SigLIP's architecture with a Gemma tokenizer
	FamilyMCLIP    Family = "mclip"    // multilingual text towers (M-CLIP) beside an OpenCLIP image tower
	FamilySentence Family = "sentence" // a sentence-transformers text encoder
)

// ImageText reports whether the family is an image-text dual encoder, whose
// text must be embedded by the same local model as its images.
func (f Family) ImageText() bool {
	switch f {
	case FamilyCLIP, FamilySigLIP, FamilySigLIP2, FamilyMCLIP:
		return true
	}
	return false
}
