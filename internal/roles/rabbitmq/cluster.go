package rabbitmq

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// clusterTask makes sure every RabbitMQ node of the environment runs in this node's
// cluster. classic_config forms the cluster at first boot; the task waits (bounded) for the
// peers, and a node that booted alone while its peers were unreachable is joined to the
// first node (its own data is empty then: it has never been a member of the cluster).
func clusterTask(self Node, nodes []Node, st *accessState, wait time.Duration) agent.Task {
	want := NodeNames(nodes)
	return agent.FuncTask{
		TaskName: "cluster of " + strings.Join(want, ", "),
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			if missing, err := missingNodes(ctx, rt, self, want); err == nil && len(missing) == 0 {
				return agent.NoChange, nil
			} else if err == nil {
				return agent.Change{Needed: true, Summary: "wait for nodes " + strings.Join(missing, ", ") + " to run in the cluster"}, nil
			} else if rt.DryRun {
				return agent.Change{Needed: true, Summary: "form the cluster of " + strings.Join(want, ", ") + " (node not answering yet)"}, nil
			} else {
				return agent.Change{}, err
			}
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			defer st.invalidate()
			start := time.Now()
			joined := false
			return agent.WaitFor(ctx, rt, "RabbitMQ cluster of "+strings.Join(want, ", "), wait, func(ctx context.Context) error {
				cs, err := CLIStatus(ctx, self)
				if err != nil {
					return err
				}
				var missing []string
				for _, w := range want {
					if !slices.Contains(cs.RunningNodes, w) {
						missing = append(missing, w)
					}
				}
				if len(missing) == 0 {
					return nil
				}
				// Booted alone (a member of no cluster but its own) while node 1 is part of
				// one: join it. Never when this node already shares membership with others.
				if !joined && self.Name != want[0] && len(cs.DiskNodes) == 1 && time.Since(start) > 15*time.Second {
					// Not bounded by the 10 s of one probe: a join takes several CLI calls.
					if err := joinFirst(context.WithoutCancel(ctx), rt, self, nodes[0]); err != nil {
						return err
					}
					joined = true
				}
				return fmt.Errorf("not running in the cluster: %s", strings.Join(missing, ", "))
			})
		},
	}
}

// missingNodes returns the nodes of want not running in self's cluster: over the
// management API when ssp_user can already log in (fast), else with rabbitmqctl.
func missingNodes(ctx context.Context, rt *agent.Runtime, self Node, want []string) ([]string, error) {
	var running []string
	if pass, ok, err := secret(ctx, rt, agent.SecretRabbitMQ); err == nil && ok {
		if roots, err := LoadCAPool(self.CACert()); err == nil {
			c := NewClient("https://"+self.Addr(self.Management), roots, User, pass)
			c.HTTP.Timeout = 3 * time.Second
			if s, err := c.ClusterStatus(ctx); err == nil {
				running = s.Running()
				if len(s.Partitioned()) > 0 {
					return nil, fmt.Errorf("RabbitMQ reports a network partition: %s", strings.Join(s.Partitioned(), "; "))
				}
			}
		}
	}
	if running == nil {
		cs, err := CLIStatus(ctx, self)
		if err != nil {
			return nil, err
		}
		running = cs.RunningNodes
	}
	var missing []string
	for _, w := range want {
		if !slices.Contains(running, w) {
			missing = append(missing, w)
		}
	}
	return missing, nil
}

func joinFirst(ctx context.Context, rt *agent.Runtime, self, first Node) error {
	cs, err := CLIStatus(ctx, first)
	if err != nil || !slices.Contains(cs.RunningNodes, first.Name) {
		return fmt.Errorf("node %s booted alone and %s is not reachable to join: %v", self.Name, first.Name, err)
	}
	rt.Progressf("  %s formed a cluster of its own; joining %s", self.Name, first.Name)
	for _, args := range [][]string{{"stop_app"}, {"reset"}, {"join_cluster", first.Name}, {"start_app"}} {
		if _, err := Ctl(ctx, self, nil, args...); err != nil {
			return fmt.Errorf("join %s to %s: %w", self.Name, first.Name, err)
		}
	}
	return nil
}
