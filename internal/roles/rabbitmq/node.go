package rabbitmq

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// Where the RabbitMQ packages put their tools (Debian and the RabbitMQ team's RPMs alike).
// The /usr/sbin wrappers of Debian switch user and directory with `su`, which drops our
// environment; the scripts under /usr/lib/rabbitmq/bin are the real ones.
var (
	ServerBin = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	CtlBin    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
)

// Names of the messaging objects the platform creates (LLD 3.3.1 transport_url).
const (
	VHost = inventory.RabbitMQVHost
	User  = inventory.RabbitMQUser
)

// UserTags let ssp_user read cluster health over the management API (GET /api/nodes,
// /api/health/checks/...) and read and write the policies of its vhost (policymaker:
// `cso backup` and `cso restore` carry them), without administrator rights.
var UserTags = []string{"monitoring", "policymaker"}

// Node is where one RabbitMQ node keeps everything, derived from its host and paths.
type Node struct {
	Host inventory.Host
	// Name is the Erlang node name: rabbit@<fqdn> on AWS; locally, where several nodes and
	// several stacks share one machine, rabbit-<host>-<stack hash>@localhost.
	Name     string
	LongName bool
	Loopback bool // every node of the environment runs on this machine (local target)

	ServiceName    string
	ConfDir        string // <Etc>/rabbitmq
	ConfigFile     string
	AdvancedConfig string
	DistConfig     string // inter_node_tls.config: TLS of Erlang distribution (ssl_dist_optfile)
	EnvConfig      string
	EnabledPlugins string
	Definitions    string // vhost, user (password hash) and permissions imported at boot
	SSLDir         string // copies of the CA, certificate and key readable by the node's user
	Home           string // HOME of the node and CLI: holds .erlang.cookie
	MnesiaBase     string
	LogBase        string
	PidFile        string

	// Plain AMQP has no listener (listeners.tcp = none): clients use AMQPS only.
	AMQPS, Management, Dist int
	Prometheus              int // rabbitmq_prometheus listener (0: none configured)
	BindAddress             string
}

// NodeFor lays out host h of the environment whose shared store is in p.SSLCerts, using the
// host tree p (only p of the host being converged is known; peers are only named).
func NodeFor(h inventory.Host, p agent.Paths) Node {
	n := Node{Host: h, BindAddress: h.Address}
	n.Loopback = isLoopback(h.Address)
	if n.Loopback {
		n.Name = fmt.Sprintf("rabbit-%s-%s@localhost", h.Name, p.StackID())
		n.ServiceName = fmt.Sprintf("%s-rabbitmq-%s", h.Name, p.StackID())
	} else {
		n.Name, n.LongName = "rabbit@"+h.FQDN, true
		n.ServiceName = "rabbitmq-server"
	}
	n.ConfDir = filepath.Join(p.Etc, "rabbitmq")
	n.ConfigFile = filepath.Join(n.ConfDir, "rabbitmq.conf")
	n.AdvancedConfig = filepath.Join(n.ConfDir, "advanced.config")
	n.DistConfig = filepath.Join(n.ConfDir, "inter_node_tls.config")
	n.EnvConfig = filepath.Join(n.ConfDir, "rabbitmq-env.conf")
	n.EnabledPlugins = filepath.Join(n.ConfDir, "enabled_plugins")
	n.Definitions = filepath.Join(n.ConfDir, "definitions.json")
	n.SSLDir = filepath.Join(n.ConfDir, "ssl")
	n.Home = filepath.Join(p.Data, "rabbitmq")
	n.MnesiaBase = filepath.Join(n.Home, "mnesia")
	n.LogBase = filepath.Join(p.Log, "rabbitmq")
	n.PidFile = filepath.Join(p.Run, "rabbitmq", "rabbitmq.pid")
	n.AMQPS, n.Management, n.Dist = h.Ports[inventory.PortAMQPS], h.Ports[inventory.PortManagement], h.Ports[inventory.PortDist]
	n.Prometheus = h.Ports[inventory.PortPrometheus]
	if n.BindAddress == "" {
		n.BindAddress = "0.0.0.0" // AWS: the address is the instance's; listen on it
	}
	return n
}

