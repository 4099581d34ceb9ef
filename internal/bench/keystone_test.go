package bench

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

func goodOptions() KeystoneOptions {
	return KeystoneOptions{Op: OpValidate, Clients: 4, Requests: 100, Duration: time.Minute,
		User: "admin", Project: "admin", Domain: "Default", Password: "pw"}
}

func TestOptionsRefuseUnboundedAndMissing(t *testing.T) {
	if err := goodOptions().Validate(); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*KeystoneOptions)
		want string
	}{
		{"no request bound", func(o *KeystoneOptions) { o.Requests = 0 }, "bounded in count"},
		{"negative requests", func(o *KeystoneOptions) { o.Requests = -1 }, "bounded in count"},
		{"too many requests", func(o *KeystoneOptions) { o.Requests = MaxRequests + 1 }, "bounded in count"},
		{"no duration bound", func(o *KeystoneOptions) { o.Duration = 0 }, "bounded in time"},
		{"too long", func(o *KeystoneOptions) { o.Duration = MaxDuration + time.Second }, "bounded in time"},
		{"no clients", func(o *KeystoneOptions) { o.Clients = 0 }, "clients 0"},
		{"too many clients", func(o *KeystoneOptions) { o.Clients = MaxClients + 1 }, "clients"},
		{"no password", func(o *KeystoneOptions) { o.Password = "" }, "no password"},
		{"no user", func(o *KeystoneOptions) { o.User = "" }, "must be named"},
		{"unknown op", func(o *KeystoneOptions) { o.Op = "flood" }, `operation "flood"`},
		{"negative rate", func(o *KeystoneOptions) { o.Rate = -1 }, "rate -1"},
		{"rate without bound", func(o *KeystoneOptions) { o.Rate = MaxRate + 1 }, "requests per second"},
	} {
		o := goodOptions()
		c.edit(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func keystoneHost(i int, fqdn, addr string, port int) inventory.Host {
	name := inventory.HostName(envfile.RoleKeystone, i)
	return inventory.Host{Name: name, Role: envfile.RoleKeystone, Index: i, FQDN: fqdn, Address: addr,
		Ports: map[string]int{inventory.PortKeystone: port}}
}

func TestKeystoneNodesOnlyLoopbackOrOwnHosts(t *testing.T) {
	ok := []*target.Target{
		{Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "127.0.0.1", 5000), keystoneHost(2, "keystone02.dev-ha.cso.ss", "127.0.0.2", 5001)}},
		{Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "::1", 5000)}},
		// AWS: no address, the host's own name in the environment's zone.
		{Env: "prod-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.prod-ha.cso.ss", "", 5000)}},
	}
	for _, tg := range ok {
		if _, err := KeystoneNodes(tg); err != nil {
			t.Errorf("%+v refused: %v", tg.Hosts, err)
		}
	}
	bad := map[string]*target.Target{
		"a private address":  {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "10.0.1.5", 5000)}},
		"a public address":   {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "192.0.2.10", 5000)}},
		"a name as address":  {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "example.com", 5000)}},
		"another zone":       {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.example.com", "", 5000)}},
		"another env's host": {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.prod-ha.cso.ss", "", 5000)}},
		"an IP as the name":  {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "10.0.0.1", "", 5000)}},
		"no keystone at all": {Env: "dev-ha"},
		"one bad of two":     {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "127.0.0.1", 5000), keystoneHost(2, "keystone02.dev-ha.cso.ss", "10.0.0.9", 5001)}},
		"no port":            {Env: "dev-ha", Hosts: []inventory.Host{keystoneHost(1, "keystone01.dev-ha.cso.ss", "127.0.0.1", 0)}},
	}
	for name, tg := range bad {
		if nodes, err := KeystoneNodes(tg); err == nil {
			t.Errorf("%s: accepted %+v", name, nodes)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[int]time.Duration{50: 50 * time.Millisecond, 95: 95 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%d = %s, want %s", p, got, want)
		}
	}
	if percentile([]time.Duration{7}, 99) != 7 || percentile(nil, 50) != 0 {
		t.Error("percentile of one or no sample")
	}
}

