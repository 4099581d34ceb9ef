package cli

import (
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/cso-ssp/platform/internal/inventory"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/bench"
)

// Client settings of `cso bench rabbitmq`, chosen by measurement (docs/benchmarks.md,
// "RabbitMQ under load").
const (
	benchPrefetch      = 100
	benchConfirmWindow = 64
)

func benchRabbitMQCmd(g *Globals) *cobra.Command {
	tf := targetFlags{}
	o := bench.RabbitMQOptions{}
	var passwordFile string
	cmd := &cobra.Command{
		Use:   "rabbitmq",
		Short: "Publish with confirms to a quorum queue and consume, across every RabbitMQ node over TLS: throughput, p50/p95/p99, lost and duplicates",
		Long: `rabbitmq declares a durable quorum queue of its own (cso-bench-<random>, deleted at
the end), then publishes --messages messages with publisher confirms from --publishers
connections and consumes them with manual acknowledgements from --consumers connections,
spread over every RabbitMQ node of the environment, over AMQPS verified against the
project CA. Each message carries its send time: the latency is end to end, publish to
delivery. A connection that breaks is opened again on the next node; what was not
confirmed is published again, so a message may be delivered twice (counted as a
duplicate), and a confirmed message never delivered is counted as lost.

The run stops when every message is confirmed and delivered, or at --duration; both
bounds are required. It sends only to loopback addresses or to the environment's own
RabbitMQ hosts, and refuses (exit 2, nothing sent) any other target, an unbounded run or
a missing credential. The password of --user is read from --password-file, else from the
local target's secrets directory (rabbitmq-ssp-password). Exit 1 when a confirmed message
was lost or the run did not drain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			probe := o
			probe.Password = "-"
			if err := probe.Validate(); err != nil {
				return Exit(ExitUsage, err)
			}
			t, err := tf.load(ctx, g)
			if err != nil {
				return err
			}
			nodes, err := bench.RabbitMQNodes(t)
			if err != nil {
				return Exit(ExitUsage, err)
			}
			o.Password, err = benchSecret(ctx, passwordFile, t.SecretsDir, agent.SecretRabbitMQ)
			if err != nil {
				return Exit(ExitUsage, err)
			}
			res, err := bench.RabbitMQ(ctx, t, nodes, o)
			if err := finishBench(ctx, g, "bench", res, err); err != nil {
				return err
			}
			if res.Lost > 0 || !res.Drained {
				return Exit(ExitFailure, fmt.Errorf("%d confirmed messages lost, %d of %d confirmed and %d delivered within the bound",
					res.Lost, res.Confirmed, res.Limit, res.Consumed))
			}
			return nil
		},
	}
	tf.add(cmd)
	fl := cmd.Flags()
	fl.IntVar(&o.Publishers, "publishers", 3, fmt.Sprintf("publisher connections, spread over the nodes (1-%d)", bench.MaxClients))
	fl.IntVar(&o.Consumers, "consumers", 3, fmt.Sprintf("consumer connections, spread over the nodes (1-%d)", bench.MaxClients))
	fl.IntVar(&o.Messages, "messages", 10000, fmt.Sprintf("messages to publish, the count bound (1-%d)", bench.MaxMessages))
	fl.DurationVar(&o.Duration, "duration", time.Minute, fmt.Sprintf("wall-clock bound of the run, draining included (at most %s)", bench.MaxDuration))
	fl.IntVar(&o.Size, "size", 1024, fmt.Sprintf("message body in bytes (24-%d)", bench.MaxMessageSize))
	fl.IntVar(&o.Prefetch, "prefetch", benchPrefetch, fmt.Sprintf("each consumer's prefetch (basic.qos), unacknowledged deliveries in flight (1-%d)", bench.MaxPrefetch))
	fl.IntVar(&o.ConfirmWindow, "confirm-window", benchConfirmWindow, fmt.Sprintf("each publisher's unconfirmed messages in flight (1-%d)", bench.MaxConfirmWindow))
	fl.Float64Var(&o.Rate, "rate", 0, fmt.Sprintf("new messages per second, all publishers together (0: as fast as confirms allow; at most %d)", bench.MaxMessageRate))
	fl.StringVar(&o.Queue, "queue", "", "quorum queue to use, named "+bench.QueuePrefix+"... (default: a new one, deleted at the end)")
	fl.StringVar(&o.User, "user", inventory.RabbitMQUser, "RabbitMQ user")
	fl.StringVar(&o.VHost, "vhost", inventory.RabbitMQVHost, "virtual host")
	fl.StringVar(&passwordFile, "password-file", "", "file holding the user's password (default: the local target's rabbitmq-ssp-password secret)")
	return cmd
}
