package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

func goodRabbitOptions() RabbitMQOptions {
	return RabbitMQOptions{Publishers: 3, Consumers: 3, Messages: 1000, Duration: time.Minute, Size: 1024,
		Prefetch: 100, ConfirmWindow: 64, User: "ssp_user", VHost: "ssp", Password: "pw"}
}

func TestRabbitMQOptionsRefuseUnboundedAndMissing(t *testing.T) {
	if err := goodRabbitOptions().Validate(); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*RabbitMQOptions)
		want string
	}{
		{"no message bound", func(o *RabbitMQOptions) { o.Messages = 0 }, "bounded in count"},
		{"too many messages", func(o *RabbitMQOptions) { o.Messages = MaxMessages + 1 }, "bounded in count"},
		{"no duration bound", func(o *RabbitMQOptions) { o.Duration = 0 }, "bounded in time"},
		{"too long", func(o *RabbitMQOptions) { o.Duration = MaxDuration + time.Second }, "bounded in time"},
		{"no publisher", func(o *RabbitMQOptions) { o.Publishers = 0 }, "publishers 0"},
		{"too many consumers", func(o *RabbitMQOptions) { o.Consumers = MaxClients + 1 }, "consumers"},
		{"message smaller than its header", func(o *RabbitMQOptions) { o.Size = 10 }, "size 10"},
		{"message too big", func(o *RabbitMQOptions) { o.Size = MaxMessageSize + 1 }, "size"},
		{"no prefetch", func(o *RabbitMQOptions) { o.Prefetch = 0 }, "prefetch 0"},
		{"no confirm window", func(o *RabbitMQOptions) { o.ConfirmWindow = 0 }, "confirm window 0"},
		{"a negative rate", func(o *RabbitMQOptions) { o.Rate = -1 }, "rate -1"},
		{"a rate without bound", func(o *RabbitMQOptions) { o.Rate = MaxMessageRate + 1 }, "rate"},
		{"an application's queue", func(o *RabbitMQOptions) { o.Queue = "notifications" }, `queue "notifications"`},
		{"the bare prefix", func(o *RabbitMQOptions) { o.Queue = QueuePrefix }, "queue"},
		{"no password", func(o *RabbitMQOptions) { o.Password = "" }, "no password"},
		{"no vhost", func(o *RabbitMQOptions) { o.VHost = "" }, "must be named"},
	} {
		o := goodRabbitOptions()
		c.edit(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func rabbitHost(i int, fqdn, addr string, port int) inventory.Host {
	name := inventory.HostName(envfile.RoleRabbitMQ, i)
	return inventory.Host{Name: name, Role: envfile.RoleRabbitMQ, Index: i, FQDN: fqdn, Address: addr,
		Ports: map[string]int{inventory.PortAMQPS: port}}
}

func TestRabbitMQNodesOnlyLoopbackOrOwnHosts(t *testing.T) {
	n1 := inventory.HostName(envfile.RoleRabbitMQ, 1)
	ok := &target.Target{Env: "dev-ha", Hosts: []inventory.Host{rabbitHost(1, n1+".dev-ha.cso.ss", "127.0.0.1", 5671),
		rabbitHost(2, inventory.HostName(envfile.RoleRabbitMQ, 2)+".dev-ha.cso.ss", "", 5671),
		keystoneHost(1, "keystone01.dev-ha.cso.ss", "127.0.0.1", 5000)}}
	nodes, err := RabbitMQNodes(ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].dial != "127.0.0.1:5671" || nodes[1].dial != inventory.HostName(envfile.RoleRabbitMQ, 2)+".dev-ha.cso.ss:5671" {
		t.Errorf("nodes %+v: want the two RabbitMQ hosts at loopback and at their own name", nodes)
	}
	bad := map[string]*target.Target{
		"a private address": {Env: "dev-ha", Hosts: []inventory.Host{rabbitHost(1, n1+".dev-ha.cso.ss", "10.0.2.7", 5671)}},
		"another zone":      {Env: "dev-ha", Hosts: []inventory.Host{rabbitHost(1, n1+".example.com", "", 5671)}},
		"no AMQPS port":     {Env: "dev-ha", Hosts: []inventory.Host{rabbitHost(1, n1+".dev-ha.cso.ss", "127.0.0.1", 0)}},
		"keystone only":     {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "127.0.0.1", 5000)}},
		"one bad of two": {Env: "dev-ha", Hosts: []inventory.Host{rabbitHost(1, n1+".dev-ha.cso.ss", "127.0.0.1", 5671),
			rabbitHost(2, inventory.HostName(envfile.RoleRabbitMQ, 2)+".dev-ha.cso.ss", "192.0.2.1", 5671)}},
	}
	for name, tg := range bad {
		if nodes, err := RabbitMQNodes(tg); err == nil {
			t.Errorf("%s: accepted %+v", name, nodes)
		} else if name == "a private address" && !strings.Contains(err.Error(), "rabbitmq node") {
			t.Errorf("%s: %v does not name the RabbitMQ node", name, err)
		}
	}
}

// A message carries its run, its id and its send time; another run's message is stale,
// a second delivery is a duplicate, and the counts and the loss follow.
func TestRabbitMQDeliveryAccounting(t *testing.T) {
	r := &rabbitRun{o: goodRabbitOptions(), confirmed: map[uint64]bool{}, consumed: map[uint64]bool{},
		progress: make(chan struct{}, 1), res: &RabbitMQResult{PerNode: map[string]int{}}}
	r.runID = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	other := &rabbitRun{o: r.o}
	other.runID = [8]byte{9}
	b := r.body(7)
	if len(b) != 1024 {
		t.Fatalf("body of %d bytes, want 1024", len(b))
	}
	r.confirm(7)
	r.deliver(b, time.Now())
	r.deliver(b, time.Now())
	r.deliver(other.body(7), time.Now())
	r.deliver(b[:10], time.Now())
	r.confirm(7)
	if r.res.Confirmed != 1 || r.res.Consumed != 1 || r.res.Duplicates != 1 || r.res.Stale != 2 || r.both != 1 || len(r.lat) != 1 {
		t.Errorf("accounting %+v both %d latencies %d", r.res, r.both, len(r.lat))
	}
}
