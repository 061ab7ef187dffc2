// Package webuitest holds how the search page's browser tests and its
// benchmark start headless Chromium (found by fixtures.LookChromium).
package webuitest

import "github.com/chromedp/chromedp"

// Options are the allocator options for exe with a fresh profile in
// profile: headless, and none of the background fetches, updates, sync or
// QUIC probes a browser makes on its own (on a machine with no network
// they fail, many at a time, and they are not the page's requests).
func Options(exe, profile string, width, height int) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(width, height))
}
