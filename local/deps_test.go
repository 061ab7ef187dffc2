package local_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKnowsNoNetwork holds design.md's rule that the engine knows no
// network: nothing it links may reach net/http (model files come from
// models/layout, not from the package that downloads them).
func TestKnowsNoNetwork(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the package's dependencies")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err, "go list")
	for _, dep := range strings.Fields(string(out)) {
		assert.NotEqual(t, "net/http", dep, "local links net/http")
		assert.NotEqual(t, "github.com/hybridembed/hybridembed/remote", dep, "local links remote")
	}
}