// fakePair is two Keystone test doubles over TLS from a test CA, as a target description.
func fakePair(t *testing.T, password string) (*target.Target, []*checktest.Keystone) {
	ca := checktest.ValidCA(t)
	cluster := checktest.NewKeystoneCluster(map[string]checktest.KeystoneUser{"admin": {Password: password, Roles: []string{"admin"}}})
	tg := &target.Target{Env: "test", Kind: "local", CACert: ca.File}
	var ks []*checktest.Keystone
	for i := 1; i <= 2; i++ {
		fqdn := inventory.HostName(envfile.RoleKeystone, i) + ".test.cso.ss"
		k := cluster.NewKeystone(t, ca.ValidLeaf(fqdn))
		ks = append(ks, k)
		tg.Hosts = append(tg.Hosts, keystoneHost(i, fqdn, "127.0.0.1", k.Server.Listener.Addr().(*net.TCPAddr).Port))
	}
	return tg, ks
}

// The counts of a run are exact: every request is answered and counted once, spread
// evenly over both nodes, and the count bound stops the run.
func TestKeystoneCountsOnTestDoubles(t *testing.T) {
	tg, ks := fakePair(t, "secret-pw")
	nodes, err := KeystoneNodes(tg)
	if err != nil {
		t.Fatal(err)
	}
	o := goodOptions()
	o.Password, o.Requests, o.Clients = "secret-pw", 200, 4
	res, err := Keystone(context.Background(), tg, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 200 || res.OK != 200 || res.Failed != 0 || res.Unfinished != 0 || res.ByStatus["200"] != 200 {
		t.Errorf("validate: %+v, want 200 sent and ok", res)
	}
	if res.PerNode["keystone01"] != 100 || res.PerNode["keystone02"] != 100 {
		t.Errorf("per node %v, want 100 each", res.PerNode)
	}
	if got := ks[0].ValidationCount() + ks[1].ValidationCount(); got != 200 {
		t.Errorf("the nodes answered %d validations, want 200", got)
	}
	if res.P50 <= 0 || res.P50 > res.P95 || res.P95 > res.P99 || res.P99 > res.Max {
		t.Errorf("latencies not ordered: %+v", res)
	}

	o.Op, o.Requests = OpIssue, 30
	before := len(ks[0].Issued()) + len(ks[1].Issued())
	res, err = Keystone(context.Background(), tg, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 30 || res.ByStatus["201"] != 30 || len(ks[0].Issued())+len(ks[1].Issued())-before != 30 {
		t.Errorf("issue: %+v, want 30 tokens issued", res)
	}

	// A wrong password: every issue fails with 401, counted, and the first error says so.
	o.Password = "wrong"
	res, err = Keystone(context.Background(), tg, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Failed != 30 || res.ByStatus["401"] != 30 || !strings.Contains(res.FirstError, "HTTP 401") {
		t.Errorf("wrong password: %+v", res)
	}
}

// A rate-limited run sends at the rate asked for, not faster, and the observer sees every
// finished request once, with its node and outcome.
func TestKeystoneRateAndObserver(t *testing.T) {
	tg, _ := fakePair(t, "pw")
	nodes, err := KeystoneNodes(tg)
	if err != nil {
		t.Fatal(err)
	}
	o := goodOptions()
	o.Password, o.Requests, o.Clients, o.Rate = "pw", 40, 4, 50
	var mu sync.Mutex
	seen := map[string]int{}
	var first, last time.Time
	o.Observe = func(s Sample) {
		mu.Lock()
		defer mu.Unlock()
		if s.OK && s.Status == "200" {
			seen[s.Node]++
		}
		if first.IsZero() || s.Start.Before(first) {
			first = s.Start
		}
		if s.Start.After(last) {
			last = s.Start
		}
	}
	res, err := Keystone(context.Background(), tg, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 40 || seen["keystone01"] != 20 || seen["keystone02"] != 20 {
		t.Errorf("result %+v, observed %v: want 40 ok, 20 per node", res, seen)
	}
	// 40 requests at 50/s: the last starts no sooner than 39 intervals after the first.
	if spread := last.Sub(first); spread < 39*20*time.Millisecond*9/10 {
		t.Errorf("40 requests at 50/s started within %s: the rate was not kept", spread)
	}
	if res.RateLimit != 50 {
		t.Errorf("rate limit %g in the result, want 50", res.RateLimit)
	}
}
