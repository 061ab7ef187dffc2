package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const configHelp = `
CONFIGURATION
  A default model, and defaults for the common flags, come from
  $XDG_CONFIG_HOME/hybridembed/config.toml (default
  ~/.config/hybridembed/config.toml), with the flags' names as keys:
      model = "openai/clip-vit-base-patch32"
      device = "cpu"
      threads = 4
  and $HYBRIDEMBED_MODEL. A flag wins over the environment, which wins over
  the file. 'hybridembed config' shows what is in effect and from where.`

// Where a setting's value came from.
const (
	fromFlag    = "flag"
	fromEnv     = "env"
	fromFile    = "file"
	fromDefault = "default"
)

// effective is a setting's value and where it came from; detail names the
// variable or the file.
type effective struct {
	value  string
	from   string
	detail string
}

// setting is one key of the config file: a flag's name, and the
// environment variable that also sets it. The library reads the
// variables marked libEnv itself, so a value from one is left to it.
type setting struct {
	name   string
	env    string
	libEnv bool
}

// settings are the keys config.toml may set, in the order `config` shows
// them.
var settings = []setting{
	{name: "model", env: "HYBRIDEMBED_MODEL"},
	{name: "offline", env: "HF_HUB_OFFLINE", libEnv: true},
	{name: "device"},
	{name: "threads"},
	{name: "variant"},
	{name: "decode"},
	{name: "batch-size"},
	{name: "workers"},
	{name: "runs"},
	{name: "policy"},
	{name: "router-url", env: "HYBRIDEMBED_ROUTER_URL", libEnv: true},
	{name: "hub-url", env: "HF_ENDPOINT", libEnv: true},
	{name: "provider"},
	{name: "verbose"},
}

// configPath is the config file: $XDG_CONFIG_HOME/hybridembed/config.toml,
// else ~/.config/hybridembed/config.toml (on Windows, in %AppData%).
func configPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" && runtime.GOOS == "windows" {
		dir, _ = os.UserConfigDir()
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "hybridembed", "config.toml")
}

// readConfig reads the config file's keys as flag values; a missing file
// is none. An unknown key is an error, naming it: a typo must not be
// silently ignored.
func readConfig(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	raw := map[string]any{}
	md, err := toml.DecodeFile(path, &raw)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.name] = true
	}
	out := map[string]string{}
	for _, key := range md.Keys() {
		k := key.String()
		if !known[k] {
			names := make([]string, len(settings))
			for i, s := range settings {
				names[i] = s.name
			}
			return nil, fmt.Errorf("%s: unknown key %q (known: %s)", path, k, strings.Join(names, ", "))
		}
		switch v := raw[k].(type) {
		case string:
			out[k] = v
		case bool, int64, float64:
			out[k] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("%s: %s: want a string, number or true/false, not %T", path, k, v)
		}
	}
	return out, nil
}

// applyDefaults gives each setting of cmd that no flag set its value from
// the environment or the config file, in that order, and records where
// every setting's value came from.
func (g *globalOptions) applyDefaults(cmd *cobra.Command) error {
	path := configPath()
	file, err := readConfig(path)
	if err != nil {
		return err
	}
	g.settings = map[string]effective{}
	for _, s := range settings {
		fl := cmd.Flags().Lookup(s.name)
		env := ""
		if s.env != "" {
			env = os.Getenv(s.env)
		}
		fv, inFile := file[s.name]
		var e effective
		switch {
		case fl != nil && fl.Changed:
			e = effective{value: fl.Value.String(), from: fromFlag}
		case env != "":
			e = effective{value: env, from: fromEnv, detail: s.env}
			if fl != nil && !s.libEnv {
				if err := fl.Value.Set(env); err != nil {
					return fmt.Errorf("$%s: %q: want %s", s.env, env, want(fl))
				}
			}
		case inFile:
			e = effective{value: fv, from: fromFile, detail: path}
			if fl != nil {
				if err := fl.Value.Set(fv); err != nil {
					return fmt.Errorf("%s: %s: %q: want %s", path, s.name, fv, want(fl))
				}
			}
		default:
			e = effective{from: fromDefault}
			if fl != nil {
				e.value = fl.DefValue
			}
		}
		g.settings[s.name] = e
	}
	return nil
}

