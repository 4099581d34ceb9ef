package rabbitmq_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/apppkg/stacktest"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/rabbitmq"
)

// testTraffic proves on the running local cluster what the Traffic section of issue #10
// asks of RabbitMQ: no plain AMQP listener, AMQPS and distribution on loopback, the nodes
// and the CLI tools talking Erlang distribution over TLS with the project CA (and nothing
// else), and epmd on loopback only.
func testTraffic(ctx context.Context, t *testing.T, s *stacktest.Stack, nodes []rabbitmq.Node) {
	for _, n := range nodes {
		// The CLI reaches the node only over TLS distribution: the node accepts no other.
		ls, err := rabbitmq.Listeners(ctx, n)
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		ports := map[string]int{}
		for _, l := range ls {
			ports[l.Protocol] = l.Port
			if l.Protocol == "amqp" {
				t.Errorf("%s has a plain AMQP listener: %+v", n.Name, l)
			}
			switch {
			case l.Interface == "127.0.0.1":
			case strings.HasPrefix(l.Protocol, "amqp") || l.Protocol == "clustering":
				t.Errorf("%s: listener %s on %s, want 127.0.0.1 only", n.Name, l.Protocol, l.Interface)
			default:
				// RabbitMQ 3.10 reports the management listener as [::] although advanced.config
				// gives it {ip, "127.0.0.1"}: the kernel's socket table is the truth.
				if bad, found := nonLoopbackListeners(t, l.Port); !found || len(bad) > 0 {
					t.Errorf("%s: listener %s (%s) on port %d: sockets %v (found %v), want loopback only", n.Name, l.Protocol, l.Purpose, l.Port, bad, found)
				}
			}
		}
		if ports["amqp/ssl"] != n.AMQPS || ports["clustering"] != n.Dist {
			t.Errorf("%s listeners %+v, want amqp/ssl on %d and clustering on %d", n.Name, ls, n.AMQPS, n.Dist)
		}
		closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Host.Closed[inventory.PortAMQP]))
		if n.Host.Closed[inventory.PortAMQP] == 0 {
			t.Errorf("%s: the inventory names no closed plain AMQP port", n.Name)
		} else if conn, err := net.DialTimeout("tcp", closed, 5*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s: plain AMQP port %s accepts connections", n.Name, closed)
		}
	}
	if out, err := rabbitmq.Ctl(ctx, nodes[2], nil, "eval", "init:get_argument(proto_dist)."); err != nil ||
		strings.TrimSpace(string(out)) != `{ok,[["inet_tls"]]}` {
		t.Errorf("%s: proto_dist %q, %v; want inet_tls", nodes[2].Name, out, err)
	}

	// rabbitmq-diagnostics, over TLS distribution, sees the three nodes running.
	out, err := rabbitmq.Diagnostics(ctx, nodes[1], "cluster_status", "--formatter", "json", "--quiet")
	var cs rabbitmq.CLIClusterStatus
	if err == nil {
		err = json.Unmarshal(out[strings.IndexAny(string(out), "{["):], &cs)
	}
	if err != nil || len(cs.RunningNodes) != 3 {
		t.Errorf("rabbitmq-diagnostics cluster_status: running %v, %v", cs.RunningNodes, err)
	}

	n := nodes[0]
	dist := n.Addr(n.Dist)
	cert, err := tls.LoadX509KeyPair(n.Cert(), n.Key())
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	// A peer with a certificate of the project CA: the handshake completes and the node's
	// certificate verifies for the host part of its name.
	conn, err := tls.DialWithDialer(dialer, "tcp", dist, &tls.Config{RootCAs: s.Pool, ServerName: "localhost",
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Errorf("TLS with the project CA on the distribution port %s: %v", dist, err)
	} else {
		conn.Close()
	}
	// A peer without a certificate is refused (fail_if_no_peer_cert): with TLS 1.3 the
	// alert arrives after the client's handshake, on the first read.
	if conn, err := tls.DialWithDialer(dialer, "tcp", dist, &tls.Config{RootCAs: s.Pool, ServerName: "localhost"}); err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the distribution port accepted a TLS peer without a certificate (read: %v)", err)
		}
	}
	// A plain Erlang distribution handshake (send_name, protocol version 5) gets no status
	// answer: the port speaks TLS only.
	if raw, err := dialer.Dial("tcp", dist); err == nil {
		name := "cso-plain-probe@localhost"
		msg := binary.BigEndian.AppendUint16(nil, uint16(7+len(name)))
		msg = append(msg, 'n', 0, 5)
		msg = binary.BigEndian.AppendUint32(msg, 0x0107df7d)
		msg = append(msg, name...)
		_, _ = raw.Write(msg)
		_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
		reply, _ := io.ReadAll(io.LimitReader(raw, 64))
		raw.Close()
		if len(reply) >= 3 && reply[2] == 's' {
			t.Errorf("the distribution port answered a plain distribution handshake: %q", reply)
		}
	}
	// A CLI tool without the TLS flags cannot talk to the node.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, rabbitmq.CtlBin, "-n", n.Name, "status")
	for _, kv := range n.Env() {
		if !strings.HasPrefix(kv, "RABBITMQ_CTL_ERL_ARGS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}")
	cmd.Dir = n.Home
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("rabbitmqctl over plain distribution reached %s:\n%s", n.Name, out)
	}

	// epmd listens on loopback only, when this stack started it. One epmd serves the whole
	// machine: when another program started it first (Debian's epmd.socket, a system
	// rabbitmq-server, a shell's rabbitmqctl), its address is not the stack's to choose.
	pids, ours := epmdProcesses(t)
	bad := epmdListeners(t)
	switch {
	case len(pids) > 0 && !ours:
		t.Logf("epmd (pid %v) was not started by a node of this stack (no ERL_EPMD_ADDRESS in its environment): its listeners %v are the machine's", pids, bad)
	case len(bad) > 0:
		t.Errorf("epmd listens on %v, want loopback only", bad)
	}
}

