package dataset

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/4", Shard{0, 4}, ""},
		{"3/4", Shard{3, 4}, ""},
		{" 1 / 2 ", Shard{1, 2}, ""},
		{"4/4", Shard{}, "0 <= K < N"},
		{"-1/4", Shard{}, "0 <= K < N"},
		{"1/0", Shard{}, "0 <= K < N"},
		{"1", Shard{}, "want K/N"},
		{"a/b", Shard{}, "want K/N"},
	} {
		got, err := ParseShard(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		shards int
		want   Shard
		ok     bool
		err    string
	}{
		{"none", nil, 0, Shard{}, false, ""},
		{"kubernetes", map[string]string{"JOB_COMPLETION_INDEX": "2"}, 4, Shard{2, 4}, true, ""},
		{"kubernetes without --shards", map[string]string{"JOB_COMPLETION_INDEX": "2"}, 0, Shard{}, false, "--shards N"},
		{"kubernetes out of range", map[string]string{"JOB_COMPLETION_INDEX": "4"}, 4, Shard{4, 4}, true, "0 <= K < N"},
		{"slurm from 0", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "8"}, 0, Shard{3, 8}, true, ""},
		{"slurm from MIN", map[string]string{"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "4"}, 0, Shard{2, 4}, true, ""},
		{"slurm with MAX only", map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "8"}, 0, Shard{4, 8}, true, ""},
		{"slurm disagreeing --shards", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"}, 3, Shard{}, false, "disagrees"},
		{"not a number", map[string]string{"SLURM_ARRAY_TASK_ID": "x"}, 0, Shard{}, false, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, ok, err := FromEnv(func(k string) string { return tc.env[k] }, tc.shards)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, s)
		})
	}
}

// TestOwnsPartitions: every key is in exactly one shard, the shards are
// about even, and a key's shard depends on nothing but the key.
func TestOwnsPartitions(t *testing.T) {
	const n, keys = 4, 4000
	counts := make([]int, n)
	for i := range keys {
		key := fmt.Sprintf("roll%d/IMG_%05d.jpg", i%7, i)
		owners := 0
		for k := range n {
			if (Shard{k, n}).Owns(key) {
				owners++
				counts[k]++
			}
		}
		assert.Equal(t, 1, owners, key)
	}
	for k, c := range counts {
		assert.InDelta(t, keys/n, c, keys/n*0.1, "shard %d has %d", k, c)
	}
	assert.True(t, All.Owns("anything"))
}
