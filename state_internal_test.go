package hybridembed

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/remote"
)

// TestStateConcurrentWriters: processes sharing the routing state file
// (routerStates with their own memory, as two processes have) that save
// at the same time keep each other's entries. (Each read the file, merged
// and wrote it back with nothing held between: a save that read before
// another's write replaced it, and that process's entries were lost.)
func TestStateConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router", "state.json")
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		s := loadState(path)
		wg.Go(func() {
			for i := range each {
				key := mappingKey("https://hub.test", fmt.Sprintf("org/m%d-%d", w, i))
				require.NoError(t, s.update(func(d *stateData) {
					d.Mappings[key] = remote.Mapping{Model: key, Fetched: time.Now()}
				}))
			}
		})
	}
	wg.Wait()
	d, ok := readState(path)
	require.True(t, ok)
	assert.Len(t, d.Mappings, writers*each, "entries saved by one writer were dropped by another's save")
}