// epmdProcesses returns the running epmd processes, and whether one of them was started
// with ERL_EPMD_ADDRESS=127.0.0.1 (by a node or CLI call of a local stack).
func epmdProcesses(t *testing.T) (pids []string, ours bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "epmd" {
			continue
		}
		pids = append(pids, d.Name())
		env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), "ERL_EPMD_ADDRESS=127.0.0.1") {
			ours = true
		}
	}
	return pids, ours
}

// loopbackHex are the loopback addresses as /proc/net/tcp{,6} print them: 127.0.0.1, ::1
// and ::ffff:127.0.0.1. epmd adds the loopback address to ERL_EPMD_ADDRESS by itself
// ("If the loopback address is not in this list, it will be added implicitly",
// erlang/otp commit bcf3b3d0) and listens on the IPv4 and the IPv6 loopback sockets where
// IPv6 is up (erlang-patches, "epmd: support IPv6 node registration", 2012), so ::1 is
// expected next to 127.0.0.1.
var loopbackHex = []string{"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}

// epmdListeners returns the non-loopback addresses listening on epmd's port 4369.
func epmdListeners(t *testing.T) []string {
	bad, found := nonLoopbackListeners(t, 4369)
	if !found {
		t.Error("no epmd listener on port 4369")
	}
	return bad
}

// nonLoopbackListeners returns the non-loopback addresses listening on port, from
// /proc/net/tcp and tcp6, and whether anything listens on it at all.
func nonLoopbackListeners(t *testing.T, port int) (bad []string, found bool) {
	suffix := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st ...; 0A is LISTEN, the port in hex.
			if len(fields) < 4 || fields[3] != "0A" || !strings.HasSuffix(fields[1], suffix) {
				continue
			}
			found = true
			if addr := strings.TrimSuffix(fields[1], suffix); !slices.Contains(loopbackHex, addr) {
				bad = append(bad, f+" "+addr)
			}
		}
		fh.Close()
	}
	return bad, found
}
