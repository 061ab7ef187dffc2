package webui

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRankingPages(t *testing.T) {
	hits := func(n int) []hit { return make([]hit, n) }
	for _, tc := range []struct {
		name           string
		count, k, have int
		offset, limit  int
		want           int
		more, ok       bool
	}{
		{"first page", 1000, 480, 480, 0, 48, 48, true, true},
		{"last page the ranking holds", 1000, 480, 480, 432, 48, 48, true, true},
		{"past it: rank deeper", 1000, 480, 480, 480, 48, 0, false, false},
		{"straddling it: rank deeper", 1000, 480, 480, 460, 48, 0, false, false},
		{"every photo ranked", 96, 480, 96, 48, 48, 48, false, true},
		{"every photo ranked, exactly k", 480, 480, 480, 432, 48, 48, false, true},
		{"past the end", 96, 480, 96, 96, 48, 0, false, true},
		{"as deep as results go", 20000, MaxResults, MaxResults, MaxResults - 10, 48, 10, false, true},
	} {
		r := &ranking{snap: &snapshot{count: tc.count}, k: tc.k, hits: hits(tc.have)}
		got, more, ok := r.page(tc.offset, tc.limit)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Len(t, got, tc.want, tc.name)
		assert.Equal(t, tc.more, more, tc.name)
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:8080": true, "LOCALHOST": true, "localhost.:80": true, "127.0.0.1:1": true, "127.9.9.9": true,
		"[::1]:8080": true, "::1": true, "a.localhost:8080": true, "[::ffff:127.0.0.1]:80": true,
		"evil.example": false, "localhost.evil.example": false, "10.0.0.1:8080": false, "": false, "[::2]:80": false,
	} {
		assert.Equal(t, want, loopbackHost(host), host)
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/?q=a": "/?q=a", "/photo/x": "/photo/x", "//evil.example": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "": "/", "javascript:alert(1)": "/", "/ok\r\nSet-Cookie: x": "/",
	} {
		assert.Equal(t, want, safeNext(next), next)
	}
}
