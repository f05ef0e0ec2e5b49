// Command proxy is the HybridRAG storage proxy: it serves LightRAG's storage
// kinds over HTTP+JSON (serve), edits the registry of databases (db),
// reports on LightRAG folders offline (inspect) and generates test folders
// (gen).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run executes the CLI with a context cancelled by SIGINT or SIGTERM and
// turns the result into an exit code. Errors are one line on stderr.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr, getenv)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "proxy: "+errorLine(err))
	if isUsage(err) {
		return exitUsage
	}
	return exitError
}

// usageError marks a command line the user must fix (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func isUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	// Cobra's own parse errors are plain errors.
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.Contains(msg, "flag needs an argument") ||
		strings.HasPrefix(msg, "required flag")
}

// errorLine renders an error as "what is wrong: how to fix it", using the
// hint of an adapters.Error when there is one.
func errorLine(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	var ae *adapters.Error
	if errors.As(err, &ae) && ae.Hint != "" && !strings.Contains(msg, ae.Hint) {
		msg += ": " + ae.Hint
	}
	if isUsage(err) && !strings.Contains(msg, "--help") {
		msg += " (run the command with --help for its usage)"
	}
	return msg
}

// exactArgs is cobra.ExactArgs with a usage error naming what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s, got %d argument(s): run '%s --help'", cmd.CommandPath(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q: run '%s --help'", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}
