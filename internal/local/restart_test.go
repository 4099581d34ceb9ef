package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/frontend"
	"github.com/cso-ssp/platform/internal/roles/jump"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
	"github.com/cso-ssp/platform/internal/status"
)

// restartRoles are the roles of the reboot proof: everything with a daemon but the backend,
// whose daemons come from the application package (the dev environment names none).
func restartRoles() map[envfile.Role]func() agent.Role {
	return map[envfile.Role]func() agent.Role{envfile.RoleJump: jump.New, envfile.RoleKeystone: keystone.New,
		envfile.RoleRabbitMQ: rabbitmq.New, envfile.RoleFrontend: frontend.New}
}

// TestRestartIsAReboot brings the HA stack up once, then does what a reboot does
// (Restart, the code of `cso local restart`) and proves the stack comes back whole:
// healthy, the same key sets, every confirmed message of a durable quorum queue still
// there, a token issued before still valid on both Keystone nodes, and every runtime
// directory really emptied and created again by the platform, not by a role's task.
func TestRestartIsAReboot(t *testing.T) {
	requireDaemons(t)
	for _, bin := range []string{"/usr/sbin/rabbitmq-server", "/usr/sbin/nginx"} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s is missing: run scripts/install-deps.sh --runtime", bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	// The shared full HA stack (jump, 2 keystone, 3 rabbitmq, frontend, MariaDB), on its own
	// ports (testPortBase()+700); TestRollingRestartUnderLoad uses it next. The restart
	// leaves it whole.
	o, _, _ := upShared(t, ctx, sharedHAFull, false)
	dir := o.Dir
	var out bytes.Buffer
	o.Out = &out
	l, _ := NewLayout(dir)
	hosts := o.Hosts()
	ks := inventory.ByRole(hosts, envfile.RoleKeystone)
	mq := inventory.ByRole(hosts, envfile.RoleRabbitMQ)
	fe := inventory.ByRole(hosts, envfile.RoleFrontend)[0]
	secrets := l.Secrets()
	pool, err := pki.PoolFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	if err != nil {
		t.Fatal(err)
	}
	conf := func(h inventory.Host) (*tls.Config, error) {
		return &tls.Config{RootCAs: pool, ServerName: h.FQDN}, nil
	}

	// The runtime directories of the services, as the roles declare them.
	nginx := filepath.Join(l.Paths(fe.Name).Run, "nginx")
	runDirs := map[string]string{ // path -> its pid file, "" when none is asserted
		nginx:                  filepath.Join(nginx, "nginx.pid"),
		l.Paths(MySQLHost).Run: filepath.Join(l.Paths(MySQLHost).Run, "mysqld.pid"),
	}
	for _, h := range ks {
		d := keystone.Paths(l.Paths(h.Name), h.Name).RunDir
		runDirs[d] = filepath.Join(d, "httpd.pid")
	}
	for _, h := range mq {
		runDirs[filepath.Dir(rabbitmq.NodeFor(h, l.Paths(h.Name)).PidFile)] = ""
	}

	// Before the reboot: messages, a token, the key sets, a marker in every runtime directory.
	const queue, n = "cso-reboot-proof", 200
	pass, err := secrets.Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		t.Fatal(err)
	}
	publishConfirmed(ctx, t, rabbitmq.NodeFor(mq[0], l.Paths(mq[0].Name)), pool, pass, queue, n)
	adminPW, err := secrets.Get(ctx, agent.SecretKeystoneAdmin)
	if err != nil {
		t.Fatal(err)
	}
	base := func(h inventory.Host) string {
		return "https://" + h.FQDN + ":" + strconv.Itoa(h.Ports[inventory.PortKeystone])
	}
	c0, _ := keystoneClient(conf, ks[0])
	token, err := IssueToken(ctx, c0, base(ks[0]), adminPW)
	if err != nil {
		t.Fatal(err)
	}
	keysBefore, factsBefore := keySets(ctx, t, l, ks), keyFacts(ctx, t, l, ks)
	for d := range runDirs {
		if err := os.WriteFile(filepath.Join(d, "reboot-marker"), []byte("before\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The reboot.
	start := time.Now()
	res, err := Restart(ctx, o)
	if err != nil {
		t.Fatalf("restart: %v\n%s", err, out.String())
	}
	t.Logf("restart (stop all, empty the runtime directories, up) in %s", time.Since(start).Round(100*time.Millisecond))
	if upFailed(t, res) {
		t.Fatalf("restart output:\n%s", out.String())
	}
	if len(healthResults(res.Health)) == 0 {
		t.Error("no health probe ran after the restart")
	}
	if !strings.Contains(out.String(), "emptied ") {
		t.Errorf("restart did not report emptying the runtime directories:\n%s", out.String())
	}

	t.Run("runtime directories emptied and created again by the platform", func(t *testing.T) {
		for d, pid := range runDirs {
			if _, err := os.Stat(filepath.Join(d, "reboot-marker")); !os.IsNotExist(err) {
				t.Errorf("%s survived the restart (%v): the runtime directory was not emptied", filepath.Join(d, "reboot-marker"), err)
			}
			st, err := os.Stat(d)
			if err != nil {
				t.Errorf("runtime directory %s not created again: %v", d, err)
				continue
			}
			if st.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %o, want 755", d, st.Mode().Perm())
			}
			if pid != "" {
				if _, err := os.Stat(pid); err != nil {
					t.Errorf("the daemon did not write its pid file into %s: %v", d, err)
				}
			}
		}
		// Owners as declared: MariaDB's and the RabbitMQ nodes' directories are theirs.
		wantOwner := map[string]string{l.Paths(MySQLHost).Run: "mysql"}
		for _, h := range mq {
			wantOwner[filepath.Dir(rabbitmq.NodeFor(h, l.Paths(h.Name)).PidFile)] = rabbitmq.ServiceUser
		}
		for d, owner := range wantOwner {
			st, err := os.Stat(d)
			if err != nil {
				continue
			}
			if got := uidName(st.Sys().(*syscall.Stat_t).Uid); got != owner {
				t.Errorf("%s owned by %s, want %s", d, got, owner)
			}
		}
		// No role task created them: the agents' changes are the services' starts.
		for _, h := range res.Hosts {
			for _, c := range h.Changed {
				for d := range runDirs {
					if strings.Contains(c, d) {
						t.Errorf("%s: a task changed the runtime directory %s (%q); the platform creates it", h.Host, d, c)
					}
				}
			}
		}
		for _, h := range append([]string{MySQLHost, fe.Name}, ks[0].Name, ks[1].Name, mq[0].Name) {
			if !changedStart(res, h) {
				t.Errorf("%s: no service was started by the agents after the reboot: %v", h, res.Hosts)
			}
		}
	})

	t.Run("key sets unchanged", func(t *testing.T) {
		if after := keySets(ctx, t, l, ks); !equalSets(keysBefore, after) {
			t.Errorf("key files changed across the restart: %d files before, %d after", len(keysBefore), len(after))
		}
		if after := keyFacts(ctx, t, l, ks); !equalSets(factsBefore, after) {
			t.Errorf("published key set digests changed: %v -> %v", factsBefore, after)
		}
	})

	t.Run("the token issued before validates on both Keystone nodes", func(t *testing.T) {
		for _, h := range ks {
			c, _ := keystoneClient(conf, h)
			own, err := IssueToken(ctx, c, base(h), adminPW)
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
			if err := ValidateToken(ctx, c, base(h), own, token); err != nil {
				t.Errorf("token from before the restart on %s: %v", h.Name, err)
			}
		}
	})

	t.Run("every confirmed message is still in the queue", func(t *testing.T) {
		got := consumeAll(ctx, t, rabbitmq.NodeFor(mq[1], l.Paths(mq[1].Name)), pool, pass, queue)
		for i := 0; i < n; i++ {
			if got[fmt.Sprintf("msg-%d", i)] != 1 {
				t.Errorf("message msg-%d delivered %d times after the restart, want once", i, got[fmt.Sprintf("msg-%d", i)])
			}
		}
		if len(got) != n {
			t.Errorf("%d distinct messages after the restart, want %d", len(got), n)
		}
	})
}

func upFailed(t *testing.T, res *UpResult) bool {
	t.Helper()
	failed := false
	for _, h := range res.Hosts {
		if h.Error != "" {
			t.Errorf("%s failed: %s", h.Host, h.Error)
			failed = true
		}
	}
	for _, r := range healthResults(res.Health) {
		if r.Status == check.Fail {
			t.Errorf("health %s %s: %s", r.Check, r.Target, r.Detail)
			failed = true
		}
	}
	return failed
}

func changedStart(res *UpResult, host string) bool {
	for _, h := range res.Hosts {
		if h.Host != host {
			continue
		}
		for _, c := range h.Changed {
			if strings.Contains(c, "start service") {
				return true
			}
		}
	}
	return false
}

func uidName(uid uint32) string {
	out, err := exec.Command("id", "-nu", strconv.Itoa(int(uid))).Output()
	if err != nil {
		return strconv.Itoa(int(uid))
	}
	return strings.TrimSpace(string(out))
}

// keySets reads the fernet and credential key files of every Keystone node.
func keySets(_ context.Context, t *testing.T, l Layout, ks []inventory.Host) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, h := range ks {
		for _, kind := range []string{"fernet-keys", "credential-keys"} {
			m, err := readKeySet(filepath.Join(l.Paths(h.Name).Etc, "keystone", kind))
			if err != nil || len(m) == 0 {
				t.Fatalf("%s %s: %v (%d keys)", h.Name, kind, err, len(m))
			}
			for k, v := range m {
				all[h.Name+"/"+kind+"/"+k] = v
			}
		}
	}
	return all
}

