// Package rabbitmq is the rabbitmq role of the host agent (LLD 3.4): a RabbitMQ node with
// AMQPS and the management API over TLS from the project CA (no plain AMQP listener),
// clustered with every RabbitMQ host of the environment by classic_config peer discovery
// over TLS Erlang distribution, the Erlang cookie from the environment's secrets, vhost ssp
// with quorum queues by default, and ssp_user with the generated password. Its management
// API reads (cluster health, queues) are internal/rabbitmqapi's, the one client; the role's
// own readiness probes are ProbeAMQPS and ProbeTLS.
package rabbitmq

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// Role converges a RabbitMQ host.
type Role struct {
	// CertWait bounds the wait for the jump server's certificates (default 10 min locally,
	// agent.PeerWaitEC2 on Amazon Linux 2023).
	CertWait time.Duration
	// ClusterWait bounds the wait for every node to run in one cluster (default 5 min
	// locally, agent.PeerWaitEC2 on Amazon Linux 2023).
	ClusterWait time.Duration
}

// New returns the rabbitmq role with its default waits.
func New() agent.Role { return Role{} }

// Role names the role.
func (Role) Role() envfile.Role { return envfile.RoleRabbitMQ }

// Local bounds of the waits on other hosts (Runtime.PeerWait takes the EC2 bound there).
const (
	localCertWait    = 10 * time.Minute
	localClusterWait = 5 * time.Minute
)

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Steps plans the host: packages, user, certificates, configuration, service (after the
// peers forgot a rebuilt node's old membership), cluster, access, quorum queues.
func (r Role) Steps(rt *agent.Runtime) ([]agent.Step, error) {
	if rt.Host.Role != envfile.RoleRabbitMQ {
		return nil, fmt.Errorf("rabbitmq role given host %s of role %s", rt.Host.Name, rt.Host.Role)
	}
	for _, p := range []string{inventory.PortAMQPS, inventory.PortManagement, inventory.PortDist} {
		if rt.Host.Ports[p] == 0 {
			return nil, fmt.Errorf("host %s has no %s port in the inventory", rt.Host.Name, p)
		}
	}
	// rabbitmqctl hangs on relative paths (it changes directory): refuse them up front.
	for name, p := range map[string]string{"Etc": rt.Paths.Etc, "Data": rt.Paths.Data, "Log": rt.Paths.Log,
		"Run": rt.Paths.Run, "SSLCerts": rt.Paths.SSLCerts} {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("host %s: path %s %q is not absolute", rt.Host.Name, name, p)
		}
	}
	nodes := Nodes(rt)
	self := NodeFor(rt.Host, rt.Paths)
	found := false
	for _, n := range nodes {
		found = found || n.Name == self.Name
	}
	if !found {
		return nil, fmt.Errorf("host %s is not among the environment's RabbitMQ hosts", rt.Host.Name)
	}
	// Decided without looking the account up: on a fresh host the package that creates it
	// is installed only by the first step (see runUser and the "user" step).
	owner := runUser()
	// The host's own TLS files: from its secret on AWS (the "own certificate" step),
	// from the shared store locally, where the jump role issues them.
	own := rt.Paths.OwnTLS(rt.Host.Name)
	shared := struct{ ca, crt, key string }{own.CA, own.Cert, own.Key}

	// The agent timer first (Amazon Linux only): a failed first run is retried.
	steps := append(append(agent.ResyncSteps(rt), agent.OwnTLSSteps(rt)...), agent.Step{Name: "packages", Tasks: installTasks(rt)})
	if owner != "" {
		steps = append(steps, agent.Step{Name: "user", Tasks: []agent.Task{
			agent.SystemUser{User: owner, Home: "/var/lib/rabbitmq", Comment: "RabbitMQ messaging server", Runner: agent.RunnerOf(rt.Platform), Lookup: lookupUser}}})
	}
	steps = append(steps, []agent.Step{
		{Name: "certificates", Tasks: []agent.Task{
			agent.WaitFiles{What: "the host's TLS certificate and key", Paths: []string{shared.ca, shared.crt, shared.key},
				Timeout: orDefault(r.CertWait, rt.PeerWait(localCertWait))},
			agent.MkdirAll{Paths: []string{rt.Paths.Etc, rt.Paths.Data, rt.Paths.Log}},
			agent.Dir{Path: self.ConfDir, Mode: 0o755},
			agent.Dir{Path: self.SSLDir, Mode: 0o750, Owner: owner},
			CopyFile{Src: shared.ca, Dst: self.CACert(), Mode: 0o644, Owner: owner},
			CopyFile{Src: shared.crt, Dst: self.Cert(), Mode: 0o644, Owner: owner},
			CopyFile{Src: shared.key, Dst: self.Key(), Mode: 0o600, Owner: owner, Secret: true},
		}},
		{Name: "configuration", Tasks: []agent.Task{
			Reachable{Path: self.Home, User: owner},
			agent.Dir{Path: self.Home, Mode: 0o750, Owner: owner},
			agent.Dir{Path: self.MnesiaBase, Mode: 0o750, Owner: owner},
			agent.Dir{Path: self.LogBase, Mode: 0o750, Owner: owner},
			SecretFile{Path: filepath.Join(self.Home, ".erlang.cookie"), Secret: agent.SecretErlangCookie, Owner: owner},
			agent.File{Path: self.ConfigFile, Content: RenderConfig(self, nodes)},
			agent.File{Path: self.AdvancedConfig, Content: RenderAdvanced(self)},
			agent.File{Path: self.DistConfig, Content: RenderDistConfig(self)},
			agent.File{Path: self.EnabledPlugins, Content: RenderEnabledPlugins()},
			DefinitionsFile{Path: self.Definitions, Owner: owner},
			agent.File{Path: self.EnvConfig, Content: self.envConf()},
		}},
		{Name: "service", Tasks: []agent.Task{forgetReplacedTask(self, nodes), rt.Platform.Service(self.ServiceSpec(owner))}},
	}...)
	st := &accessState{self: self}
	access := []agent.Task{loginTask(self, nodes[0], orDefault(r.ClusterWait, rt.PeerWait(localClusterWait)))}
	if self.Name == nodes[0].Name {
		access = append(accessTasks(st), access...)
	}
	steps = append(steps,
		agent.Step{Name: "cluster", Tasks: []agent.Task{clusterTask(self, nodes, st, orDefault(r.ClusterWait, rt.PeerWait(localClusterWait)))}},
		agent.Step{Name: "access", Tasks: access},
		agent.Step{Name: "quorum queues", Tasks: []agent.Task{quorumMembersTask(self, nodes)}},
	)
	return steps, nil
}

