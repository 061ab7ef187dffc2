// Package dataset writes embeddings as datasets that batch engines and
// analytics engines read: sharded, resumable Parquet (and NPY for one
// machine), with a manifest per shard and a verifier. Each process is one
// shard of a Kubernetes Indexed Job or a Slurm array; this package decides
// which inputs are its own, by key (the path relative to the folder given),
// and commits each key once however often the shard is rerun: a rerun skips
// committed keys, and a commit never replaces a chunk. Verify reports a key
// that is missing or committed twice (by a second writer the lock did not
// stop, or a lost chunk restored after its rerun).
package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Shard is shard K of N (K from 0).
type Shard struct{ K, N int }

// All is the whole input as one shard.
var All = Shard{0, 1}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

func (s Shard) valid() error {
	if s.N < 1 || s.K < 0 || s.K >= s.N {
		return fmt.Errorf("shard %d/%d: want 0 <= K < N", s.K, s.N)
	}
	return nil
}

// ParseShard reads "K/N".
func ParseShard(v string) (Shard, error) {
	k, n, ok := strings.Cut(v, "/")
	if !ok {
		return Shard{}, fmt.Errorf("--shard %q: want K/N, as 0/4", v)
	}
	var s Shard
	var err1, err2 error
	s.K, err1 = strconv.Atoi(strings.TrimSpace(k))
	s.N, err2 = strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("--shard %q: want K/N, as 0/4", v)
	}
	return s, s.valid()
}

// FromEnv finds the shard a batch engine gave this process: a Kubernetes
// Indexed Job sets JOB_COMPLETION_INDEX (N is the job's completions, which
// the pod does not see: give it as shards); a Slurm array sets
// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (ids start at
// SLURM_ARRAY_TASK_MIN, which need not be 0). ok is false when neither is
// set.
func FromEnv(getenv func(string) string, shards int) (s Shard, source string, ok bool, err error) {
	if v := getenv("JOB_COMPLETION_INDEX"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil {
			return Shard{}, "", false, fmt.Errorf("JOB_COMPLETION_INDEX=%q is not a number", v)
		}
		if shards < 1 {
			return Shard{}, "", false, fmt.Errorf("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): give the job's completions as --shards N")
		}
		s = Shard{k, shards}
		return s, "JOB_COMPLETION_INDEX", true, s.valid()
	}
	if v := getenv("SLURM_ARRAY_TASK_ID"); v != "" {
		id, err := strconv.Atoi(v)
		if err != nil {
			return Shard{}, "", false, fmt.Errorf("SLURM_ARRAY_TASK_ID=%q is not a number", v)
		}
		lo := 0
		if m := getenv("SLURM_ARRAY_TASK_MIN"); m != "" {
			if lo, err = strconv.Atoi(m); err != nil {
				return Shard{}, "", false, fmt.Errorf("SLURM_ARRAY_TASK_MIN=%q is not a number", m)
			}
		}
		n := shards
		if c := getenv("SLURM_ARRAY_TASK_COUNT"); c != "" {
			if n, err = strconv.Atoi(c); err != nil {
				return Shard{}, "", false, fmt.Errorf("SLURM_ARRAY_TASK_COUNT=%q is not a number", c)
			}
		} else if hi := getenv("SLURM_ARRAY_TASK_MAX"); hi != "" {
			h, err := strconv.Atoi(hi)
			if err != nil {
				return Shard{}, "", false, fmt.Errorf("SLURM_ARRAY_TASK_MAX=%q is not a number", hi)
			}
			n = h - lo + 1
		}
		if shards > 0 && shards != n {
			return Shard{}, "", false, fmt.Errorf("--shards %d disagrees with the Slurm array's %d tasks", shards, n)
		}
		s = Shard{id - lo, n}
		return s, "SLURM_ARRAY_TASK_ID", true, s.valid()
	}
	return Shard{}, "", false, nil
}

// Owns reports whether the input with this key belongs to the shard: a
// stable hash of the key, so that adding files never moves others.
func (s Shard) Owns(key string) bool {
	if s.N <= 1 {
		return true
	}
	sum := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(sum[:8])%uint64(s.N) == uint64(s.K)
}