// keyFacts reads the key set digests the agents published in the status store.
func keyFacts(ctx context.Context, t *testing.T, l Layout, ks []inventory.Host) map[string]string {
	t.Helper()
	facts := map[string]string{}
	for _, h := range ks {
		doc, err := l.Store().Get(ctx, h.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{status.FactFernetKeys, status.FactCredentialKeys} {
			if doc.Facts[f] == "" {
				t.Fatalf("%s published no %s", h.Name, f)
			}
			facts[h.Name+"/"+f] = doc.Facts[f]
		}
	}
	return facts
}

func dialNode(n rabbitmq.Node, pool *x509.CertPool, pass string) (*amqp.Connection, error) {
	return amqp.DialConfig("amqps://"+n.Addr(n.AMQPS)+"/", amqp.Config{
		SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: rabbitmq.User, Password: pass}},
		Vhost:           rabbitmq.VHost,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: n.Host.FQDN},
		Dial:            amqp.DefaultDial(5 * time.Second),
	})
}

// publishConfirmed declares queue as a durable quorum queue and publishes n persistent
// messages through n, each confirmed by the broker.
func publishConfirmed(ctx context.Context, t *testing.T, node rabbitmq.Node, pool *x509.CertPool, pass, queue string, n int) {
	t.Helper()
	conn, err := dialNode(node, pool, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: fmt.Appendf(nil, "msg-%d", i)})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ok, err := dc.WaitContext(wctx)
		cancel()
		if err != nil || !ok {
			t.Fatalf("message %d not confirmed: ack=%v err=%v", i, ok, err)
		}
	}
}

