package main

import "github.com/spf13/cobra"

// benchCommands are the subcommands of `ordem bench`; each file that adds
// one appends its constructor in an init function.
var benchCommands []func() *cobra.Command

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that drive a running stack (make bench runs them and writes BENCHMARKS.md)",
	}
	for _, c := range benchCommands {
		cmd.AddCommand(c())
	}
	return cmd
}
