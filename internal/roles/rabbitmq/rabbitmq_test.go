package rabbitmq_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/bench"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// Every node enables the management API and rabbitmq_prometheus (issue 11).
func TestRenderEnabledPlugins(t *testing.T) {
	got := string(rabbitmq.RenderEnabledPlugins())
	if got != "[rabbitmq_management,rabbitmq_prometheus].\n" {
		t.Errorf("enabled_plugins = %q: want the management and prometheus plugins as one Erlang list", got)
	}
}

// A local HA node listens for Prometheus on its own offset port, on loopback.
func TestPrometheusPortLocal(t *testing.T) {
	env := &envfile.Env{Name: "local", DomainSuffix: "cso.ss", HA: true}
	hosts := inventory.ByRole(inventory.Local(env, inventory.LocalOptions{HA: true}), envfile.RoleRabbitMQ)
	p := agent.Paths{Root: "/x", SSLCerts: "/x/ssl", Etc: "/x/etc", Data: "/x/lib", Log: "/x/log", Run: "/x/run"}
	seen := map[int]bool{}
	for _, h := range hosts {
		n := rabbitmq.NodeFor(h, p)
		conf := string(rabbitmq.RenderConfig(n, nil))
		want := fmt.Sprintf("prometheus.tcp.port = %d\n", n.Prometheus)
		if n.Prometheus == 0 || seen[n.Prometheus] || !strings.Contains(conf, want) {
			t.Errorf("%s: prometheus port %d (seen %v); rabbitmq.conf:\n%s", h.Name, n.Prometheus, seen, conf)
		}
		seen[n.Prometheus] = true
		if !strings.Contains(conf, "prometheus.tcp.ip = 127.0.0.1\n") {
			t.Errorf("%s: the local prometheus listener is not on loopback:\n%s", h.Name, conf)
		}
	}
}

