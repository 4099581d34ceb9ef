package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
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
			} else {
				// Not answering yet (or a CLI call that timed out on a loaded host, TLS
				// distribution makes each one slower): the apply's bounded wait asks again.
				return agent.Change{Needed: true, Summary: "form the cluster of " + strings.Join(want, ", ") + " (node not answering yet: " + err.Error() + ")"}, nil
			}
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			defer st.invalidate()
			start := time.Now()
			joined := false
			var staleProbe time.Time
			return agent.WaitFor(ctx, rt, "RabbitMQ cluster of "+strings.Join(want, ", "), wait, func(ctx context.Context) error {
				cs, err := CLIStatus(cliAttempt(ctx), self)
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
				// Booted alone while a running peer still lists this node's name as a stopped
				// member: the host was rebuilt (cso replace) and the peers did not forget it
				// before it started. Joining as is fails ("inconsistent_cluster"): forget, then join.
				if !joined && len(nodes) > 1 && alone(cs, self) && time.Since(staleProbe) > 5*time.Second {
					staleProbe = time.Now()
					if peer, ok := staleMember(cliAttempt(ctx), rt, self, nodes); ok {
						if err := rejoinReplaced(context.WithoutCancel(ctx), rt, self, peer); err != nil {
							return err
						}
						joined = true
						return fmt.Errorf("rejoining %s", peer.Name)
					}
				}
				// Booted alone (a member of no cluster but its own) while node 1 is part of
				// one: join it. Never when this node already shares membership with others.
				if !joined && self.Name != want[0] && alone(cs, self) && time.Since(start) > 15*time.Second {
					// Not bounded by the 10 s of one probe: a join takes several CLI calls.
					if err := joinFirst(context.WithoutCancel(ctx), rt, self, nodes[0]); err != nil {
						return err
					}
					joined = true
				}
				return fmt.Errorf("not running in the cluster: %s", strings.Join(missing, ", "))
			})
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait("nodes "+strings.Join(want, ", ")+" to run in one cluster (classic_config forms it at first boot)", wait)
			if self.Name != want[0] {
				r.Note("a node that booted alone is joined to %s (rabbitmqctl stop_app, reset, join_cluster %s, start_app): what the cluster status reports decides", want[0], want[0])
			}
			return nil
		},
	}
}

