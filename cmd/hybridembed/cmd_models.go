package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hybridembed/hybridembed/models"
)

func newModelsCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Manage models in the local Hugging Face cache",
		Long: `Manage models in the local Hugging Face cache ($HF_HUB_CACHE, else
$HF_HOME/hub, else ~/.cache/huggingface/hub), which Python's huggingface_hub
reads and writes too.` + "\n" + exitStatusHelp,
	}
	cmd.AddCommand(newModelsPathCommand(g), newModelsListCommand(g))
	return cmd
}

func newModelsPathCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "path MODEL[@REVISION]",
		Short: "Print the cached snapshot directory of a model",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, rev, _ := strings.Cut(args[0], "@")
			loc, err := models.Cache{}.Locate(id, rev)
			if err != nil {
				if errors.Is(err, models.ErrNotCached) {
					return fmt.Errorf("%w; fetch it with `hybridembed models pull %s`", err, id)
				}
				return err
			}
			fmt.Fprintln(g.stdout, loc.Dir)
			return nil
		},
	}
}

func newModelsListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List cached models",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repos, err := models.Cache{}.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tREVISION\tSIZE\tKNOWN AS")
			for _, r := range repos {
				refs := make([]string, 0, len(r.Refs))
				for name, commit := range r.Refs {
					refs = append(refs, name+"="+shortCommit(commit))
				}
				sort.Strings(refs)
				if len(refs) == 0 {
					for _, s := range r.Snapshots {
						refs = append(refs, shortCommit(s))
					}
				}
				known := ""
				if e, ok := models.Lookup(r.ID); ok && e.ID != r.ID {
					known = e.ID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, strings.Join(refs, ","), humanBytes(r.Size), known)
			}
			return tw.Flush()
		},
	}
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
