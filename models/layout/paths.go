package layout

import (
	"os"
	"path/filepath"
)

// HomeDir is hybridembed's own cache directory (the ONNX Runtime library,
// the router's negative cache): $HYBRIDEMBED_CACHE, else
// $XDG_CACHE_HOME/hybridembed, else ~/.cache/hybridembed.
func HomeDir() string {
	if d := os.Getenv("HYBRIDEMBED_CACHE"); d != "" {
		return d
	}
	return filepath.Join(xdgCache(), "hybridembed")
}

// DefaultHomeDir is hybridembed's cache directory when the environment is
// not read: ~/.cache/hybridembed.
func DefaultHomeDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "hybridembed")
	}
	return filepath.Join(os.TempDir(), "hybridembed")
}

// HFHome is the huggingface_hub home: $HF_HOME, else
// $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func HFHome() string {
	if d := os.Getenv("HF_HOME"); d != "" {
		return d
	}
	return filepath.Join(xdgCache(), "huggingface")
}

// HubCacheDir is where huggingface_hub keeps model repos: $HF_HUB_CACHE
// (or its older name $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub.
func HubCacheDir() string {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(k); d != "" {
			return d
		}
	}
	return filepath.Join(HFHome(), "hub")
}

// TokenPath is the file huggingface_hub stores the access token in:
// $HF_TOKEN_PATH, else $HF_HOME/token.
func TokenPath() string {
	if p := os.Getenv("HF_TOKEN_PATH"); p != "" {
		return p
	}
	return filepath.Join(HFHome(), "token")
}

func xdgCache() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache")
	}
	return os.TempDir()
}
