package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/bench"
	"github.com/cso-ssp/platform/internal/userfile"
)

// secretKeystoneAdmin is the generated secret holding the Keystone admin password.
const secretKeystoneAdmin = agent.SecretKeystoneAdmin

func init() {
	register(65, func(g *Globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "bench",
			Short: "Measure a service of an environment under bounded load (loopback or the environment's own hosts only)",
			Args:  cobra.NoArgs,
		}
		cmd.AddCommand(benchKeystoneCmd(g), benchRabbitMQCmd(g), benchSoakCmd(g))
		return cmd
	})
}

func benchKeystoneCmd(g *Globals) *cobra.Command {
	tf := targetFlags{}
	o := bench.KeystoneOptions{}
	var passwordFile string
	cmd := &cobra.Command{
		Use:   "keystone",
		Short: "Token validation or token issue on every Keystone node over TLS: throughput and p50/p95/p99",
		Long: `keystone sends token validations (GET /v3/auth/tokens with X-Subject-Token) or token
issues (POST /v3/auth/tokens with a password) to every Keystone node of the environment
over TLS verified against the project CA, from N concurrent clients spread evenly over the
nodes. The run stops after --requests requests or --duration, whichever comes first; both
are required bounds. It sends only to loopback addresses or to the environment's own
Keystone hosts, and refuses (exit 2, nothing sent) any other target, an unbounded run or a
missing credential. The password is read from --password-file, else from the local
target's secrets directory (keystone-admin-password).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			// The bounds first: a bad flag is refused before any file is read.
			probe := o
			probe.Password = "-"
			if err := probe.Validate(); err != nil {
				return Exit(ExitUsage, err)
			}
			t, err := tf.load(ctx, g)
			if err != nil {
				return err
			}
			nodes, err := bench.KeystoneNodes(t)
			if err != nil {
				return Exit(ExitUsage, err)
			}
			o.Password, err = benchPassword(ctx, passwordFile, t.SecretsDir)
			if err != nil {
				return Exit(ExitUsage, err)
			}
			res, err := bench.Keystone(ctx, t, nodes, o)
			if err := finishBench(ctx, g, "bench", res, err); err != nil {
				return err
			}
			if res.Failed > 0 {
				return Exit(ExitFailure, fmt.Errorf("%d of %d requests failed", res.Failed, res.Sent))
			}
			return nil
		},
	}
	tf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Op, "op", bench.OpValidate, "what to measure: validate (GET /v3/auth/tokens) or issue (POST /v3/auth/tokens)")
	fl.IntVar(&o.Clients, "clients", 16, fmt.Sprintf("concurrent clients, spread over the nodes (1-%d)", bench.MaxClients))
	fl.IntVar(&o.Requests, "requests", 2000, fmt.Sprintf("total requests, the count bound (1-%d)", bench.MaxRequests))
	fl.DurationVar(&o.Duration, "duration", time.Minute, fmt.Sprintf("wall-clock bound of the run (at most %s)", bench.MaxDuration))
	fl.Float64Var(&o.Rate, "rate", 0, fmt.Sprintf("requests per second across all clients, evenly spaced (0 = as fast as answered; at most %d)", bench.MaxRate))
	fl.StringVar(&o.User, "user", "admin", "Keystone user")
	fl.StringVar(&o.Project, "project", "admin", "project of the scoped tokens")
	fl.StringVar(&o.Domain, "domain", "Default", "domain of the user and the project")
	fl.StringVar(&passwordFile, "password-file", "", "file holding the user's password (default: the local target's keystone-admin-password secret)")
	fl.BoolVar(&o.RetryOtherNode, "retry-other-node", false, "send a request that fails (transport error or 5xx) once more to the next node, as a client behind the load balancer would")
	return cmd
}

// benchPassword reads the password from file, else from the local target's secret; a
// missing credential is an error that says where it was looked for.
func benchPassword(ctx context.Context, file, secretsDir string) (string, error) {
	return benchSecret(ctx, file, secretsDir, secretKeystoneAdmin)
}

// benchSecret reads a password from file, else from the local target's secret named secret.
func benchSecret(ctx context.Context, file, secretsDir, secret string) (string, error) {
	if file != "" {
		data, err := userfile.Read(file, 4096)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw := strings.TrimRight(string(data), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("--password-file %s is empty", file)
		}
		return pw, nil
	}
	if secretsDir == "" {
		return "", errors.New("no credential: pass --password-file (the target description has no secrets directory)")
	}
	pw, ok, err := (&agent.LocalSecrets{Dir: secretsDir}).Lookup(ctx, secret)
	if err != nil {
		return "", fmt.Errorf("no credential: %w", err)
	}
	if !ok || pw == "" {
		return "", fmt.Errorf("no credential: secret %s is not in %s; pass --password-file", secret, secretsDir)
	}
	return pw, nil
}

// finishBench ends every bench command alike: a run that could not start or failed exits 1
// (4 when Ctrl-C ended it), else the result is printed (text, or JSON with -o json) and an
// interrupted run exits 4 after its partial figures.
func finishBench(ctx context.Context, g *Globals, what string, res interface{ WriteText(io.Writer) error }, runErr error) error {
	if runErr != nil {
		if ctx.Err() != nil {
			return Exit(ExitAborted, fmt.Errorf("%s interrupted", what))
		}
		return Exit(ExitFailure, runErr)
	}
	var err error
	if g.JSON() {
		err = writeJSON(g.Stdout, res)
	} else {
		err = res.WriteText(g.Stdout)
	}
	if err != nil {
		return Exit(ExitFailure, err)
	}
	if ctx.Err() != nil {
		return Exit(ExitAborted, fmt.Errorf("%s interrupted", what))
	}
	return nil
}
