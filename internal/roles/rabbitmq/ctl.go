package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CtlTimeout bounds every rabbitmqctl call.
const CtlTimeout = 60 * time.Second

// cliAttempt frees a CLI call made inside an agent.WaitFor probe from the probe's 10 s
// bound: a CLI tool is an Erlang node that loads the ssl application and completes a TLS
// handshake with the node before it can ask anything (distribution is TLS), which takes
// longer than that on a loaded host. runCLI still bounds the call at CtlTimeout, and
// WaitFor's own deadline applies between attempts.
func cliAttempt(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// CtlError is a failed rabbitmqctl (or rabbitmq-queues) call: its arguments (never a
// secret: secrets go through stdin), exit code and output.
type CtlError struct {
	Tool   string // "" for rabbitmqctl
	Node   string
	Args   []string
	Code   int
	Output string
	Err    error
}

func (e *CtlError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 600 {
		out = out[:600] + "..."
	}
	tool := e.Tool
	if tool == "" {
		tool = "rabbitmqctl"
	}
	if e.TimedOut() {
		return fmt.Sprintf("%s -n %s %s: no answer within %s (killed)%s", tool, e.Node, strings.Join(e.Args, " "), CtlTimeout, outputSuffix(out))
	}
	return fmt.Sprintf("%s -n %s %s: exit %d: %s", tool, e.Node, strings.Join(e.Args, " "), e.Code, out)
}

// TimedOut says whether the call was killed at CtlTimeout (or its caller's deadline).
func (e *CtlError) TimedOut() bool { return errors.Is(e.Err, context.DeadlineExceeded) }

func outputSuffix(out string) string {
	if out == "" {
		return ""
	}
	return ": " + out
}

func (e *CtlError) Unwrap() error { return e.Err }

// Ctl runs rabbitmqctl against node n with stdin (for passwords; may be nil) and returns
// its standard output. Paths are absolute and the working directory is the node's home:
// relative paths make Debian's wrappers hang.
func Ctl(ctx context.Context, n Node, stdin []byte, args ...string) ([]byte, error) {
	return runCLI(ctx, CtlBin, n, stdin, args...)
}

// DiagnosticsBin is RabbitMQ's diagnostics tool, beside rabbitmqctl.
var DiagnosticsBin = "/usr/lib/rabbitmq/bin/rabbitmq-diagnostics"

// Diagnostics runs rabbitmq-diagnostics against node n (over TLS distribution, like every
// CLI call) and returns its standard output.
func Diagnostics(ctx context.Context, n Node, args ...string) ([]byte, error) {
	return runCLI(ctx, DiagnosticsBin, n, nil, args...)
}

// Listener is one entry of `rabbitmq-diagnostics listeners --formatter json`.
type Listener struct {
	Node      string `json:"node"`
	Interface string `json:"interface"`
	Port      int    `json:"port"`
	Protocol  string `json:"protocol"` // amqp, amqp/ssl, clustering, https, ...
	Purpose   string `json:"purpose"`
}

// Listeners lists the listeners of node n.
func Listeners(ctx context.Context, n Node) ([]Listener, error) {
	out, err := Diagnostics(ctx, n, "listeners", "--formatter", "json", "--quiet")
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	// 3.10 prints {"listeners": [...]}.
	var doc struct {
		Listeners []Listener `json:"listeners"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("rabbitmq-diagnostics listeners: unexpected output %.200q: %w", out, err)
	}
	return doc.Listeners, nil
}

// runCLI runs one of RabbitMQ's CLI tools (rabbitmqctl, rabbitmq-queues, rabbitmq-diagnostics) against node n:
// the node's environment (the cookie from HOME, never on the command line), bounded, and
// the whole process group killed on timeout.
func runCLI(ctx context.Context, bin string, n Node, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, CtlTimeout)
	defer cancel()
	full := []string{"-n", n.Name}
	if n.LongName {
		full = append(full, "--longnames")
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = n.Env()
	cmd.Dir = n.Home
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	// The CLI starts an Erlang VM and helpers: on timeout, kill the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s: %w", CtlTimeout, ctx.Err())
		}
		tool := ""
		if bin != CtlBin {
			tool = filepath.Base(bin)
		}
		return stdout.Bytes(), &CtlError{Tool: tool, Node: n.Name, Args: args, Code: code, Output: stderr.String() + stdout.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// ctlJSON runs a listing command with --formatter json and decodes its output into v.
func ctlJSON(ctx context.Context, n Node, v any, args ...string) error {
	out, err := Ctl(ctx, n, nil, append(args, "--formatter", "json", "--quiet")...)
	if err != nil {
		return err
	}
	// Some commands print an informational line before the JSON document.
	if i := bytes.IndexAny(out, "[{"); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("rabbitmqctl %s: unexpected output %.200q: %w", strings.Join(args, " "), out, err)
	}
	return nil
}

// CLIClusterStatus is what `rabbitmqctl cluster_status --formatter json` reports.
type CLIClusterStatus struct {
	ClusterName  string              `json:"cluster_name"`
	DiskNodes    []string            `json:"disk_nodes"`
	RunningNodes []string            `json:"running_nodes"`
	Partitions   map[string][]string `json:"partitions"`
	Alarms       []json.RawMessage   `json:"alarms"`
	Versions     map[string]struct {
		RabbitMQVersion string `json:"rabbitmq_version"`
	} `json:"versions"`
}

// CLIStatus runs cluster_status on node n.
func CLIStatus(ctx context.Context, n Node) (CLIClusterStatus, error) {
	var st CLIClusterStatus
	err := ctlJSON(ctx, n, &st, "cluster_status")
	return st, err
}
