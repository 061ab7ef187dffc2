package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// checkCommandLine fails unless args parse as a hybridembed command line:
// a real command, and every flag one it has.
func checkCommandLine(t *testing.T, where string, args []string) {
	t.Helper()
	require.NotEmpty(t, args, where)
	require.Equal(t, "hybridembed", args[0], where)
	root := newRootCommand(&globalOptions{stdin: strings.NewReader(""), stdout: os.Stdout, stderr: os.Stderr})
	cmd, rest, err := root.Find(args[1:])
	require.NoError(t, err, where)
	require.NotEqual(t, root, cmd, "%s: no such command: %v", where, args)
	require.NoError(t, cmd.ParseFlags(rest), "%s: %v", where, args)
}

// TestDeployExamples: the Kubernetes and Slurm examples use commands and
// flags that exist, and the sharding they rely on.
func TestDeployExamples(t *testing.T) {
	var job struct {
		Spec struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int    `yaml:"completions"`
			Template       struct {
				Spec struct {
					InitContainers []struct {
						Command []string `yaml:"command"`
					} `yaml:"initContainers"`
					Containers []struct {
						Command []string `yaml:"command"`
						Env     []struct{ Name, Value string }
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	data, err := os.ReadFile(fixtures.Root() + "/deploy/kubernetes/indexed-job.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &job))
	assert.Equal(t, "Indexed", job.Spec.CompletionMode)
	for _, c := range job.Spec.Template.Spec.InitContainers {
		checkCommandLine(t, "init container", c.Command)
	}
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	embed := job.Spec.Template.Spec.Containers[0].Command
	checkCommandLine(t, "container", embed)
	assert.Contains(t, strings.Join(embed, " "), "--shards "+strconv.Itoa(job.Spec.Completions), "--shards equals the job's completions")
	assert.Contains(t, strings.Join(embed, " "), "--format parquet")

	sb, err := os.ReadFile(fixtures.Root() + "/deploy/slurm/embed-array.sbatch")
	require.NoError(t, err)
	script := strings.ReplaceAll(string(sb), "\\\n", " ")
	line := regexp.MustCompile(`(?m)^srun (hybridembed .*)$`).FindStringSubmatch(script)
	require.NotNil(t, line)
	args := strings.Fields(strings.NewReplacer(`"${SLURM_CPUS_PER_TASK}"`, "8").Replace(line[1]))
	checkCommandLine(t, "sbatch", args)
	assert.Contains(t, script, "#SBATCH --array=0-15")
}
