package agent

import (
	"context"
	"io/fs"
	"time"
)

// Platform is what differs between Amazon Linux 2023 on EC2 (dnf, systemd) and the local
// target on Debian (apt, no systemd: the local supervisor runs the daemons).
type Platform interface {
	Name() string // "al2023" or "local"
	// Distro is what differs between the machines the platform runs on; roles ask it
	// instead of testing Name.
	Distro() Distro
	// Packages returns a task that installs the named packages (the platform's own names).
	Packages(names ...string) Task
	// Service returns a task that makes the service run as spec says, (re)starting it when
	// it is not running or when one of spec.ConfigFiles changed since it was started, and
	// waiting (bounded) for spec.Ready.
	Service(spec ServiceSpec) Task
	// Stop stops the named service if it runs (bounded; forceful after spec.StopTimeout).
	Stop(ctx context.Context, name string) error
	// Running reports whether the named service runs.
	Running(ctx context.Context, name string) (bool, error)
}

// Distro is what differs between the machines the platforms run on: Amazon Linux 2023 on
// EC2, each host an instance of its own, and the local target's Debian 12, every host on
// one machine. Package names, binaries, users and paths live here, so that a role asks
// its platform (rt.Distro()) instead of comparing names, as kops' distributions do.
type Distro struct {
	Name string // "al2023" or "debian"
	// EC2: each host is an instance of its own among AWS services (peers take minutes to
	// boot, a host's grants follow its instance, logs go to CloudWatch, the database is
	// RDS). False on the local target, where every host shares this machine.
	EC2 bool
	// Apache: the binary, the directory of its modules, and whether mod_unixd and
	// mod_log_config are modules to load (Red Hat's httpd) rather than built in (Debian's
	// apache2, which refuses to load a built-in module).
	ApacheBinary, ApacheModulesDir string
	ApacheLoadsCoreModules         bool
	NginxUser                      string // the user nginx's workers run as
	MemcachedUser                  string // the account the memcached package creates
	MemcachedBinary                string
	JavaPackage                    string // the headless Java runtime
	// KeystoneFromPip: the distribution packages neither Keystone nor mod_wsgi; both are
	// installed with pip into a virtual environment (roles/keystone/install.go).
	KeystoneFromPip bool
	// RabbitMQFromVendor: RabbitMQ and Erlang come, pinned, from the RabbitMQ team's
	// repositories; else the distribution's rabbitmq-server.
	RabbitMQFromVendor bool
}

// The distributions of the two platforms (docs/decisions/roles.md has the evidence for
// each package name).
var (
	AL2023Distro = Distro{Name: "al2023", EC2: true,
		ApacheBinary: "/usr/sbin/httpd", ApacheModulesDir: "/usr/lib64/httpd/modules", ApacheLoadsCoreModules: true,
		NginxUser: "nginx", MemcachedUser: "memcached", MemcachedBinary: "/usr/bin/memcached",
		// Amazon Corretto 21 (the LLD's 2.4.2).
		JavaPackage: "java-21-amazon-corretto-headless", KeystoneFromPip: true, RabbitMQFromVendor: true}
	DebianDistro = Distro{Name: "debian",
		ApacheBinary: "/usr/sbin/apache2", ApacheModulesDir: "/usr/lib/apache2/modules",
		NginxUser: "www-data", MemcachedUser: "memcache", MemcachedBinary: "/usr/bin/memcached",
		// OpenJDK 17, Debian 12's newest JRE.
		JavaPackage: "openjdk-17-jre-headless"}
)

// ServiceSpec describes one long-running daemon.
type ServiceSpec struct {
	Name    string   // unique per machine, e.g. "keystone01-httpd"
	Command []string // runs in the foreground (the platform supervises it)
	Env     []string // KEY=VALUE; never secrets on the command line
	// SecretEnv is KEY=VALUE given to the daemon but never written anywhere except where
	// the platform must keep it (a 0600 EnvironmentFile on systemd); not passed to StopCommand.
	SecretEnv []string
	User      string // run as this user ("" = the agent's user)
	// LogFile receives the daemon's stdout and stderr on al2023 (a file the CloudWatch
	// agent can ship; the journal cannot be); "" leaves them to the journal. The local
	// supervisor always writes <LogDir>/<Name>.log and ignores it.
	LogFile string
	Dir     string // working directory
	// ConfigFiles are hashed at start; a later change restarts the service.
	ConfigFiles []string
	// ReloadFiles are files the daemon re-reads when it reloads gracefully (its TLS
	// certificate, key and CA): a later change of one of them reloads the running daemon
	// with Reload instead of restarting it, so that renewing a certificate refuses or cuts
	// no connection. They are hashed apart from ConfigFiles (ReloadHash). Without a Reload
	// they are ConfigFiles.
	ReloadFiles []string
	Reload      Reload
	// Ready is polled until it returns nil or ReadyTimeout (default a minute) passes.
	Ready        func(ctx context.Context) error
	ReadyTimeout time.Duration
	// StopCommand stops the service gracefully (e.g. rabbitmqctl shutdown); default SIGTERM.
	StopCommand []string
	StopTimeout time.Duration
	// LimitNOFILE is the daemon's open-file limit, soft and hard (systemd LimitNOFILE=);
	// 0 leaves the platform's default (1024 soft under systemd). The local supervisor
	// leaves the agent's own limit to its children.
	LimitNOFILE int
	// RuntimeDirs are the directories the daemon needs under the host's volatile runtime
	// tree (/run, a tmpfs: empty after every boot), such as its pid or socket directory.
	// The platform creates them, with their owner and mode, before every start: systemd
	// through the unit (RuntimeDirectory=) or tmpfiles.d, the local supervisor itself. A
	// role must not create them once in a task: they would be gone after a reboot.
	RuntimeDirs []RuntimeDir
}

// readyWait is how long Ready is polled: ReadyTimeout, else a minute.
func (s ServiceSpec) readyWait() time.Duration {
	if s.ReadyTimeout == 0 {
		return 60 * time.Second
	}
	return s.ReadyTimeout
}

// Reload is how a daemon reloads gracefully: a signal to its main process (Apache's
// graceful restart is USR1, nginx's reload HUP), or a command run with the service's Env
// and User (RabbitMQ: rabbitmqctl eval 'ssl:clear_pem_cache().'). Signal names are those
// of kill -s without "SIG" (HUP, USR1, USR2).
type Reload struct {
	Signal  string
	Command []string
}

// IsZero reports whether no reload is defined.
func (r Reload) IsZero() bool { return r.Signal == "" && len(r.Command) == 0 }

// restartFiles are the files whose change restarts spec: ConfigFiles, and ReloadFiles too
// when spec has no Reload.
func (spec ServiceSpec) restartFiles() []string {
	if spec.Reload.IsZero() {
		return append(append([]string(nil), spec.ConfigFiles...), spec.ReloadFiles...)
	}
	return spec.ConfigFiles
}

// RuntimeDir is a directory of a ServiceSpec's RuntimeDirs.
type RuntimeDir struct {
	Path  string      // absolute
	Owner string      // user; "" = the agent's user (root on EC2)
	Group string      // "" = the owner's primary group
	Mode  fs.FileMode // default 0755
}

// mode is d's mode with the default applied.
func (d RuntimeDir) mode() fs.FileMode {
	if d.Mode == 0 {
		return 0o755
	}
	return d.Mode
}
