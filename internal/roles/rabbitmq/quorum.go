package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
)

// QueuesBin is RabbitMQ's queue tool, beside rabbitmqctl (Debian and the RabbitMQ team's
// RPMs alike).
var QueuesBin = "/usr/lib/rabbitmq/bin/rabbitmq-queues"

// DefaultQuorumGroupSize is the number of members RabbitMQ gives a quorum queue declared
// without x-quorum-initial-group-size: the rabbit application's quorum_cluster_size, 3 in
// 3.10 and 4.1.
const DefaultQuorumGroupSize = 3

// quorumQueue is one quorum queue of vhost ssp with the number of members it should have:
// its declared group size (DefaultQuorumGroupSize unless x-quorum-initial-group-size says
// otherwise), at most one per RabbitMQ node.
type quorumQueue struct {
	Name    string
	Members []string
	Target  int
}

// lacks reports whether the queue has fewer members than it should and none on node.
func (q quorumQueue) lacks(node string) bool {
	return !slices.Contains(q.Members, node) && len(q.Members) < q.Target
}

// groupSize reads x-quorum-initial-group-size from a queue's arguments (a JSON number in
// the management API, a [name, type, value] triple in rabbitmqctl's JSON).
func groupSize(v any) int {
	if f, ok := v.(float64); ok && f >= 1 {
		return int(f)
	}
	return DefaultQuorumGroupSize
}

// quorumQueues lists the quorum queues of vhost ssp. The management API answers from the
// queue records (disable_stats: the statistics, refreshed every few seconds, would show a
// membership that just changed as it was); rabbitmqctl list_queues is the fallback.
func quorumQueues(ctx context.Context, rt *agent.Runtime, self Node, nodes int) ([]quorumQueue, error) {
	target := func(size int) int { return min(size, nodes) }
	var apiErr error
	if pass, ok, err := rt.Secret(ctx, agent.SecretRabbitMQ); err == nil && ok {
		if roots, err := pki.PoolFile(self.CACert()); err == nil {
			c := rabbitmqapi.New("https://"+self.Addr(self.Management), roots, User, pass)
			c.HTTP.Timeout = 5 * time.Second
			var qs []struct {
				Name      string         `json:"name"`
				Type      string         `json:"type"`
				Members   []string       `json:"members"`
				Arguments map[string]any `json:"arguments"`
			}
			if apiErr = c.Get(ctx, "/api/queues/"+url.PathEscape(VHost)+"?disable_stats=true", &qs); apiErr == nil {
				var out []quorumQueue
				for _, q := range qs {
					if q.Type == "quorum" {
						out = append(out, quorumQueue{Name: q.Name, Members: q.Members, Target: target(groupSize(q.Arguments["x-quorum-initial-group-size"]))})
					}
				}
				return out, nil
			}
		}
	}
	var qs []struct {
		Name      string          `json:"name"`
		Type      string          `json:"type"`
		Members   json.RawMessage `json:"members"` // "" for classic queues
		Arguments [][]any         `json:"arguments"`
	}
	if err := ctlJSON(ctx, self, &qs, "list_queues", "-p", VHost, "name", "type", "members", "arguments"); err != nil {
		if apiErr != nil {
			err = fmt.Errorf("%w (management API: %v)", err, apiErr)
		}
		return nil, fmt.Errorf("list the quorum queues of vhost %s on %s: %w", VHost, self.Name, err)
	}
	var out []quorumQueue
	for _, q := range qs {
		if q.Type != "quorum" {
			continue
		}
		qq := quorumQueue{Name: q.Name, Target: target(DefaultQuorumGroupSize)}
		if err := json.Unmarshal(q.Members, &qq.Members); err != nil {
			return nil, fmt.Errorf("rabbitmqctl list_queues on %s: members of %s: %w", self.Name, q.Name, err)
		}
		for _, a := range q.Arguments {
			if len(a) == 3 && a[0] == "x-quorum-initial-group-size" {
				qq.Target = target(groupSize(a[2]))
			}
		}
		out = append(out, qq)
	}
	return out, nil
}