// missingNodes returns the nodes of want not running in self's cluster: over the
// management API when ssp_user can already log in (fast), else with rabbitmqctl.
func missingNodes(ctx context.Context, rt *agent.Runtime, self Node, want []string) ([]string, error) {
	var running []string
	if pass, ok, err := rt.Secret(ctx, agent.SecretRabbitMQ); err == nil && ok {
		if roots, err := pki.PoolFile(self.CACert()); err == nil {
			c := rabbitmqapi.New("https://"+self.Addr(self.Management), roots, User, pass)
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

// A rebuilt host (cso replace) comes back with an empty disk and the same node name, while
// its peers still list that name as a stopped cluster member and as a member of every
// quorum queue. Left alone, RabbitMQ 3.10 lets the blank node back in under its old
// identity at boot (peer discovery skips the membership check) and restarts its quorum
// queue members empty: Raft members that lost entries they had acknowledged. RabbitMQ 4.x
// refuses the join ("inconsistent_cluster") and the node runs alone. Either way a running
// peer must forget the name first (`rabbitmqctl forget_cluster_node`, which also removes
// the name from every quorum queue); the node then joins as a new member and
// quorumMembersTask gives the queues their member on it again.

// alone reports whether cs, the cluster status of self, is a cluster of self only.
func alone(cs CLIClusterStatus, self Node) bool {
	return len(cs.DiskNodes) == 1 && cs.DiskNodes[0] == self.Name
}

// dataDirEmpty reports whether the node's database directory (<MnesiaBase>/<node name>,
// RabbitMQ's default RABBITMQ_MNESIA_DIR in 3.10 and 4.x) is missing or empty: the node
// has never started on this disk.
func (n Node) dataDirEmpty() (bool, error) {
	entries, err := os.ReadDir(filepath.Join(n.MnesiaBase, n.Name))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("node %s: read its database directory: %w", n.Name, err)
	}
	return len(entries) == 0, nil
}

// staleMember returns a running peer that lists self as a stopped member of its cluster.
// It asks each peer's management API (milliseconds; fails fast when the peer is down),
// then confirms with `rabbitmqctl cluster_status` on that peer. ok is false when no peer
// does, or when that cannot be established: a node is never forgotten on a guess, and
// never while any peer sees it running.
func staleMember(ctx context.Context, rt *agent.Runtime, self Node, nodes []Node) (Node, bool) {
	pass, ok, err := rt.Secret(ctx, agent.SecretRabbitMQ)
	if err != nil || !ok {
		return Node{}, false
	}
	roots, err := pki.PoolFile(self.CACert())
	if err != nil {
		return Node{}, false
	}
	for _, p := range nodes {
		if p.Name == self.Name {
			continue
		}
		c := rabbitmqapi.New("https://"+p.Addr(p.Management), roots, User, pass)
		c.HTTP.Timeout = 3 * time.Second
		var members []rabbitmqapi.NodeStatus
		if c.Get(ctx, "/api/nodes", &members) != nil {
			continue
		}
		peerRuns, selfStopped := false, false
		for _, m := range members {
			switch m.Name {
			case p.Name:
				peerRuns = m.Running
			case self.Name:
				selfStopped = !m.Running
			}
		}
		if !peerRuns || !selfStopped {
			continue
		}
		cs, err := CLIStatus(ctx, p)
		if err != nil || !slices.Contains(cs.RunningNodes, p.Name) ||
			!slices.Contains(cs.DiskNodes, self.Name) || slices.Contains(cs.RunningNodes, self.Name) {
			continue
		}
		return p, true
	}
	return Node{}, false
}

// replaced returns the peer to forget self on when self's host was rebuilt and the node has
// not started yet: its database directory is empty, its service does not run, and a running
// peer lists its name as a stopped member.
func replaced(ctx context.Context, rt *agent.Runtime, self Node, nodes []Node) (Node, bool, error) {
	if len(nodes) < 2 {
		return Node{}, false, nil
	}
	empty, err := self.dataDirEmpty()
	if err != nil || !empty {
		return Node{}, false, err
	}
	if running, err := rt.Platform.Running(ctx, self.ServiceName); err != nil || running {
		return Node{}, false, err
	}
	peer, ok := staleMember(ctx, rt, self, nodes)
	return peer, ok, nil
}

// forgetReplacedTask runs before the node starts: when the host was rebuilt with the same
// node name, a running peer forgets the name, so that the blank node joins as a new member.
func forgetReplacedTask(self Node, nodes []Node) agent.Task {
	return agent.FuncTask{
		TaskName: "no stale cluster membership of " + self.Name,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			peer, ok, err := replaced(ctx, rt, self, nodes)
			if err != nil || !ok {
				return agent.NoChange, err
			}
			return agent.Change{Needed: true, Summary: fmt.Sprintf("%s has no data here but %s still lists it as a stopped cluster member (host rebuilt): forget it on %s before the node starts",
				self.Name, peer.Name, peer.Name)}, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			peer, ok, err := replaced(ctx, rt, self, nodes)
			if err != nil || !ok {
				return err
			}
			rt.Progressf("  %s still a member of the cluster: forgetting it on %s before it starts", self.Name, peer.Name)
			return forget(ctx, self, peer)
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.Note("only on a rebuilt host whose name a running peer still lists as a stopped member (rabbitmqctl -n PEER forget_cluster_node %s): no peer runs before a fresh environment's first boot", self.Name)
			return nil
		},
	}
}

// forget runs `rabbitmqctl -n <peer> forget_cluster_node <self>` from this host. The CLI
// also removes self from the membership of every quorum queue (rabbit_quorum_queue:shrink_all,
// RabbitMQ 3.10 and 4.x); it refuses while the node runs in the peer's cluster.
func forget(ctx context.Context, self, peer Node) error {
	if _, err := Ctl(ctx, peer, nil, "forget_cluster_node", self.Name); err != nil {
		return fmt.Errorf("forget %s on %s: %w", self.Name, peer.Name, err)
	}
	return nil
}

// rejoinReplaced joins self, which booted alone, to peer, which still lists self as a
// stopped member: stop_app, forget on peer, reset, join_cluster, start_app. A node that
// holds messages of its own is not reset: that needs an operator.
func rejoinReplaced(ctx context.Context, rt *agent.Runtime, self, peer Node) error {
	var queues []struct {
		Name     string `json:"name"`
		Messages int    `json:"messages"`
	}
	if err := ctlJSON(ctx, self, &queues, "list_queues", "-p", VHost, "name", "messages"); err != nil {
		return fmt.Errorf("node %s booted alone: list its queues before resetting it: %w", self.Name, err)
	}
	var held []string
	for _, q := range queues {
		if q.Messages > 0 {
			held = append(held, fmt.Sprintf("%s (%d)", q.Name, q.Messages))
		}
	}
	if len(held) > 0 {
		return &agent.PermanentError{Err: fmt.Errorf("node %s booted alone while %s lists it as a stopped member, but it holds messages in vhost %s: %s; "+
			"joining would reset it and lose them: move them, then `rabbitmqctl -n %s stop_app`, `reset`, and run the agent again",
			self.Name, peer.Name, VHost, strings.Join(held, ", "), self.Name)}
	}
	rt.Progressf("  %s still a member of the cluster: forgetting it on %s before joining", self.Name, peer.Name)
	if _, err := Ctl(ctx, self, nil, "stop_app"); err != nil {
		return fmt.Errorf("rejoin %s to %s: %w", self.Name, peer.Name, err)
	}
	if err := forget(ctx, self, peer); err != nil {
		if _, serr := Ctl(ctx, self, nil, "start_app"); serr != nil {
			err = fmt.Errorf("%w; start_app on %s failed too: %v", err, self.Name, serr)
		}
		return err
	}
	for _, args := range [][]string{{"reset"}, {"join_cluster", peer.Name}, {"start_app"}} {
		if _, err := Ctl(ctx, self, nil, args...); err != nil {
			return fmt.Errorf("rejoin %s to %s: %w", self.Name, peer.Name, err)
		}
	}
	return nil
}
