package layout

// Family is what kind of model an id or a directory holds, which decides
// routing: CLIP models (text and images in one space) always run locally.
type Family string

const (
	FamilyCLIP     Family = "clip"
	FamilySentence Family = "sentence"
)