// consumeAll reads queue through node until it stays empty for a while (bounded), and
// counts the deliveries of each body.
func consumeAll(ctx context.Context, t *testing.T, node rabbitmq.Node, pool *x509.CertPool, pass, queue string) map[string]int {
	t.Helper()
	var conn *amqp.Connection
	// Right after the restart the queue's leader may still be being elected: retry, bounded.
	err := agent.WaitFor(ctx, nil, "AMQPS on "+node.Name, time.Minute, func(context.Context) error {
		var err error
		conn, err = dialNode(node, pool, pass)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(100, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				t.Fatal("the consumer channel closed")
			}
			got[string(d.Body)]++
			if err := d.Ack(false); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			return got
		case <-deadline:
			t.Errorf("still consuming after 2 minutes (%d distinct so far)", len(got))
			return got
		}
	}
}

// TestTargetShape: restart brings back the stack `up` built: the environment, HA shape and
// port base come from target.json; a directory without one is ErrNoTarget.
func TestTargetShape(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := TargetShape(dir); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("empty directory: %v, want ErrNoTarget", err)
	}
	if _, err := Restart(context.Background(), Options{Dir: dir, Env: testEnv(t)}); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("restart of an empty directory: %v, want ErrNoTarget", err)
	}
	for _, o := range []Options{{Dir: dir, HA: true, PortBase: 1234, Env: testEnv(t)}, {Dir: dir, PortBase: 0, Env: testEnv(t)}} {
		l, _ := NewLayout(dir)
		if err := l.Target(o, o.Hosts()).Save(l.TargetFile()); err != nil {
			t.Fatal(err)
		}
		env, ha, base, err := TargetShape(dir)
		if err != nil || env != o.Env.Name || ha != o.HA || base != o.PortBase {
			t.Errorf("shape of %+v: %q %v %d %v", o, env, ha, base, err)
		}
	}
}

// TestEmptyRuntimeDirs removes each host's run tree and nothing else.
func TestEmptyRuntimeDirs(t *testing.T) {
	l, _ := NewLayout(t.TempDir())
	for _, h := range []string{MySQLHost, "keystone01"} {
		p := l.Paths(h)
		for _, f := range []string{filepath.Join(p.Run, "x", "pid"), filepath.Join(p.Data, "keep"), filepath.Join(p.Log, "keep"), filepath.Join(p.Etc, "keep")} {
			os.MkdirAll(filepath.Dir(f), 0o755)
			os.WriteFile(f, nil, 0o644)
		}
	}
	emptied, err := l.EmptyRuntimeDirs()
	if err != nil || len(emptied) != 2 {
		t.Fatalf("emptied %v, %v", emptied, err)
	}
	for _, h := range []string{MySQLHost, "keystone01"} {
		p := l.Paths(h)
		if _, err := os.Stat(p.Run); !os.IsNotExist(err) {
			t.Errorf("%s still there", p.Run)
		}
		for _, d := range []string{p.Data, p.Log, p.Etc} {
			if _, err := os.Stat(filepath.Join(d, "keep")); err != nil {
				t.Errorf("%s lost: %v", d, err)
			}
		}
	}
}
