package rabbitmqapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Health of a RabbitMQ cluster, read over the management API. The RabbitMQ role and the
// tests use these reads; they need a user with the monitoring (or administrator) tag:
// ssp_user has it.

// NodeStatus is one cluster member as GET /api/nodes reports it.
type NodeStatus struct {
	Name          string   `json:"name"`
	Running       bool     `json:"running"`
	Partitions    []string `json:"partitions"`
	MemAlarm      bool     `json:"mem_alarm"`
	DiskFreeAlarm bool     `json:"disk_free_alarm"`
	Uptime        int64    `json:"uptime"` // milliseconds
}

// Status is the cluster as one node's management API sees it.
type Status struct {
	ClusterName     string       `json:"cluster_name"`
	RabbitMQVersion string       `json:"rabbitmq_version"`
	Nodes           []NodeStatus `json:"nodes"`
	// Alarms lists resource alarms in effect anywhere in the cluster ("node: memory").
	Alarms []string `json:"alarms,omitempty"`
}

// Running returns the names of the running nodes, sorted.
func (s *Status) Running() []string {
	var out []string
	for _, n := range s.Nodes {
		if n.Running {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Partitioned returns "node: peers" for every node that reports a network partition.
func (s *Status) Partitioned() []string {
	var out []string
	for _, n := range s.Nodes {
		if len(n.Partitions) > 0 {
			out = append(out, n.Name+": "+strings.Join(n.Partitions, ","))
		}
	}
	return out
}

// Check returns nil when every node of want runs, no node reports a partition and no
// alarm is in effect; else an error that says which.
func (s *Status) Check(want []string) error {
	var problems []string
	running := map[string]bool{}
	for _, n := range s.Running() {
		running[n] = true
	}
	for _, w := range want {
		if !running[w] {
			problems = append(problems, "node "+w+" is not running in the cluster")
		}
	}
	if p := s.Partitioned(); len(p) > 0 {
		problems = append(problems, "network partition: "+strings.Join(p, "; "))
	}
	if len(s.Alarms) > 0 {
		problems = append(problems, "alarms: "+strings.Join(s.Alarms, "; "))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// ClusterStatus reads GET /api/overview, /api/nodes and /api/health/checks/alarms.
func (c *Client) ClusterStatus(ctx context.Context) (*Status, error) {
	var ov struct {
		ClusterName     string `json:"cluster_name"`
		RabbitMQVersion string `json:"rabbitmq_version"`
	}
	if err := c.Get(ctx, "/api/overview", &ov); err != nil {
		return nil, err
	}
	st := &Status{ClusterName: ov.ClusterName, RabbitMQVersion: ov.RabbitMQVersion}
	if err := c.Get(ctx, "/api/nodes", &st.Nodes); err != nil {
		return nil, err
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].Name < st.Nodes[j].Name })
	// The alarms health check answers 503 with the alarms when there are any.
	var alarms struct {
		Status string `json:"status"`
		Alarms []struct {
			Node     string `json:"node"`
			Resource string `json:"resource"`
		} `json:"alarms"`
	}
	err := c.Get(ctx, "/api/health/checks/alarms", &alarms)
	var he *HTTPError
	switch {
	case err == nil:
	case errors.As(err, &he) && he.Code == http.StatusServiceUnavailable:
		if json.Unmarshal([]byte(he.Body), &alarms) != nil || len(alarms.Alarms) == 0 {
			st.Alarms = append(st.Alarms, he.Body)
		}
	default:
		return nil, err
	}
	for _, a := range alarms.Alarms {
		st.Alarms = append(st.Alarms, a.Node+": "+a.Resource)
	}
	for _, n := range st.Nodes {
		if n.MemAlarm {
			st.Alarms = appendUnique(st.Alarms, n.Name+": memory")
		}
		if n.DiskFreeAlarm {
			st.Alarms = appendUnique(st.Alarms, n.Name+": disk")
		}
	}
	return st, nil
}

func appendUnique(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// Queue is what the management API says about one queue.
type Queue struct {
	Name   string   `json:"name"`
	VHost  string   `json:"vhost"`
	Type   string   `json:"type"` // classic, quorum, stream
	Node   string   `json:"node"`
	Leader string   `json:"leader"`
	Online []string `json:"online"`
	// Members are the nodes that hold a replica of a quorum queue.
	Members  []string `json:"members"`
	Messages int      `json:"messages"`
}

// Queue reads GET /api/queues/<vhost>/<name>.
func (c *Client) Queue(ctx context.Context, vhost, name string) (*Queue, error) {
	var q Queue
	err := c.Get(ctx, "/api/queues/"+url.PathEscape(vhost)+"/"+url.PathEscape(name), &q)
	if err != nil {
		return nil, err
	}
	return &q, nil
}
