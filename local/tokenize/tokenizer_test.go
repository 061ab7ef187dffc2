package tokenize_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/testdata"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

type goldenCase struct {
	Text     string `json:"text"`
	InputIDs []int  `json:"input_ids"`
}

func readGolden(t *testing.T, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c goldenCase
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		out = append(out, c)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out)
	return out
}

// TestGoldenTokenizers compares with the reference tokenizers' own output:
// CLIPTokenizerFast (max length 77) and BertTokenizerFast (max length 128).
func TestGoldenTokenizers(t *testing.T) {
	tests := []struct {
		dir       string
		maxLength int
	}{
		{"clip-tokenizer", 77},
		{"bert-tokenizer", 128},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			dir := testdata.Golden(t, tc.dir)
			tok, err := tokenize.Load(dir, tokenize.Options{MaxLength: tc.maxLength})
			require.NoError(t, err)
			cases := readGolden(t, filepath.Join(dir, "golden_tokens.jsonl"))
			pass := 0
			for _, c := range cases {
				enc, err := tok.Encode(c.Text)
				require.NoError(t, err)
				if assert.Equalf(t, c.InputIDs, enc.IDs, "text %q", c.Text) {
					pass++
				}
			}
			t.Logf("%s: %d/%d golden cases exact", tc.dir, pass, len(cases))
		})
	}
}

// TestCLIPTruncationKeepsEOS: CLIP pools at <|endoftext|>, so truncation
// must cut the text, never the final special token.
func TestCLIPTruncationKeepsEOS(t *testing.T) {
	dir := testdata.Golden(t, "clip-tokenizer")
	tok, err := tokenize.Load(dir, tokenize.Options{MaxLength: 77})
	require.NoError(t, err)
	long := ""
	for i := 0; i < 200; i++ {
		long += "cat "
	}
	enc, err := tok.Encode(long)
	require.NoError(t, err)
	require.Len(t, enc.IDs, 77)
	assert.Equal(t, 49406, enc.IDs[0])
	assert.Equal(t, 49407, enc.IDs[76])
	assert.Equal(t, 2368, enc.IDs[75], "the word before EOS is still 'cat'")
}
