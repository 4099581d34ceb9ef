package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
)

func managementURL(h inventory.Host) string {
	return fmt.Sprintf("https://%s:%d", h.FQDN, h.Ports[inventory.PortManagement])
}

// rabbitGet requests path from node's management API (rabbitmqapi, through the checker's
// HTTP client) and decodes a 200 answer into v; any other status is returned with its body
// for the probe to judge.
func (c *Checker) rabbitGet(ctx context.Context, node inventory.Host, path string, v any) (int, []byte, error) {
	pw, err := c.secret(ctx, secretRabbitMQ)
	if err != nil {
		return 0, nil, err
	}
	api := rabbitmqapi.Client{Endpoint: managementURL(node), User: c.opts.RabbitMQUser, Pass: pw, HTTP: c.client}
	code, body, err := api.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %s", api.Endpoint+path, httpErr(err))
	}
	if code == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return code, body, fmt.Errorf("GET %s: not the expected JSON: %w", api.Endpoint+path, err)
		}
	}
	return code, body, nil
}

func (c *Checker) rabbitDenied(code int, path string) string {
	if code == http.StatusUnauthorized {
		return fmt.Sprintf("user %s rejected on %s (HTTP 401): wrong password in %s, or the user lacks the management/monitoring tag", c.opts.RabbitMQUser, path, secretRabbitMQ)
	}
	return ""
}

// rabbitOverview is the LLD 6.3 health endpoint of one node.
func (c *Checker) rabbitOverview(h inventory.Host, _ string) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		var ov struct {
			RabbitMQVersion string `json:"rabbitmq_version"`
			ClusterName     string `json:"cluster_name"`
			Node            string `json:"node"`
		}
		code, body, err := c.rabbitGet(ctx, h, "/api/overview", &ov)
		if err != nil {
			return fail("%v", err)
		}
		if m := c.rabbitDenied(code, "/api/overview"); m != "" {
			return fail("%s", m)
		}
		if code != http.StatusOK {
			return fail("/api/overview: HTTP %d%s", code, snippet(body))
		}
		return ok("node %s, RabbitMQ %s, cluster %s", ov.Node, ov.RabbitMQVersion, ov.ClusterName)
	}
}

// rabbitNode is the part of GET /api/nodes the checks read.
type rabbitNode struct {
	Name          string   `json:"name"`
	Running       bool     `json:"running"`
	Partitions    []string `json:"partitions"`
	MemAlarm      bool     `json:"mem_alarm"`
	DiskFreeAlarm bool     `json:"disk_free_alarm"`
}

// rabbitCluster is GET /api/nodes read once, from the first node that answers, for the
// cluster-wide checks of one run.
type rabbitCluster struct {
	c     *Checker
	nodes []inventory.Host
	once  sync.Once
	view  []rabbitNode
	from  string // the node that answered
	err   error
}

func (rc *rabbitCluster) get(ctx context.Context) ([]rabbitNode, string, error) {
	rc.once.Do(func() {
		var errs []string
		for _, n := range rc.nodes {
			var v []rabbitNode
			code, body, err := rc.c.rabbitGet(ctx, n, "/api/nodes", &v)
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("%s: %v", n.Name, err))
			case code == http.StatusOK:
				rc.view, rc.from, rc.err = v, n.Name, nil
				return
			case rc.c.rabbitDenied(code, "/api/nodes") != "":
				rc.err = fmt.Errorf("%s", rc.c.rabbitDenied(code, "/api/nodes"))
				return
			default:
				errs = append(errs, fmt.Sprintf("%s: /api/nodes HTTP %d%s", n.Name, code, snippet(body)))
			}
		}
		rc.err = fmt.Errorf("no node answered /api/nodes: %s", strings.Join(errs, "; "))
	})
	return rc.view, rc.from, rc.err
}