func TestRenderConfig(t *testing.T) {
	env := &envfile.Env{Name: "dev-ha", DomainSuffix: "cso.ss", HA: true}
	hosts := inventory.Hosts(env)
	p := agent.Paths{Root: "/", SSLCerts: "/opt/ssl-certs", Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run"}
	var nodes []rabbitmq.Node
	for _, h := range inventory.ByRole(hosts, envfile.RoleRabbitMQ) {
		nodes = append(nodes, rabbitmq.NodeFor(h, p))
	}
	conf := string(rabbitmq.RenderConfig(nodes[0], nodes))
	adv := string(rabbitmq.RenderAdvanced(nodes[0]))
	for _, want := range []string{
		"listeners.tcp = none",
		"listeners.ssl.default = 0.0.0.0:5671",
		"cluster_formation.peer_discovery_backend = classic_config",
		"cluster_formation.classic_config.nodes.1 = rabbit@rabbitmq-server-1.dev-ha.cso.ss",
		"cluster_formation.classic_config.nodes.3 = rabbit@rabbitmq-server-3.dev-ha.cso.ss",
		// rabbitmq_prometheus listens on the inventory's prometheus port (15692 on AWS).
		"prometheus.tcp.ip = 0.0.0.0",
		"prometheus.tcp.port = 15692",
		// A host of its own: the memory alarm at 60 % of its RAM.
		"vm_memory_high_watermark.relative = 0.6",
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("rabbitmq.conf lacks %q:\n%s", want, conf)
		}
	}
	// Locally three nodes share one machine: a fixed share each, never a fraction of all of it.
	local := inventory.Local(env, inventory.LocalOptions{HA: true})
	var lnodes []rabbitmq.Node
	for _, h := range inventory.ByRole(local, envfile.RoleRabbitMQ) {
		lnodes = append(lnodes, rabbitmq.NodeFor(h, p))
	}
	if lconf := string(rabbitmq.RenderConfig(lnodes[0], lnodes)); !strings.Contains(lconf, "vm_memory_high_watermark.absolute = 1GiB\n") || strings.Contains(lconf, ".relative") {
		t.Errorf("local rabbitmq.conf: want an absolute memory watermark:\n%s", lconf)
	}
	// The unit keeps the open-file limit of RabbitMQ's own packages (its unit is replaced).
	if spec := nodes[0].ServiceSpec("rabbitmq"); spec.LimitNOFILE != 65536 || !strings.Contains(agent.RenderUnit(spec, ""), "\nLimitNOFILE=65536\n") {
		t.Errorf("rabbitmq-server unit: LimitNOFILE %d:\n%s", spec.LimitNOFILE, agent.RenderUnit(spec, ""))
	}
	for _, bad := range []string{"management.listener.ssl", "ha-mode", "Pass123"} {
		if strings.Contains(conf+adv, bad) {
			t.Errorf("configuration contains %q", bad)
		}
	}
	for _, want := range []string{
		`{cacertfile, "/etc/rabbitmq/ssl/ca.crt"}`, `{port, 15671}`, `{versions, ['tlsv1.3', 'tlsv1.2']}`,
		`{eccs, [x25519, secp384r1, secp256r1]}`, `{honor_cipher_order, true}`, `{client_renegotiation, false}`,
		`{verify, verify_peer}`,
	} {
		if strings.Count(adv, want) != 2 && want != `{port, 15671}` {
			t.Errorf("advanced.config must set %s for both listeners:\n%s", want, adv)
		}
		if !strings.Contains(adv, want) {
			t.Errorf("advanced.config lacks %s", want)
		}
	}
	for _, c := range rabbitmq.TLSCiphers {
		if !strings.HasPrefix(c, "TLS_") && !(strings.HasPrefix(c, "ECDHE-") && (strings.Contains(c, "GCM") || strings.Contains(c, "CHACHA20"))) {
			t.Errorf("cipher %s is not ECDHE with AEAD", c)
		}
	}
	if strings.Contains(conf, "listeners.tcp.") {
		t.Errorf("rabbitmq.conf configures a plain AMQP listener:\n%s", conf)
	}
	// Erlang distribution: TLS with the host's certificate both ways, the peer's required.
	dist := string(rabbitmq.RenderDistConfig(nodes[0]))
	server, client, ok := strings.Cut(dist, "{client, [")
	if !ok || !strings.Contains(server, "{server, [") || !strings.HasSuffix(dist, "].\n") {
		t.Fatalf("inter_node_tls.config has no server and client lists:\n%s", dist)
	}
	for _, want := range []string{
		`{cacertfile, "/etc/rabbitmq/ssl/ca.crt"}`, `{certfile, "/etc/rabbitmq/ssl/server.crt"}`,
		`{keyfile, "/etc/rabbitmq/ssl/server.key"}`, `{verify, verify_peer}`, `{versions, ['tlsv1.3', 'tlsv1.2']}`,
		`{eccs, [x25519, secp384r1, secp256r1]}`, `{secure_renegotiate, true}`,
	} {
		if !strings.Contains(server, want) || !strings.Contains(client, want) {
			t.Errorf("inter_node_tls.config must set %s on both sides:\n%s", want, dist)
		}
	}
	for _, serverOnly := range []string{"fail_if_no_peer_cert", "honor_cipher_order", "client_renegotiation"} {
		if !strings.Contains(server, serverOnly) || strings.Contains(client, serverOnly) {
			t.Errorf("%s belongs to the server list only (OTP 26 refuses it in the client's):\n%s", serverOnly, dist)
		}
	}
	if !strings.Contains(server, "{fail_if_no_peer_cert, true}") {
		t.Errorf("the distribution listener must require the peer's certificate:\n%s", dist)
	}
	nodeEnv := strings.Join(nodes[0].Env(), "\n")
	for _, want := range []string{
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-proto_dist inet_tls -ssl_dist_optfile /etc/rabbitmq/inter_node_tls.config -kernel net_setuptime 30\n",
		"RABBITMQ_CTL_ERL_ARGS=-proto_dist inet_tls -ssl_dist_optfile /etc/rabbitmq/inter_node_tls.config -kernel net_setuptime 30\n",
	} {
		if !strings.Contains(nodeEnv, want) {
			t.Errorf("AWS node environment lacks %q:\n%s", want, nodeEnv)
		}
	}
	if strings.Contains(nodeEnv, "ERL_EPMD_ADDRESS") || strings.Contains(nodeEnv, "inet_dist_use_interface") {
		t.Errorf("on AWS epmd and distribution listen on the instance's address (the security group limits them):\n%s", nodeEnv)
	}
	if n := nodes[1]; n.Name != "rabbit@rabbitmq-server-2.dev-ha.cso.ss" || !n.LongName || n.ConfigFile != "/etc/rabbitmq/rabbitmq.conf" {
		t.Errorf("AWS node layout: %+v", n)
	}
}