// want says what a flag's type takes.
func want(fl *pflag.Flag) string {
	switch fl.Value.Type() {
	case "int", "int64":
		return "a whole number"
	case "bool":
		return "true or false"
	}
	return "a " + fl.Value.Type()
}

func (g *globalOptions) from(name string) string { return g.settings[name].from }

// needModel checks that a command that works with one model has one: its
// --model, else $HYBRIDEMBED_MODEL or the config file's model
// (applyDefaults put them in the flag).
func (g *globalOptions) needModel(model string) error {
	g.model = model
	if model != "" {
		return nil
	}
	return fmt.Errorf("no model: give --model MODEL, or set $HYBRIDEMBED_MODEL or model = \"...\" in %s", configPath())
}

// modelFlag adds the --model flag of a command that works with one model.
func modelFlag(f *pflag.FlagSet, p *string, what string) {
	f.StringVarP(p, "model", "m", "", what+" (default: $HYBRIDEMBED_MODEL, else model in config.toml)")
}

func newConfigCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Show the settings in effect, and where each comes from",
		Long: `Show each setting's value and where it comes from: a flag (given to this
command), the environment, the config file, or the default. A flag wins over
the environment, which wins over the file.` + "\n" + configHelp + "\n" + exitHelp(
			status{exitOK, "the settings were shown"},
			status{exitFatal, "the config file could not be read, or holds an unknown key or a bad value"},
		),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(g, cmd.Flags())
		},
	}
}

func runConfig(g *globalOptions, flags *pflag.FlagSet) error {
	emb, err := g.embedder(flags)
	if err != nil {
		return err
	}
	defer emb.Close()
	in := emb.Settings()
	// What the library made of the environment, where it reads it.
	resolved := map[string]string{
		"offline": fmt.Sprint(in.Offline), "router-url": in.RouterURL, "hub-url": in.HubURL,
	}
	path := configPath()
	state := "not there"
	if _, err := os.Stat(path); err == nil {
		state = "read"
	}
	fmt.Fprintf(g.stdout, "config file: %s (%s)\n", path, state)
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	for _, s := range settings {
		name := s.name
		e := g.settings[name]
		value := e.value
		if v, ok := resolved[name]; ok && e.from != fromFlag && e.from != fromFile {
			value = v
		}
		if value == "" {
			value = "(none)"
		}
		if m, ok := zeroMeans[name]; ok && value == "0" {
			value = "0 (" + m + ")"
		}
		from := e.from
		switch e.from {
		case fromEnv:
			from = "env $" + e.detail
		case fromFile:
			from = "config file"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, value, from)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	token := "none"
	if in.Token {
		token = "set"
	}
	fmt.Fprintf(g.stdout, "hub cache: %s\nHugging Face token: %s\n", in.HubCache, token)
	// The native libraries' variables, which no flag or key sets.
	for _, v := range []string{"ONNXRUNTIME_LIB", "HYBRIDEMBED_CACHE", "TURBOJPEG_LIB", "LIBHEIF_LIB"} {
		if val := os.Getenv(v); val != "" {
			fmt.Fprintf(g.stdout, "$%s: %s\n", v, val)
		}
	}
	return nil
}

// zeroMeans is what 0, the default, means for the settings where 0 is
// "the library decides".
var zeroMeans = map[string]string{
	"threads":    "all cores",
	"batch-size": "16 images a run",
	"workers":    "half the cores, at least 2; every core with CUDA",
	"runs":       "2 image batches at once on the CPU",
}
