//go:build linux

package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/bench"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
	"github.com/cso-ssp/platform/internal/target"
)

func benchSoakCmd(g *Globals) *cobra.Command {
	o := bench.SoakOptions{User: "admin", Project: "admin", Domain: "Default", MQUser: rabbitmq.User, MQVHost: rabbitmq.VHost}
	var dir string
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "The LLD's production rate through Keystone and a message flow through RabbitMQ while every agent re-runs: errors and each daemon's memory",
		Long: `soak runs, for --duration (10m), token validations through every Keystone node of the
local target at --rate per second (83.3: the LLD's 5,000 API requests a minute) and, with
--message-rate above 0, persistent messages published with confirms to a quorum queue
of its own (cso-bench-..., deleted at the end) and consumed through the next RabbitMQ node
(cso bench rabbitmq's machinery, one publisher and one consumer), while every
host's agent re-runs every --agent-every (1m, the first half an interval in). It reports
the errors (failed validations, unconfirmed or lost messages, failed agent runs, a daemon
restarted or gone) and the resident memory (RSS from /proc, with the daemon's children) of
every daemon the local supervisors run, after --warmup and at the end. Exit 1 when there
was an error or a daemon's memory grew by more than --tolerance (0.10). Only the local
target: the agents and /proc are this machine's. Bounds as for cso bench keystone: a run
without a bound, or a target outside loopback, is refused (exit 2, nothing sent).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			abs, t, nodes, err := soakTarget(cmd, &o, dir)
			if err != nil {
				return err
			}
			if err := soakCredentials(ctx, &o, t); err != nil {
				return err
			}
			if err := soakAgents(&o, g, abs, t.Env); err != nil {
				return err
			}
			res, err := bench.Soak(ctx, t, nodes, o)
			if err := finishBench(ctx, g, "soak", res, err); err != nil {
				return err
			}
			if len(res.Errors) > 0 {
				return Exit(ExitFailure, fmt.Errorf("soak: %d error(s)", len(res.Errors)))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "local-dir", "", "directory of the local target (default $CSO_LOCAL_DIR, else "+defaultLocalDir+")")
	fl.DurationVar(&o.Duration, "duration", 10*time.Minute, fmt.Sprintf("how long the soak runs (at most %s)", bench.MaxDuration))
	fl.Float64Var(&o.KeystoneRate, "rate", bench.ProductionRate, "token validations per second through the Keystone nodes")
	fl.IntVar(&o.Clients, "clients", 8, "Keystone clients")
	fl.Float64Var(&o.MessageRate, "message-rate", 10, fmt.Sprintf("messages per second published with confirms (0: no RabbitMQ flow; at most %d)", bench.MaxSoakMessageRate))
	fl.DurationVar(&o.AgentEvery, "agent-every", time.Minute, "every host's agent re-runs this often (0: never)")
	fl.DurationVar(&o.Warmup, "warmup", time.Minute, "load before the daemons' memory is first read (default 1m, at most a sixth of --duration)")
	fl.Float64Var(&o.Tolerance, "tolerance", 0.10, "memory growth of a daemon that fails the soak (0.10 = 10 %)")
	return cmd
}

// soakTarget checks the soak's bounds (before any credential is read) and loads the local
// target in dir (default $CSO_LOCAL_DIR) with its Keystone nodes; bad input exits 2.
func soakTarget(cmd *cobra.Command, o *bench.SoakOptions, dir string) (string, *target.Target, []bench.Node, error) {
	if dir == "" {
		dir = localDirDefault()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, nil, Exit(ExitUsage, err)
	}
	if !cmd.Flags().Changed("warmup") {
		o.Warmup = min(o.Warmup, o.Duration/6)
	}
	o.Daemons = func() (map[string]int, error) { return local.Daemons(abs) }
	probe := *o
	probe.Password, probe.MQPassword = "-", "-"
	if err := probe.Validate(); err != nil {
		return "", nil, nil, Exit(ExitUsage, err)
	}
	t, err := target.Load(filepath.Join(abs, target.FileName))
	if err != nil {
		return "", nil, nil, Exit(ExitUsage, err)
	}
	if t.Kind != target.KindLocal {
		return "", nil, nil, Exit(ExitUsage, fmt.Errorf("%s describes a %s target: the soak re-runs agents and reads /proc on this machine, so only a local target", abs, t.Kind))
	}
	nodes, err := bench.KeystoneNodes(t)
	if err != nil {
		return "", nil, nil, Exit(ExitUsage, err)
	}
	return abs, t, nodes, nil
}

// soakCredentials reads the Keystone admin's password and, with a message flow, ssp_user's
// from the local target's secrets; a missing one exits 2.
func soakCredentials(ctx context.Context, o *bench.SoakOptions, t *target.Target) error {
	var err error
	if o.Password, err = benchPassword(ctx, "", t.SecretsDir); err != nil {
		return Exit(ExitUsage, err)
	}
	if o.MessageRate == 0 {
		return nil
	}
	secrets := &agent.LocalSecrets{Dir: t.SecretsDir}
	pw, ok, err := secrets.Lookup(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return Exit(ExitUsage, fmt.Errorf("no credential: %w", err))
	}
	if !ok || pw == "" {
		return Exit(ExitUsage, fmt.Errorf("no credential: secret %s is not in %s (or --message-rate 0)", agent.SecretRabbitMQ, t.SecretsDir))
	}
	o.MQPassword = pw
	return nil
}

// soakAgents lists the hosts whose agents the soak re-runs and how: this binary's
// `cso agent` on the local target in dir. Each agent reads the target's environment file
// (env) from --env-dir: it is read here first, so that a soak started where that file is
// not found exits 2 at once instead of failing every agent run ten minutes later; the
// agents get its absolute directory.
func soakAgents(o *bench.SoakOptions, g *Globals, dir, env string) error {
	self, err := os.Executable()
	if err != nil {
		return Exit(ExitFailure, err)
	}
	if o.AgentEvery <= 0 {
		return nil
	}
	if _, err := loadLocalEnv(g, env); err != nil {
		return err
	}
	envDir, err := filepath.Abs(g.EnvDir)
	if err != nil {
		return Exit(ExitUsage, err)
	}
	if o.Hosts, err = local.AgentHosts(dir); err != nil {
		return Exit(ExitFailure, err)
	}
	o.RunAgent = func(ctx context.Context, host string) (int, error) {
		return local.RunAgent(ctx, self, envDir, dir, host)
	}
	return nil
}
