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
	// Ready is polled until it returns nil or ReadyTimeout passes.
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
