package models

import (
	"os"
	"strings"
)

// OfflineFromEnv reports whether $HF_HUB_OFFLINE asks that the network not
// be used ("1", "true", "yes" or "on", as huggingface_hub reads it).
func OfflineFromEnv() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("HF_HUB_OFFLINE"))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
