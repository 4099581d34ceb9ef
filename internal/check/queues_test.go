package check

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/inventory"
)

func TestRabbitQueues(t *testing.T) {
	s := newStack(t)
	s.rabbit.queues = []Queue{
		{VHost: "/cso", Name: "ticketing", Type: "quorum", Node: "rabbit@rabbitmq-server-2", Messages: 7, Ready: 5, Unacked: 2, Consumers: 1},
		{VHost: "/cso", Name: "events", Type: "quorum", Messages: 0, Consumers: 3},
	}
	c := New(s.t, Options{Timeout: 3 * time.Second})
	qs, from, err := c.RabbitQueues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if from != "rabbitmq-server-1" || len(qs) != 2 || qs[0].Name != "events" || qs[1].Messages != 7 || qs[1].Ready != 5 || qs[1].Unacked != 2 || qs[1].Consumers != 1 {
		t.Errorf("queues %+v from %q: want both, sorted by name, from the first node", qs, from)
	}

	// The first node down: the next one answers.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	s.t.Hosts[2].Ports[inventory.PortManagement] = dead.Listener.Addr().(*net.TCPAddr).Port
	if _, from, err = New(s.t, Options{Timeout: 3 * time.Second}).RabbitQueues(context.Background()); err != nil || from != "rabbitmq-server-2" {
		t.Errorf("with node 1 down: from %q, err %v; want rabbitmq-server-2", from, err)
	}

	// A wrong password is said as such, not as "no node answered".
	s.rabbit.password = "other"
	_, _, err = New(s.t, Options{Timeout: 3 * time.Second}).RabbitQueues(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong password: err %v, want the 401 explained", err)
	}
}