func isLoopback(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// Nodes returns every RabbitMQ node of the environment, in index order.
func Nodes(rt *agent.Runtime) []Node {
	var out []Node
	for _, h := range inventory.ByRole(rt.Hosts, envfile.RoleRabbitMQ) {
		out = append(out, NodeFor(h, rt.Paths))
	}
	return out
}

// NodeNames returns the Erlang node names of nodes.
func NodeNames(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// Addr returns host:port for port on the node's host (loopback locally, FQDN on AWS).
func (n Node) Addr(port int) string {
	host := n.Host.Address
	if host == "" || !n.Loopback {
		host = n.Host.FQDN
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ServerName is the TLS name clients verify on this node's certificate: its DNS name,
// which every certificate names (the local CA's also name the address; Terraform's, which
// a rehearsal of an AWS deploy on loopback installs, name DNS names only).
func (n Node) ServerName() string { return n.Host.FQDN }

// CACert, Cert and Key are the node's copies of the TLS material.
func (n Node) CACert() string { return filepath.Join(n.SSLDir, "ca.crt") }
func (n Node) Cert() string   { return filepath.Join(n.SSLDir, "server.crt") }
func (n Node) Key() string    { return filepath.Join(n.SSLDir, "server.key") }

// erlArgs are the runtime flags of the node and of every CLI tool run against it (the
// same for both: a CLI tool is an Erlang node that joins the distribution). Distribution
// is TLS (inet_tls) with the options of DistConfig; no -pa is needed, since the node and
// the CLI boot in interactive mode with every OTP application (ssl included) on the code
// path. The connection set-up time (net_setuptime, default 7 s) is 30 s: a CLI tool's VM
// loads ssl and completes its TLS handshake inside it, which a loaded host does not always
// do in 7 s (the node then drops the half-made connection and the CLI retries until its
// own timeout). Locally, distribution also listens on loopback only.
func (n Node) erlArgs() string {
	args := "-proto_dist inet_tls -ssl_dist_optfile " + n.DistConfig + " -kernel net_setuptime 30"
	if n.Loopback {
		args += " -kernel inet_dist_use_interface {127,0,0,1}"
	}
	return args
}

// Env is the environment of the node's server and of every CLI call against it. It holds
// no secret: the cookie is read from $HOME/.erlang.cookie.
func (n Node) Env() []string {
	env := []string{
		"HOME=" + n.Home,
		"RABBITMQ_CONF_ENV_FILE=" + n.EnvConfig,
		"RABBITMQ_NODENAME=" + n.Name,
		"RABBITMQ_USE_LONGNAME=" + strconv.FormatBool(n.LongName),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(n.Dist),
		"RABBITMQ_CONFIG_FILE=" + n.ConfigFile,
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + n.AdvancedConfig,
		"RABBITMQ_MNESIA_BASE=" + n.MnesiaBase,
		"RABBITMQ_LOG_BASE=" + n.LogBase,
		"RABBITMQ_PID_FILE=" + n.PidFile,
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + n.EnabledPlugins,
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=" + n.erlArgs(),
		"RABBITMQ_CTL_ERL_ARGS=" + n.erlArgs(),
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8",
	}
	if n.Loopback {
		// The first node or CLI call starts epmd, which inherits this: loopback only.
		env = append(env, "ERL_EPMD_ADDRESS=127.0.0.1")
	}
	return env
}

// envConf is rabbitmq-env.conf: the same settings for an operator's `rabbitmqctl`
// (RABBITMQ_CONF_ENV_FILE=<this file> rabbitmqctl ...).
func (n Node) envConf() []byte {
	var b strings.Builder
	b.WriteString("# Managed by cso agent (role rabbitmq); changes are overwritten.\n")
	for _, kv := range n.Env() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "ERL_EPMD_ADDRESS": // exported by rabbitmq-env when set
			fmt.Fprintf(&b, "%s=%q\n", k, v)
		case strings.HasPrefix(k, "RABBITMQ_") && k != "RABBITMQ_CONF_ENV_FILE":
			fmt.Fprintf(&b, "%s=%q\n", strings.TrimPrefix(k, "RABBITMQ_"), v)
		}
	}
	return []byte(b.String())
}
