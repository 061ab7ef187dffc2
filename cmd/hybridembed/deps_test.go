package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClientOfTheAPI holds the rule that the command line is a client of
// the library, as ollama's CLI is of its api package: it imports the root
// package and internal/ only (what it needs of remote, models or local
// goes through the root API), so that anything the CLI can do a program
// can too.
func TestClientOfTheAPI(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the package's imports")
	}
	const module = "github.com/hybridembed/hybridembed"
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	require.NoError(t, err, "go list")
	var ours []string
	for _, imp := range strings.Fields(string(out)) {
		if imp != module && !strings.HasPrefix(imp, module+"/") {
			continue // the standard library and third parties
		}
		ours = append(ours, imp)
		if imp != module && !strings.HasPrefix(imp, module+"/internal/") {
			t.Errorf("cmd/hybridembed imports %s: reach it through the root package", imp)
		}
	}
	require.Contains(t, ours, module, "the CLI is built on the root package")
}
