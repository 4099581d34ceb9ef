// Package cli is the `cso` command tree. Each area registers its commands from its own file
// (env.go, deploy.go, agent.go, local.go, check.go, admin.go) with register(), so the tree
// is assembled in one place and every command shares the global flags and exit codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/userfile"
)

// Exit codes of every cso command (documented in README.md).
const (
	ExitOK      = 0 // success; for plan: no changes
	ExitFailure = 1 // the operation ran and failed (a check red, a deploy step failed)
	ExitUsage   = 2 // bad flags, arguments or input files (nothing was changed)
	ExitChanges = 3 // plan: there are changes to apply
	ExitAborted = 4 // the operator declined or interrupted (Ctrl-C); state was left consistent
)

// ExitError carries an exit code up to Main with the message to print.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// Exit wraps err with an exit code.
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Globals are the flags every command has.
type Globals struct {
	Output  string // "table" or "json"
	EnvDir  string // where env.<name>.yaml files live
	Verbose bool
	// LogFormat is "text" or "json" (slog's handlers): JSON for logs that CloudWatch Logs
	// Insights queries by field (the agent and the dashboard on AWS).
	LogFormat string
	Stdout    io.Writer
	Stderr    io.Writer
	Stdin     io.Reader
}

// JSON reports whether the operator asked for JSON output.
func (g *Globals) JSON() bool { return g.Output == "json" }

// Logger returns the structured logger for diagnostics (stderr).
func (g *Globals) Logger() *slog.Logger {
	lvl := slog.LevelInfo
	if g.Verbose {
		lvl = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if g.LogFormat == LogJSON {
		return slog.New(slog.NewJSONHandler(g.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.Stderr, opts))
}

// Log formats of --log-format.
const (
	LogText = "text"
	LogJSON = "json"
)

type commandFactory struct {
	order int
	make  func(g *Globals) *cobra.Command
}

var factories []commandFactory

// register adds a top-level command; order sorts the help listing.
func register(order int, make func(g *Globals) *cobra.Command) {
	factories = append(factories, commandFactory{order, make})
}

// NewRoot builds the whole command tree writing to the given streams.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) (*cobra.Command, *Globals) {
	g := &Globals{Stdout: stdout, Stderr: stderr, Stdin: stdin}
	root := &cobra.Command{
		Use:   "cso",
		Short: "Plan, deploy, converge and check the CSO Shared Services Portal platform",
		Long: `cso is the one tool of the CSO Shared Services Portal platform: environment files,
Terraform deployment, the host agent, health checks, the jump server's admin dashboard
and the local target that runs the whole platform tier on one machine.

Exit codes: 0 success (plan: no changes), 1 failure, 2 usage or invalid input,
3 plan has changes, 4 declined or interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.Output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.EnvDir, "env-dir", defaultEnvDir(), "directory of the env.<name>.yaml files ($CSO_ENV_DIR)")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "more detail: debug logging on stderr, each task's lines in progress output")
	pf.StringVar(&g.LogFormat, "log-format", defaultLogFormat(), "format of the diagnostic log on stderr: text or json (one JSON object per line; $CSO_LOG_FORMAT)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if g.Output != "table" && g.Output != "json" {
			return Exit(ExitUsage, fmt.Errorf("--output %q: expected table or json", g.Output))
		}
		if g.LogFormat != LogText && g.LogFormat != LogJSON {
			return Exit(ExitUsage, fmt.Errorf("--log-format %q: expected text or json", g.LogFormat))
		}
		return nil
	}
	sort.SliceStable(factories, func(i, j int) bool { return factories[i].order < factories[j].order })
	for _, f := range factories {
		root.AddCommand(f.make(g))
	}
	root.AddCommand(versionCmd(g))
	root.Version = buildVersion().String()
	root.SetVersionTemplate("{{.Version}}\n")
	guardParents(root)
	applyExamples(root)
	registerCompletions(root, g)
	return root, g
}

// guardParents makes every command that only groups subcommands refuse an unknown one with
// exit 2: cobra would otherwise print the parent's help and exit 0 (`cso local stauts`).
// Without arguments a parent still prints its help and exits 0.
func guardParents(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		guardParents(c)
	}
	if !cmd.HasSubCommands() {
		return
	}
	if cmd.Run != nil || cmd.RunE != nil {
		// A command that acts and also has subcommands (`cso backup` and `cso backup
		// list`): a positional argument it refuses is an unknown subcommand.
		if orig := cmd.Args; orig != nil {
			cmd.Args = func(c *cobra.Command, args []string) error {
				if err := orig(c, args); err != nil {
					if len(args) > 0 {
						return unknownSubcommand(c, args[0])
					}
					return err
				}
				return nil
			}
			if cmd.Annotations == nil {
				cmd.Annotations = map[string]string{}
			}
			cmd.Annotations[actionWithSubcommands] = "true"
		}
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return unknownSubcommand(c, args[0])
	}
}

// actionWithSubcommands marks a command that acts by itself and also has subcommands.
const actionWithSubcommands = "cso.action-with-subcommands"

// unknownSubcommand: exit 2, naming the parent and its valid subcommands.
func unknownSubcommand(c *cobra.Command, arg string) error {
	var valid []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			valid = append(valid, sub.Name())
		}
	}
	return Exit(ExitUsage, fmt.Errorf("unknown command %q for %q; valid subcommands: %s",
		arg, c.CommandPath(), strings.Join(valid, ", ")))
}

func defaultLogFormat() string {
	if f := os.Getenv("CSO_LOG_FORMAT"); f != "" {
		return f
	}
	return LogText
}

func defaultEnvDir() string {
	if d := os.Getenv("CSO_ENV_DIR"); d != "" {
		return d
	}
	return "environments"
}

// Main runs cso with args and returns the process exit code.
func Main(args []string) int {
	return Run(args, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with explicit streams (tests call it).
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root, _ := NewRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	// Messages may quote file names and file content: control and bidirectional
	// characters are escaped so that they cannot rewrite the operator's terminal.
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "cso:", userfile.Escape(ee.Err.Error()))
		}
		return ee.Code
	}
	// cobra's own errors are about flags and arguments.
	fmt.Fprintln(stderr, "cso:", userfile.Escape(err.Error()))
	return ExitUsage
}
