package check

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// Queue is one RabbitMQ queue as the management API reports it (GET /api/queues).
type Queue struct {
	VHost     string `json:"vhost"`
	Name      string `json:"name"`
	Type      string `json:"type"` // classic, quorum, stream
	Node      string `json:"node"` // the leader's node for quorum queues
	Messages  int    `json:"messages"`
	Ready     int    `json:"messages_ready"`
	Unacked   int    `json:"messages_unacknowledged"`
	Consumers int    `json:"consumers"`
}

// RabbitQueues lists every queue of the cluster, from the first node whose management API
// answers, with the node it came from. It is not a probe: the dashboard and /metrics show
// queue depths and consumers as facts, not as ok or fail.
func (c *Checker) RabbitQueues(ctx context.Context) ([]Queue, string, error) {
	nodes := inventory.ByRole(c.t.Hosts, envfile.RoleRabbitMQ)
	if len(nodes) == 0 {
		return nil, "", nil
	}
	const path = "/api/queues?columns=vhost,name,type,node,messages,messages_ready,messages_unacknowledged,consumers"
	var errs []string
	for _, n := range nodes {
		var qs []Queue
		code, body, err := c.rabbitGet(ctx, n, path, &qs)
		switch {
		case err != nil:
			errs = append(errs, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		case c.rabbitDenied(code, "/api/queues") != "":
			return nil, "", fmt.Errorf("%s", c.rabbitDenied(code, "/api/queues"))
		case code != http.StatusOK:
			errs = append(errs, fmt.Sprintf("%s: /api/queues HTTP %d%s", n.Name, code, snippet(body)))
			continue
		}
		sort.Slice(qs, func(i, j int) bool {
			if qs[i].VHost != qs[j].VHost {
				return qs[i].VHost < qs[j].VHost
			}
			return qs[i].Name < qs[j].Name
		})
		return qs, n.Name, nil
	}
	return nil, "", fmt.Errorf("no node answered /api/queues: %s", strings.Join(errs, "; "))
}
