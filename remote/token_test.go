package remote_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/remote"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

// TestTokenIsOnlyWhatIsSet: Client.Token is the whole story, as its
// comment says: "" sends no token even with $HF_TOKEN set (the comment
// once promised an environment fallback the code never had), and
// TokenFromEnv is how a caller opts in.
func TestTokenIsOnlyWhatIsSet(t *testing.T) {
	t.Setenv("HF_TOKEN", "hf_from_env_456")
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	call := func(c *remote.Client) string {
		t.Helper()
		_, err := c.FeatureExtraction(context.Background(), model, []string{"a"}, remote.Params{}, "")
		require.NoError(t, err)
		reqs := s.Requests()
		return reqs[len(reqs)-1].Header.Get("Authorization")
	}
	none := &remote.Client{RouterURL: s.URL, HubURL: s.URL, Retry: fast}
	assert.Empty(t, call(none), "no token set: none sent")
	assert.False(t, none.HasToken())
	env := &remote.Client{RouterURL: s.URL, HubURL: s.URL, Retry: fast, Token: remote.TokenFromEnv("")}
	assert.Equal(t, "Bearer hf_from_env_456", call(env))
}