// probe is a cluster-wide check judged by judge from the cluster's view.
func (rc *rabbitCluster) probe(name string, judge func(v []rabbitNode, from string) Outcome) Probe {
	return Probe{Check: name, Target: "rabbitmq cluster", Group: GroupRabbitMQ, Run: func(ctx context.Context) Outcome {
		v, from, err := rc.get(ctx)
		if err != nil {
			return fail("%v", err)
		}
		return judge(v, from)
	}}
}

func (c *Checker) rabbitmqProbes() []Probe {
	nodes := inventory.ByRole(c.t.Hosts, envfile.RoleRabbitMQ)
	if len(nodes) == 0 {
		return nil
	}
	rc := &rabbitCluster{c: c, nodes: nodes}
	want := len(nodes)
	ps := []Probe{
		rc.probe("rabbitmq nodes running", func(v []rabbitNode, from string) Outcome { return nodesRunning(v, from, want) }),
		rc.probe("rabbitmq partitions", func(v []rabbitNode, _ string) Outcome { return partitions(v) }),
		rc.probe("rabbitmq alarms", func(v []rabbitNode, _ string) Outcome { return alarms(v) }),
	}
	for _, n := range nodes {
		ps = append(ps, c.quorumCriticalProbe(n))
	}
	return ps
}

// nodesRunning: every node of the cluster runs, and the cluster has one per RabbitMQ host.
func nodesRunning(v []rabbitNode, from string, want int) Outcome {
	var running, down []string
	for _, n := range v {
		if n.Running {
			running = append(running, n.Name)
		} else {
			down = append(down, n.Name)
		}
	}
	sort.Strings(running)
	sort.Strings(down)
	switch {
	case len(down) > 0:
		return fail("%d of %d nodes running (seen from %s); not running: %s", len(running), len(v), from, strings.Join(down, ", "))
	case len(v) != want:
		return fail("cluster has %d nodes (%s), expected %d (one per rabbitmq host)", len(v), strings.Join(running, ", "), want)
	}
	return ok("%d of %d nodes running: %s", len(running), want, strings.Join(running, ", "))
}

// partitions: no node has lost sight of another.
func partitions(v []rabbitNode) Outcome {
	var p []string
	for _, n := range v {
		if len(n.Partitions) > 0 {
			p = append(p, fmt.Sprintf("%s cannot see %s", n.Name, strings.Join(n.Partitions, ", ")))
		}
	}
	if len(p) > 0 {
		return fail("network partition: %s", strings.Join(p, "; "))
	}
	return ok("no partitions")
}

// alarms: no memory or disk alarm blocks the publishers.
func alarms(v []rabbitNode) Outcome {
	var a []string
	for _, n := range v {
		if n.MemAlarm {
			a = append(a, n.Name+": memory alarm")
		}
		if n.DiskFreeAlarm {
			a = append(a, n.Name+": disk free alarm")
		}
	}
	if len(a) > 0 {
		return fail("publishers blocked: %s", strings.Join(a, "; "))
	}
	return ok("no memory or disk alarms")
}

// quorumCriticalProbe: stopping node n would not leave a quorum queue without a majority.
func (c *Checker) quorumCriticalProbe(n inventory.Host) Probe {
	return Probe{Check: "rabbitmq quorum-critical", Target: n.Name, Group: GroupRabbitMQ, Host: n.Name,
		Run: func(ctx context.Context) Outcome {
			const path = "/api/health/checks/node-is-quorum-critical"
			code, body, err := c.rabbitGet(ctx, n, path, nil)
			if err != nil {
				return fail("%v", err)
			}
			if m := c.rabbitDenied(code, path); m != "" {
				return fail("%s", m)
			}
			switch code {
			case http.StatusOK:
				return ok("stopping %s would leave every quorum queue a majority", n.Name)
			case http.StatusServiceUnavailable:
				var r struct {
					Reason string `json:"reason"`
				}
				_ = json.Unmarshal(body, &r)
				return fail("%s is quorum-critical: %s", n.Name, firstNonEmpty(r.Reason, strings.TrimSpace(string(body))))
			}
			return fail("%s: HTTP %d%s", path, code, snippet(body))
		}}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
