package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridembed/hybridembed/internal/doctor"
)

// errProblems makes doctor exit 1 when it found something to fix (already
// printed).
var errProblems = errors.New("doctor found problems (each is listed above with its fix)")

func newDoctorCommand(g *globalOptions) *cobra.Command {
	var asJSON, noProbe bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check ONNX Runtime, the GPUs and the CUDA libraries, and say what to fix",
		Long: `Examine what local models run on here: the ONNX Runtime library (path,
version, CPU or CUDA build, providers), the GPUs the NVIDIA driver reports, each
CUDA and cuDNN library the CUDA provider needs (found or missing, and where:
the loader path, $CUDA_HOME/$CUDA_PATH, Python's nvidia-* wheels),
libjpeg-turbo, libheif, and where --device (auto by default) would run models. Every
problem comes with the command that fixes it. Where CUDA looks ready, a small
convolution is run on the GPU to prove it (--no-probe skips it).

` + exitHelp(
			status{exitOK, "nothing to fix for the device asked for"},
			status{exitFatal, "a problem was found (each is printed with its fix), or bad flags"},
		),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dev, err := doctor.ParseDevice(g.Device)
			if err != nil {
				return flagError("device", g.Device, "cpu, cuda or auto")
			}
			r := doctor.Examine(cmd.Context(), doctor.Options{Device: dev, NoProbe: noProbe})
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				printDoctor(g.stdout, r)
			}
			if len(r.Problems) > 0 {
				return errProblems
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&noProbe, "no-probe", false, "do not run a test convolution on the GPU")
	return cmd
}

func printDoctor(w io.Writer, r doctor.Report) {
	rt := r.Runtime
	fmt.Fprintln(w, "ONNX Runtime")
	if rt.Error != "" && rt.Library == "" {
		fmt.Fprintf(w, "  not loaded: %s\n", rt.Error)
	} else {
		fmt.Fprintf(w, "  library    %s\n", rt.Library)
		fmt.Fprintf(w, "  found by   %s\n", rt.Source)
		fmt.Fprintf(w, "  version    %s, %s build\n", rt.Version, strings.ToUpper(rt.Build))
		if rt.Installed != "" {
			fmt.Fprintf(w, "  installed  %s\n", rt.Installed)
		}
		if len(rt.Providers) > 0 {
			fmt.Fprintf(w, "  providers  %s (as the library reports them)\n", strings.Join(rt.Providers, ", "))
		}
		if rt.CUDAProvider != "" {
			fmt.Fprintf(w, "  CUDA provider %s\n", rt.CUDAProvider)
		}
	}

	fmt.Fprintln(w, "\nGPUs")
	switch {
	case len(r.GPUs.GPUs) > 0:
		fmt.Fprintf(w, "  driver %s, CUDA %s (via %s)\n", orDash(r.GPUs.Driver), orDash(r.GPUs.CUDA), r.GPUs.Via)
		for _, g := range r.GPUs.GPUs {
			cc := ""
			if g.Compute != "" {
				cc = ", compute capability " + g.Compute
			}
			fmt.Fprintf(w, "  %d: %s, %d MiB%s\n", g.Index, g.Name, g.MemoryMiB, cc)
		}
	case r.GPUs.Error != "":
		fmt.Fprintf(w, "  none: %s\n", r.GPUs.Error)
	default:
		fmt.Fprintln(w, "  none reported")
	}

	c := r.CUDA
	fmt.Fprintln(w, "\nCUDA")
	if c.Available {
		fmt.Fprintln(w, "  available")
	} else {
		fmt.Fprintf(w, "  unavailable: %s\n", c.Reason)
	}
	if c.Probe != "" {
		fmt.Fprintf(w, "  test convolution on the GPU: %s\n", c.Probe)
	}
	if c.Provider == "" {
		fmt.Fprintln(w, "  libraries the CUDA build (scripts/install-onnxruntime.sh --gpu) needs:")
	} else {
		fmt.Fprintf(w, "  libraries %s needs:\n", c.Provider)
	}
	for _, l := range c.Libraries {
		switch {
		case l.Found() && l.Error != "":
			fmt.Fprintf(w, "    %-22s %s (%s): will not load: %s\n", l.Name, l.Path, l.Origin, l.Error)
		case l.Found():
			fmt.Fprintf(w, "    %-22s %s (%s)\n", l.Name, l.Path, l.Origin)
		case len(l.Others) > 0:
			fmt.Fprintf(w, "    %-22s MISSING (%s; other versions: %s)\n", l.Name, l.What, strings.Join(l.Others, ", "))
		default:
			fmt.Fprintf(w, "    %-22s MISSING (%s; pip: %s)\n", l.Name, l.What, l.Pip)
		}
	}
	if len(c.Searched) > 0 {
		var dirs []string
		for _, d := range c.Searched {
			dirs = append(dirs, d.Path)
		}
		fmt.Fprintf(w, "  searched %s\n", strings.Join(dirs, ", "))
	}

	fmt.Fprintln(w, "\nJPEG decoding")
	if r.JPEG.Reason != "" {
		fmt.Fprintf(w, "  %s: %s\n", r.JPEG.Decoder, r.JPEG.Reason)
	} else {
		fmt.Fprintf(w, "  %s\n", r.JPEG.Decoder)
	}

	fmt.Fprintln(w, "\nHEIC, HEIF and AVIF decoding")
	if r.HEIF.Library != "" {
		fmt.Fprintf(w, "  libheif %s (%s)\n", r.HEIF.Version, r.HEIF.Library)
	}
	fmt.Fprintf(w, "  HEIC: %s\n  AVIF: %s\n", r.HEIF.HEIC, r.HEIF.AVIF)

	fmt.Fprintln(w, "\nDevice")
	if r.Device.Runs != "" {
		fmt.Fprintf(w, "  --device %s: models run on the %s: %s\n", r.Device.Requested, strings.ToUpper(r.Device.Runs), r.Device.Reason)
	} else {
		fmt.Fprintf(w, "  --device %s: local models cannot run: %s\n", r.Device.Requested, r.Device.Reason)
	}

	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "\nNo problems found.")
		return
	}
	fmt.Fprintln(w, "\nProblems")
	for i, p := range r.Problems {
		fmt.Fprintf(w, "  %d. %s\n     fix: %s\n", i+1, p.What, p.Fix)
	}
}