// lackingQueues returns the quorum queues of vhost ssp that should have a member on self
// and have none.
func lackingQueues(ctx context.Context, rt *agent.Runtime, self Node, nodes int) ([]quorumQueue, error) {
	qs, err := quorumQueues(ctx, rt, self, nodes)
	if err != nil {
		return nil, err
	}
	var out []quorumQueue
	for _, q := range qs {
		if q.lacks(self.Name) {
			out = append(out, q)
		}
	}
	return out, nil
}

func queueNames(qs []quorumQueue, max int) string {
	var names []string
	for i, q := range qs {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(qs)-max))
			break
		}
		names = append(names, q.Name)
	}
	return strings.Join(names, ", ")
}

// quorumMembersTask gives every quorum queue of vhost ssp that is short of members its
// member on this node: after a rebuilt host rejoined (its peers forgot it, and with it its
// quorum queue members), or for queues declared while the node was away. One
// `rabbitmq-queues grow <self> all` limited to those queues; grow skips a queue that
// already has a member on the node, so the task is idempotent.
func quorumMembersTask(self Node, nodes []Node) agent.Task {
	n := len(nodes)
	return agent.FuncTask{
		TaskName: "quorum queues of vhost " + VHost + " have their member on " + self.Name,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			lacking, err := lackingQueues(ctx, rt, self, n)
			if err != nil && rt.DryRun {
				return agent.Change{Needed: true, Summary: fmt.Sprintf("add %s to the quorum queues of vhost %s short of members (node not answering yet)", self.Name, VHost)}, nil
			}
			if err != nil || len(lacking) == 0 {
				return agent.NoChange, err
			}
			return agent.Change{Needed: true, Summary: fmt.Sprintf("add %s to %d quorum queues of vhost %s (%s)", self.Name, len(lacking), VHost, queueNames(lacking, 5))}, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			lacking, err := lackingQueues(ctx, rt, self, n)
			if err != nil || len(lacking) == 0 {
				return err
			}
			rt.Progressf("  adding %s to %d quorum queues of vhost %s: %s", self.Name, len(lacking), VHost, queueNames(lacking, 5))
			names := make([]string, len(lacking))
			for i, q := range lacking {
				names[i] = regexp.QuoteMeta(q.Name)
			}
			// The patterns are regular expressions matched anywhere in the name: anchor them.
			out, err := queuesCtl(ctx, self, "grow", self.Name, "all",
				"--vhost-pattern", "^"+regexp.QuoteMeta(VHost)+"$",
				"--queue-pattern", "^(?:"+strings.Join(names, "|")+")$")
			if err != nil {
				return err
			}
			// grow returns once each membership change is committed; allow the queue
			// records a moment to say so.
			return agent.WaitFor(ctx, rt, "quorum queue members on "+self.Name, 30*time.Second, func(ctx context.Context) error {
				left, err := lackingQueues(cliAttempt(ctx), rt, self, n)
				if err != nil {
					return err
				}
				if len(left) > 0 {
					return fmt.Errorf("%d quorum queues of vhost %s still without a member on %s (%s); rabbitmq-queues grow said: %.400s",
						len(left), VHost, self.Name, queueNames(left, 5), strings.TrimSpace(string(out)))
				}
				return nil
			})
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.Note("a fresh cluster has no quorum queue short of a member on %s: nothing to grow (the queues the node lists decide; those short of one get rabbitmq-queues grow %s all)", self.Name, self.Name)
			return nil
		},
	}
}

// queuesCtl runs rabbitmq-queues against node n as Ctl runs rabbitmqctl.
func queuesCtl(ctx context.Context, n Node, args ...string) ([]byte, error) {
	return runCLI(ctx, QueuesBin, n, nil, args...)
}
