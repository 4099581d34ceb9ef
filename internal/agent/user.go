package agent

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"sync"
	"time"
)

// SystemUser makes sure a daemon's system account and its group exist. Packages normally
// create them (rabbitmq-server, nginx); where one did not (Debian's python3-keystone), it
// is created as the distribution's package would.
type SystemUser struct {
	User, Home, Comment string
	// Runner runs useradd (nil: for real); Lookup finds an account (nil: os/user). Tests
	// replace both.
	Runner Runner
	Lookup func(name string) error
}

// systemUserMu: the hosts of the local target converge side by side on one machine and
// share accounts.
var systemUserMu sync.Mutex

// UserAddCommand creates the system account name with its own group and no home.
func UserAddCommand(name, home, comment string) []string {
	return []string{"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home,
		"--shell", "/usr/sbin/nologin", "--comment", comment, name}
}

// Name implements Task.
func (u SystemUser) Name() string { return "system user " + u.User }

func (u SystemUser) exists() bool {
	if u.Lookup != nil {
		return u.Lookup(u.User) == nil
	}
	_, err := user.Lookup(u.User)
	return err == nil
}

// Check implements Task.
func (u SystemUser) Check(context.Context, *Runtime) (Change, error) {
	if u.exists() {
		return NoChange, nil
	}
	return Change{Needed: true, Summary: "create system user and group " + u.User}, nil
}

// Apply implements Task.
func (u SystemUser) Apply(ctx context.Context, _ *Runtime) error {
	systemUserMu.Lock()
	defer systemUserMu.Unlock()
	if u.exists() {
		return nil
	}
	r := u.Runner
	if r == nil {
		r = ExecRunner{}
	}
	_, err := r.Run(ctx, Command{Args: UserAddCommand(u.User, u.Home, u.Comment), Timeout: time.Minute})
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 9 { // created meanwhile by another process
		return nil
	}
	if err != nil {
		return fmt.Errorf("create system user %s: %w", u.User, err)
	}
	return nil
}

// RunnerOf is the command runner of platform p: an Amazon Linux platform's (a test's fake),
// else the real one.
func RunnerOf(p Platform) Runner {
	if al, ok := p.(*AL2023); ok && al.Runner != nil {
		return al.Runner
	}
	return ExecRunner{}
}

// Distro is the distribution of rt's platform; the local target's without one.
func (rt *Runtime) Distro() Distro {
	if rt == nil || rt.Platform == nil {
		return DebianDistro
	}
	return rt.Platform.Distro()
}

// PeerWaitEC2 bounds, on Amazon Linux (EC2), every wait of a host on another host: the
// jump server's certificates, database users and package copy, keystone01's key sets,
// Keystone and RabbitMQ answering, the other RabbitMQ nodes. Every instance boots at once,
// the jump server starts its work only after its own setup, and a Keystone node may spend
// 20 minutes in its pip install; 45 minutes is the deploy's own bound of the
// service-dependency phase (internal/deploy).
const PeerWaitEC2 = 45 * time.Minute

// PeerWait is how long rt waits on another host: PeerWaitEC2 on Amazon Linux, else local
// (the role's bound on the local target, where everything starts within seconds).
func (rt *Runtime) PeerWait(local time.Duration) time.Duration {
	if rt.Distro().EC2 {
		return PeerWaitEC2
	}
	return local
}
