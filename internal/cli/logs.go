package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/logs"
	"github.com/cso-ssp/platform/internal/target"
)

func init() {
	register(75, logsCmd)
}

func logsCmd(g *Globals) *cobra.Command {
	var envName, localDir, since, grep string
	var follow bool
	var limit int
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "logs HOST [SERVICE]",
		Short: "Print (or follow) a host's logs, from its files locally or from CloudWatch Logs on AWS",
		Long: `logs prints the lines of a host's logs, oldest first, each with its time, host and log
name; -o json prints one object per line (time, host, service, message) for scripts.

Where from: with --local-dir (the default when no --env is given) the local target's
files: the logs the CloudWatch agent ships on EC2, under the same names and at the roles'
local paths (agent, keystone, keystone-httpd, keystone-httpd-error, rabbitmq, nginx-access,
nginx-error, admin, efs-s3-sync), and the supervisor's output of every daemon under the
daemon's name. With --env NAME, an AWS environment: the CloudWatch Logs groups
/cso/<env>/<log> (stream: the host's name), read with FilterLogEvents (the operator's AWS
credentials need logs:FilterLogEvents).

SERVICE is one log name (cso logs HOST with a wrong one lists them); without it, every log
of the host, merged by time. --since takes a duration back from now (30m, 1h, 2d) or an
RFC 3339 time (default 24h). --grep keeps the lines that contain TEXT (case-sensitive).
Without -f at most --limit lines (the newest); with -f those, then new lines as they come
(polled every --poll) until Ctrl-C.

Exit code 2 for an unknown host or log (the valid ones are named) or a bad flag.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if envName != "" && cmd.Flags().Changed("local-dir") {
				return Exit(ExitUsage, errors.New("give --env (an AWS environment) or --local-dir (a local target), not both"))
			}
			if limit < 1 || limit > logs.MaxLimit {
				return Exit(ExitUsage, fmt.Errorf("--limit %d: expected 1 to %d", limit, logs.MaxLimit))
			}
			if poll != 0 && (poll < 100*time.Millisecond || poll > time.Minute) {
				return Exit(ExitUsage, fmt.Errorf("--poll %s: expected 100ms to 1m", poll))
			}
			from, err := logs.ParseSince(since, time.Now())
			if err != nil {
				return Exit(ExitUsage, err)
			}
			q := logs.Query{Host: args[0], Since: from, Grep: grep, Limit: limit, Follow: follow, Poll: poll}
			if len(args) == 2 {
				q.Service = args[1]
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := logsReader(ctx, g, envName, localDir)
			if err != nil {
				return err
			}
			write := logs.WriteText
			if g.JSON() {
				write = logs.WriteJSON
			}
			err = r.Read(ctx, q, func(l logs.Line) error { return write(g.Stdout, l) })
			if _, ok := errors.AsType[*logs.UnknownError](err); ok {
				return Exit(ExitUsage, err)
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil // Ctrl-C ends a follow
				}
				return Exit(ExitFailure, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&envName, "env", "", "an AWS environment: read its CloudWatch Logs groups (/cso/<env>/<log>)")
	f.StringVar(&localDir, "local-dir", localDirDefault(), "the local target's directory (default $CSO_LOCAL_DIR, else "+defaultLocalDir+")")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until Ctrl-C")
	f.StringVar(&since, "since", "24h", "only lines from this long ago (30m, 1h, 2d) or from this RFC 3339 time on")
	f.StringVar(&grep, "grep", "", "only lines that contain this text (case-sensitive)")
	f.IntVar(&limit, "limit", logs.DefaultLimit, "at most this many lines (the newest) before following")
	f.DurationVar(&poll, "poll", 0, "with -f, how often to look for new lines (default 500ms locally, 2s on AWS)")
	return cmd
}

// logsReader is the local target's reader, or the AWS environment's with --env.
func logsReader(ctx context.Context, g *Globals, envName, localDir string) (logs.Reader, error) {
	if envName == "" {
		if _, err := os.Stat(filepath.Join(localDir, target.FileName)); err != nil {
			return nil, Exit(ExitUsage, fmt.Errorf("no local target in %s (no %s): give --local-dir, or --env for an AWS environment", localDir, target.FileName))
		}
		r, err := logs.NewLocal(localDir)
		if err != nil {
			return nil, Exit(ExitFailure, err)
		}
		return r, nil
	}
	path := envfile.PathFor(g.EnvDir, envName)
	env, err := envfile.Load(path)
	if err != nil {
		return nil, Exit(ExitUsage, fmt.Errorf("%w (run from the repository root or pass --env-dir)", err))
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.Region))
	if err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("AWS configuration: %w", err))
	}
	return logs.NewCloudWatch(cloudwatchlogs.NewFromConfig(cfg), env.Name, inventory.Hosts(env)), nil
}
