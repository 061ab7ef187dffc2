package remote

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEmbeddingsList(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		n          int
		want       [][]float32
		err        string
	}{
		{"by index", `{"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}`, 2, [][]float32{{1, 2}, {3, 4}}, ""},
		{"no index: list order", `{"data":[{"embedding":[1,2]},{"embedding":[3,4]}]}`, 2, [][]float32{{1, 2}, {3, 4}}, ""},
		{"some indexed", `{"data":[{"index":1,"embedding":[3,4]},{"embedding":[1,2]}]}`, 2, nil, "has an index"},
		{"duplicate index", `{"data":[{"index":0,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}`, 2, nil, "two embeddings for index 0"},
		{"index out of range", `{"data":[{"index":2,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}`, 2, nil, "outside 0..1"},
		{"negative index", `{"data":[{"index":-1,"embedding":[3,4]}]}`, 1, nil, "outside"},
		{"count", `{"data":[{"index":0,"embedding":[1,2]}]}`, 2, nil, "1 embeddings for 2 inputs"},
		{"no data", `{"error":"x"}`, 1, nil, "no \"data\""},
		{"null embedding", `{"data":[{"index":0,"embedding":null}]}`, 1, nil, "not a list of numbers"},
		{"strings", `{"data":[{"index":0,"embedding":["a"]}]}`, 1, nil, "not a finite number"},
		{"nested", `{"data":[{"index":0,"embedding":[[1]]}]}`, 1, nil, "not a finite number"},
		{"empty vector", `{"data":[{"index":0,"embedding":[]}]}`, 1, nil, "empty"},
		{"widths", `{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1,2]}]}`, 2, nil, "dimensions"},
		{"overflow", `{"data":[{"index":0,"embedding":[1e39]}]}`, 1, nil, "not a finite number"},
		{"not JSON", `{"data":[`, 1, nil, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEmbeddingsList([]byte(tc.body), tc.n)
			if tc.err != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrMalformed)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseMapping(t *testing.T) {
	got, err := parseMapping([]byte(`{"b":{"status":"live","providerId":"B","task":"feature-extraction"},"a":{"status":"staging","providerId":"A"},"b":{"status":"error","providerId":"B2"}}`))
	require.NoError(t, err)
	assert.Equal(t, []MappingEntry{{Provider: "b", Status: "error", ProviderID: "B2"}, {Provider: "a", Status: "staging", ProviderID: "A"}}, got,
		"the object's order; a repeated key keeps its place and its last value")
	got, err = parseMapping([]byte(`[{"provider":"z","status":"live","providerId":"Z","hfModelId":"x/y","adapter":"lora"},{"provider":"c","status":"live"}]`))
	require.NoError(t, err)
	assert.Equal(t, []string{"z", "c"}, Mapping{Providers: got}.ProviderNames())
	got, err = parseMapping([]byte(`{}`))
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, bad := range []string{`"x"`, `[{"status":"live"}]`, `{"a":"live"}`, `[1]`, `{"a":{"status":1}}`, `{`} {
		_, err := parseMapping([]byte(bad))
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}