// TestCluster converges three RabbitMQ nodes from nothing with the real daemons and proves
// the claims: three running nodes and no partition, AMQPS verified against the
// project CA with the TLS policy, a quorum queue with members on all three, publishing with
// confirms while one node is down and nothing confirmed lost, and a second run that
// changes nothing.
func TestCluster(t *testing.T) {
	stacktest.RequireTools(t, rabbitmq.ServerBin, rabbitmq.CtlBin)
	if testing.Short() {
		t.Skip("starts three RabbitMQ nodes")
	}
	// Generous: every CLI call is an Erlang node that completes a TLS handshake, on a
	// machine that may be loaded.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s := stacktest.New(t, "rabbitmq", inventory.LocalOptions{HA: true, PortBase: 2000})
	hosts := inventory.ByRole(s.Hosts, envfile.RoleRabbitMQ)
	if len(hosts) != 3 {
		t.Fatalf("want 3 RabbitMQ hosts, got %d", len(hosts))
	}

	// Dry run on a fresh host: says what it would do, touches nothing.
	res, err := s.Run(ctx, hosts[0], rabbitmq.New(), func(rt *agent.Runtime) { rt.DryRun = true })
	if err != nil || len(res.Changed) == 0 {
		t.Fatalf("dry run: %v, changes %v", err, res.Changed)
	}
	if _, err := os.Stat(filepath.Join(s.Paths(hosts[0].Name).Etc, "rabbitmq", "rabbitmq.conf")); err == nil {
		t.Fatal("the dry run wrote rabbitmq.conf")
	}
	for _, name := range []string{agent.SecretErlangCookie, agent.SecretRabbitMQ} {
		if _, found, _ := s.Secrets.Lookup(ctx, name); found {
			t.Fatalf("the dry run generated secret %s", name)
		}
	}

	start := time.Now()
	runAll := func(what string) []agent.Result {
		results := make([]agent.Result, len(hosts))
		errs := make([]error, len(hosts))
		var wg sync.WaitGroup
		for i, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = s.Run(ctx, h, rabbitmq.New())
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s run of %s: %v", what, hosts[i].Name, err)
			}
		}
		return results
	}
	runAll("first")
	t.Logf("three nodes converged from nothing in %s", time.Since(start).Round(100*time.Millisecond))

	for _, h := range hosts {
		doc, err := s.Store.Get(ctx, h.Name)
		if err != nil || doc.State != status.StateDone {
			t.Fatalf("status of %s: %+v, %v", h.Name, doc, err)
		}
	}

	pass := s.Secret(agent.SecretRabbitMQ)
	var nodes []rabbitmq.Node
	for _, h := range hosts {
		nodes = append(nodes, rabbitmq.NodeFor(h, s.Paths(h.Name)))
	}
	want := rabbitmq.NodeNames(nodes)
	mgmt := func(n rabbitmq.Node) *rabbitmqapi.Client {
		return rabbitmqapi.New("https://"+n.Addr(n.Management), s.Pool, rabbitmq.User, pass)
	}

	t.Run("three running nodes, no partition, no alarm", func(t *testing.T) {
		for _, n := range nodes {
			st, err := mgmt(n).ClusterStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Check(want); err != nil {
				t.Errorf("%s: %v", n.Name, err)
			}
			if got := st.Running(); len(got) != 3 {
				t.Errorf("%s sees running nodes %v", n.Name, got)
			}
		}
		cs, err := rabbitmq.CLIStatus(ctx, nodes[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(cs.RunningNodes) != 3 || len(cs.Partitions) != 0 {
			t.Errorf("rabbitmqctl cluster_status: %+v", cs)
		}
	})

	t.Run("rabbitmq_prometheus serves the node's metrics on its port", func(t *testing.T) {
		for _, n := range nodes {
			url := fmt.Sprintf("http://%s/metrics", n.Addr(n.Prometheus))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				t.Errorf("%s: %v", n.Name, err)
				continue
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "# TYPE rabbitmq_") {
				t.Errorf("GET %s: HTTP %d without RabbitMQ metric families", url, resp.StatusCode)
			}
		}
	})

	t.Run("AMQPS and management verified against the project CA with the TLS policy", func(t *testing.T) {
		for _, n := range nodes {
			if err := rabbitmq.ProbeAMQPS(ctx, n.Addr(n.AMQPS), "127.0.0.1", s.Pool); err != nil {
				t.Error(err)
			}
			if err := rabbitmq.ProbeTLS(ctx, n.Addr(n.Management), n.Host.FQDN, s.Pool); err != nil {
				t.Error(err)
			}
		}
		n := nodes[0]
		bad := []struct {
			name string
			cfg  *tls.Config
		}{
			{"TLS 1.1", &tls.Config{RootCAs: s.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
			{"RSA key exchange", &tls.Config{RootCAs: s.Pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}}},
			{"CBC cipher", &tls.Config{RootCAs: s.Pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}},
			{"untrusted CA", &tls.Config{ServerName: "127.0.0.1"}},
		}
		for _, port := range []int{n.AMQPS, n.Management} {
			for _, b := range bad {
				conn, err := tls.Dial("tcp", n.Addr(port), b.cfg)
				if err == nil {
					conn.Close()
					t.Errorf("port %d accepted a client with %s", port, b.name)
				}
			}
			conn, err := tls.Dial("tcp", n.Addr(port), &tls.Config{RootCAs: s.Pool, ServerName: "127.0.0.1",
				CurvePreferences: []tls.CurveID{tls.CurveP521}, MaxVersion: tls.VersionTLS12})
			if err == nil {
				conn.Close()
				t.Errorf("port %d negotiated curve P-521, which is not in the allowed list", port)
			}
		}
	})

	t.Run("no plain AMQP; AMQPS and distribution on loopback; Erlang distribution over TLS", func(t *testing.T) {
		testTraffic(ctx, t, s, nodes)
	})

	t.Run("the application hosts' dependency wait sees RabbitMQ", func(t *testing.T) {
		fe := s.Host("frontend-server-1")
		rt := s.Runtime(fe)
		for _, h := range hosts {
			if err := apppkg.ProbeRabbitMQ(ctx, rt, h, s.Pool); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
		}
		var mq []inventory.Host // only RabbitMQ: Keystone is not part of this test
		for _, h := range s.Hosts {
			if h.Role != envfile.RoleKeystone {
				mq = append(mq, h)
			}
		}
		rt.Hosts = mq
		res, err := agent.Run(ctx, rt, stepsRole(apppkg.DependencySteps(rt, apppkg.HostOptions{DependencyWait: 30 * time.Second})), nil)
		if err != nil || len(res.Changed) != 0 {
			t.Errorf("dependency wait with RabbitMQ up: %v, changes %v", err, res.Changed)
		}
	})

	t.Run("guest removed, ssp_user only on ssp", func(t *testing.T) {
		out, err := rabbitmq.Ctl(ctx, nodes[1], nil, "list_users", "--formatter", "json", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), `"guest"`) || !strings.Contains(string(out), `"ssp_user"`) {
			t.Errorf("users: %s", out)
		}
		_, err = dialAMQPS(nodes[0], s, rabbitmq.User, pass, "/")
		if err == nil {
			t.Error("ssp_user may open the default vhost /")
		}
		_, err = dialAMQPS(nodes[0], s, rabbitmq.User, "not-the-password", rabbitmq.VHost)
		if err == nil {
			t.Error("a wrong password was accepted")
		}
	})

	const queue = "cso-e2-quorum-test"
	t.Run("quorum queue by default with members on all three, confirms survive a node down", func(t *testing.T) {
		ch := declareQueue(t, nodes[0], s, pass, queue)
		q, err := mgmt(nodes[0]).Queue(ctx, rabbitmq.VHost, queue)
		if err != nil {
			t.Fatal(err)
		}
		if q.Type != "quorum" {
			t.Fatalf("queue type %q, want quorum (vhost default)", q.Type)
		}
		if m := slices.Sorted(slices.Values(q.Members)); !slices.Equal(m, slices.Sorted(slices.Values(want))) {
			t.Fatalf("quorum members %v, want %v", m, want)
		}
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		publish := func(from, to int) {
			for i := from; i < to; i++ {
				dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false,
					amqp.Publishing{DeliveryMode: amqp.Persistent, Body: fmt.Appendf(nil, "msg-%d", i)})
				if err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
				ok, err := dc.WaitContext(wctx)
				wcancel()
				if err != nil || !ok {
					t.Fatalf("message %d not confirmed: ack=%v err=%v", i, ok, err)
				}
			}
		}
		publish(0, 50)

		// Stop the third node; the queue keeps a majority (2 of 3) and stays writable.
		stopped := nodes[2]
		t0 := time.Now()
		if err := s.Platform.Stop(ctx, stopped.ServiceName); err != nil {
			t.Fatal(err)
		}
		t.Logf("stopped %s in %s", stopped.Name, time.Since(t0).Round(100*time.Millisecond))
		st, err := mgmt(nodes[0]).ClusterStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Running()) != 2 {
			t.Fatalf("running after stop: %v", st.Running())
		}
		publish(50, 100)

		// The node returns (the agent converges it again) and catches up.
		res, err := s.Run(ctx, hosts[2], rabbitmq.New())
		if err != nil {
			t.Fatalf("rerun of %s after stop: %v", hosts[2].Name, err)
		}
		if !slices.ContainsFunc(res.Changed, func(c string) bool { return strings.Contains(c, "start service") }) {
			t.Errorf("rerun of the stopped node did not start it: %v", res.Changed)
		}
		err = agent.WaitFor(ctx, nil, "queue members online", time.Minute, func(ctx context.Context) error {
			q, err := mgmt(nodes[2]).Queue(ctx, rabbitmq.VHost, queue)
			if err != nil {
				return err
			}
			if len(q.Online) != 3 {
				return fmt.Errorf("online members %v", q.Online)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// Consume everything from the returned node: every confirmed message is there once.
		conn3, err := dialAMQPS(stopped, s, rabbitmq.User, pass, rabbitmq.VHost)
		if err != nil {
			t.Fatal(err)
		}
		defer conn3.Close()
		ch3, err := conn3.Channel()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for len(seen) < 100 {
			d, ok, err := ch3.Get(queue, true)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if seen[string(d.Body)] {
				t.Errorf("duplicate %s", d.Body)
			}
			seen[string(d.Body)] = true
		}
		for i := range 100 {
			if !seen[fmt.Sprintf("msg-%d", i)] {
				t.Errorf("confirmed message msg-%d lost", i)
			}
		}
		_, _ = ch3.QueueDelete(queue, false, false, false)
	})

	t.Run("cso bench rabbitmq: every confirmed message delivered through the three nodes", func(t *testing.T) {
		// Counts only, never timing: the machine may be loaded.
		tg := &target.Target{Env: s.Env.Name, Kind: "local", Hosts: s.Hosts, CACert: s.Certs.CACert()}
		bnodes, err := bench.RabbitMQNodes(tg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := bench.RabbitMQ(ctx, tg, bnodes, bench.RabbitMQOptions{Publishers: 3, Consumers: 3, Messages: 3000,
			Duration: 5 * time.Minute, Size: 512, Prefetch: 100, ConfirmWindow: 64, User: rabbitmq.User, VHost: rabbitmq.VHost, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		if res.Confirmed != 3000 || res.Consumed != 3000 || res.Lost != 0 || !res.Drained || res.Stale != 0 {
			t.Errorf("bench: %+v; want 3000 confirmed and consumed, none lost", res)
		}
		for _, h := range hosts {
			if res.PerNode[h.Name] != 2 {
				t.Errorf("%s had %d connections, want 2 (a publisher and a consumer): %v", h.Name, res.PerNode[h.Name], res.PerNode)
			}
		}
		t.Logf("bench: %.0f msgs/s, p99 %.1f ms, %d duplicates", res.PerSec, res.P99, res.Duplicates)
		// The tool's own queue is gone.
		if _, err := mgmt(nodes[0]).Queue(ctx, rabbitmq.VHost, res.Queue); err == nil {
			t.Errorf("queue %s left behind", res.Queue)
		}
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		t0 := time.Now()
		for i, r := range runAll("second") {
			if len(r.Changed) > 0 {
				t.Errorf("second run of %s changed: %v", hosts[i].Name, r.Changed)
			}
		}
		t.Logf("no-op run of three nodes (in parallel): %s", time.Since(t0).Round(10*time.Millisecond))
	})

	t.Run("a rebuilt node with the same name rejoins and gets its quorum members back", func(t *testing.T) {
		testReplacedNode(ctx, t, s, hosts, nodes, pass)
	})

	t.Run("no secret in process arguments or files", func(t *testing.T) {
		var cookies []string
		for _, h := range hosts {
			cookies = append(cookies, filepath.Join(s.Paths(h.Name).Data, "rabbitmq", ".erlang.cookie"))
		}
		s.AssertNoSecretLeak(cookies, agent.SecretRabbitMQ, agent.SecretErlangCookie)
		for _, n := range nodes {
			// The boot definitions hold a salted hash of the password: readable by the node only.
			if st, err := os.Stat(n.Definitions); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v", n.Definitions, st.Mode(), err)
			}
		}
	})
}

type stepsRole []agent.Step

func (stepsRole) Role() envfile.Role                           { return envfile.RoleFrontend }
func (s stepsRole) Steps(*agent.Runtime) ([]agent.Step, error) { return s, nil }

// declareQueue declares queue through node n as ssp_user, without x-queue-type (the
// vhost's default must make it a quorum queue), and returns the channel; the connection
// closes when the test ends.
func declareQueue(t *testing.T, n rabbitmq.Node, s *stacktest.Stack, pass, queue string) *amqp.Channel {
	t.Helper()
	conn, err := dialAMQPS(n, s, rabbitmq.User, pass, rabbitmq.VHost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return ch
}

func dialAMQPS(n rabbitmq.Node, s *stacktest.Stack, user, pass, vhost string) (*amqp.Connection, error) {
	return amqp.DialConfig("amqps://"+n.Addr(n.AMQPS)+"/", amqp.Config{
		SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: user, Password: pass}},
		Vhost:           vhost,
		TLSClientConfig: &tls.Config{RootCAs: s.Pool, ServerName: n.Host.FQDN},
		Dial:            amqp.DefaultDial(5 * time.Second),
	})
}

func TestReachable(t *testing.T) {
	if _, _, err := agent.LookupIDs("rabbitmq", ""); err != nil {
		t.Skip("no rabbitmq user: run scripts/install-deps.sh")
	}
	dir, err := os.MkdirTemp("", "cso-e2-reach-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	closed := filepath.Join(dir, "closed")
	if err := os.MkdirAll(filepath.Join(closed, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	_, err = rabbitmq.Reachable{Path: filepath.Join(closed, "data", "rabbitmq"), User: "rabbitmq"}.Check(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+closed) {
		t.Errorf("want an error naming %s, got %v", closed, err)
	}
	os.Chmod(closed, 0o755)
	os.Chmod(filepath.Join(closed, "data"), 0o755)
	if _, err := (rabbitmq.Reachable{Path: filepath.Join(closed, "data", "rabbitmq"), User: "rabbitmq"}).Check(context.Background(), nil); err != nil && os.Geteuid() == 0 {
		t.Errorf("open tree: %v", err)
	}
}

// testReplacedNode is `cso replace rabbitmq-server-3` on the local target: the host comes
// back with an empty disk and the same node name while its peers still list it as a
// stopped cluster member and as a member of every quorum queue. The agent has a peer forget
// the name before the node starts, the node joins as a new member, and the quorum queue
// gets a new member on it (not the old member restarted empty).
func testReplacedNode(ctx context.Context, t *testing.T, s *stacktest.Stack, hosts []inventory.Host, nodes []rabbitmq.Node, pass string) {
	const queue = "cso-e2-replace-test"
	want := slices.Sorted(slices.Values(rabbitmq.NodeNames(nodes)))
	mgmt := rabbitmqapi.New("https://"+nodes[0].Addr(nodes[0].Management), s.Pool, rabbitmq.User, pass)
	ch := declareQueue(t, nodes[0], s, pass, queue)
	defer ch.QueueDelete(queue, false, false, false)
	q, err := mgmt.Queue(ctx, rabbitmq.VHost, queue)
	if err != nil {
		t.Fatal(err)
	}
	if q.Type != "quorum" || !slices.Equal(slices.Sorted(slices.Values(q.Members)), want) {
		t.Fatalf("queue %s: type %s, members %v; want a quorum queue on %v", queue, q.Type, q.Members, want)
	}

	// The rebuilt host: the old instance gone at once (its node killed, as a terminated
	// instance's) and its whole tree deleted. What remains is what a new instance finds
	// too: the shared certificate store and the secrets.
	h, n := hosts[2], nodes[2]
	st, err := s.Platform.Supervisor.State(n.ServiceName)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = agent.WaitFor(ctx, nil, n.Name+" gone", 30*time.Second, func(ctx context.Context) error {
		if running, _ := s.Platform.Running(ctx, n.ServiceName); running {
			return fmt.Errorf("%s still runs", n.ServiceName)
		}
		cs, err := rabbitmq.CLIStatus(ctx, nodes[0])
		if err != nil {
			return err
		}
		if !slices.Contains(cs.DiskNodes, n.Name) || slices.Contains(cs.RunningNodes, n.Name) {
			return fmt.Errorf("%s not a stopped member: %+v", n.Name, cs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Platform.Stop(ctx, n.ServiceName); err != nil { // forgets the dead process
		t.Fatal(err)
	}
	if err := os.RemoveAll(s.Paths(h.Name).Root); err != nil {
		t.Fatal(err)
	}

	var progress strings.Builder
	t0 := time.Now()
	res, err := s.Run(ctx, h, rabbitmq.New(), func(rt *agent.Runtime) {
		rt.Progress = io.MultiWriter(rt.Progress, &progress)
	})
	if err != nil {
		t.Fatalf("run of the rebuilt %s: %v (changed %v)", h.Name, err, res.Changed)
	}
	t.Logf("rebuilt %s converged in %s", h.Name, time.Since(t0).Round(100*time.Millisecond))
	for _, line := range []string{
		n.Name + " still a member of the cluster: forgetting it on " + nodes[0].Name + " before it starts",
		"adding " + n.Name + " to 1 quorum queues of vhost " + rabbitmq.VHost,
	} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q", line)
		}
	}

	cs, err := rabbitmq.CLIStatus(ctx, nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(cs.DiskNodes)), want) || !slices.Equal(slices.Sorted(slices.Values(cs.RunningNodes)), want) || len(cs.Partitions) != 0 {
		t.Errorf("cluster_status on %s after the rebuild: members %v, running %v, partitions %v; want %v running",
			nodes[0].Name, cs.DiskNodes, cs.RunningNodes, cs.Partitions, want)
	}
	err = agent.WaitFor(ctx, nil, "quorum queue members", time.Minute, func(ctx context.Context) error {
		q, err := mgmt.Queue(ctx, rabbitmq.VHost, queue)
		if err != nil {
			return err
		}
		if m, o := slices.Sorted(slices.Values(q.Members)), slices.Sorted(slices.Values(q.Online)); !slices.Equal(m, want) || !slices.Equal(o, want) {
			return fmt.Errorf("members %v, online %v", m, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// RabbitMQ itself says so: the forget removed the old member (on the peer that forgot
	// it) and grow added a new one (on the rebuilt node), rather than the old member coming
	// back with an empty log.
	membershipLogged(ctx, t, s, hosts, queue, n.Name)

	res, err = s.Run(ctx, h, rabbitmq.New())
	if err != nil || len(res.Changed) != 0 {
		t.Errorf("second run of the rebuilt %s: %v, changed %v", h.Name, err, res.Changed)
	}

	// The same host rebuilt again, but this time the node started before its peers forgot
	// it and runs alone, as RabbitMQ 4.x leaves it (it refuses the join at boot). force_reset
	// is the empty disk without telling the peers; the node boots once with a configuration
	// that lists no peer (3.10 would let it back in under its old identity), then gets its
	// own back unchanged (start_app reads it). The cluster step forgets the name on a peer,
	// resets the node and joins it.
	conf, err := os.ReadFile(n.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	var own []string
	for _, line := range strings.SplitAfter(string(conf), "\n") {
		if !strings.HasPrefix(line, "cluster_formation.classic_config.nodes.") || strings.Contains(line, n.Name) {
			own = append(own, line)
		}
	}
	if _, err := rabbitmq.Ctl(ctx, n, nil, "stop_app"); err != nil {
		t.Fatal(err)
	}
	if _, err := rabbitmq.Ctl(ctx, n, nil, "force_reset"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.ConfigFile, []byte(strings.Join(own, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = rabbitmq.Ctl(ctx, n, nil, "start_app")
	if werr := os.WriteFile(n.ConfigFile, conf, 0o644); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	if cs, err := rabbitmq.CLIStatus(ctx, n); err != nil || len(cs.DiskNodes) != 1 {
		t.Fatalf("%s after force_reset: %+v, %v; want a cluster of its own", n.Name, cs, err)
	}
	progress.Reset()
	res, err = s.Run(ctx, h, rabbitmq.New(), func(rt *agent.Runtime) {
		rt.Progress = io.MultiWriter(rt.Progress, &progress)
	})
	if err != nil {
		t.Fatalf("run of %s running alone: %v (changed %v)", h.Name, err, res.Changed)
	}
	for _, line := range []string{
		n.Name + " still a member of the cluster: forgetting it on " + nodes[0].Name + " before joining",
		"adding " + n.Name + " to 1 quorum queues of vhost " + rabbitmq.VHost,
	} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q", line)
		}
	}
	if strings.Contains(progress.String(), "before it starts") {
		t.Errorf("a node with data was taken for a blank one: %s", progress.String())
	}
	cs, err = rabbitmq.CLIStatus(ctx, nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(cs.DiskNodes)), want) || !slices.Equal(slices.Sorted(slices.Values(cs.RunningNodes)), want) || len(cs.Partitions) != 0 {
		t.Errorf("cluster_status on %s after the rejoin: members %v, running %v, partitions %v; want %v running",
			nodes[1].Name, cs.DiskNodes, cs.RunningNodes, cs.Partitions, want)
	}
	q, err = mgmt.Queue(ctx, rabbitmq.VHost, queue)
	if err != nil {
		t.Fatal(err)
	}
	if m := slices.Sorted(slices.Values(q.Members)); !slices.Equal(m, want) {
		t.Errorf("queue members after the rejoin %v, want %v", m, want)
	}
	res, err = s.Run(ctx, h, rabbitmq.New())
	if err != nil || len(res.Changed) != 0 {
		t.Errorf("run of %s after the rejoin: %v, changed %v", h.Name, err, res.Changed)
	}
}

// membershipLogged waits (bounded) until the nodes' logs say that queue lost its member on
// node and got a new one there.
func membershipLogged(ctx context.Context, t *testing.T, s *stacktest.Stack, hosts []inventory.Host, queue, node string) {
	t.Helper()
	markers := []string{"removing member (replica) on node '" + node + "'", "adding a new member (replica) on node '" + node + "'"}
	err := agent.WaitFor(ctx, nil, "membership changes in the logs", 30*time.Second, func(context.Context) error {
		var all strings.Builder
		for _, h := range hosts {
			logs, _ := filepath.Glob(filepath.Join(s.Paths(h.Name).Log, "rabbitmq", "*.log"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				all.Write(data)
			}
		}
		for _, m := range markers {
			found := false
			for _, line := range strings.Split(all.String(), "\n") {
				found = found || (strings.Contains(line, "'"+queue+"'") && strings.Contains(line, m))
			}
			if !found {
				return fmt.Errorf("no log line of queue %s says %q", queue, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