// LimitNOFILE is the node's open-file limit: RabbitMQ's production checklist asks for at
// least 50K file descriptors (sockets included), and the unit of RabbitMQ's own packages
// sets 65536; the agent's unit replaces that unit, and systemd's default would leave
// 1024 (docs/decisions/roles.md).
const LimitNOFILE = 65536

// ServiceSpec is how the platform runs the node: rabbitmq-server in the foreground, ready
// when AMQPS and the management listener answer over TLS verified against the project CA.
func (n Node) ServiceSpec(owner string) agent.ServiceSpec {
	stop := n.ctl("shutdown", "--timeout", "60")
	return agent.ServiceSpec{
		Name:    n.ServiceName,
		Command: []string{ServerBin},
		Env:     n.Env(),
		User:    owner,
		Dir:     n.Home,
		ConfigFiles: []string{n.ConfigFile, n.AdvancedConfig, n.DistConfig, n.EnabledPlugins, n.EnvConfig,
			filepath.Join(n.Home, ".erlang.cookie")},
		// A renewed certificate needs no restart: the listeners (AMQPS, management, the
		// TLS distribution) read their PEM files through Erlang's ssl PEM cache, and once it
		// is cleared the next handshake reads the new files (docs/decisions/agent.md).
		ReloadFiles:  []string{n.CACert(), n.Cert(), n.Key()},
		Reload:       agent.Reload{Command: n.ctl("eval", "ssl:clear_pem_cache().")},
		Ready:        n.Ready,
		ReadyTimeout: 3 * time.Minute,
		StopCommand:  stop,
		StopTimeout:  90 * time.Second,
		LimitNOFILE:  LimitNOFILE,
		// The node (running as owner) writes its pid file there; the platform creates it at
		// every start, as /run is empty after a reboot.
		RuntimeDirs: []agent.RuntimeDir{{Path: filepath.Dir(n.PidFile), Owner: owner, Mode: 0o755}},
	}
}

// ctl is a rabbitmqctl command line addressing this node.
func (n Node) ctl(args ...string) []string {
	c := []string{CtlBin, "-n", n.Name}
	if n.LongName {
		c = append(c, "--longnames")
	}
	return append(c, args...)
}

// Ready reports whether the node serves AMQPS and the management API over TLS.
func (n Node) Ready(ctx context.Context) error {
	roots, err := pki.PoolFile(n.CACert())
	if err != nil {
		return err
	}
	if err := ProbeAMQPS(ctx, n.Addr(n.AMQPS), n.ServerName(), roots); err != nil {
		return err
	}
	return ProbeTLS(ctx, n.Addr(n.Management), n.ServerName(), roots)
}
