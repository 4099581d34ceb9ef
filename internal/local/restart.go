package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// ErrNoTarget is returned by Restart and TargetShape for a directory that holds no local
// target (no target.json): there is nothing to restart.
var ErrNoTarget = errors.New("no local target")

// RestartStopTimeout bounds stopping the daemons before the runtime directories are emptied.
const RestartStopTimeout = 5 * time.Minute

// TargetShape reads what `cso local up` built in dir: the environment's name, whether it
// is the HA shape and its port base, so that a restart brings back the same stack.
func TargetShape(dir string) (envName string, ha bool, portBase int, err error) {
	l, err := NewLayout(dir)
	if err != nil {
		return "", false, 0, err
	}
	if _, err := os.Stat(l.TargetFile()); errors.Is(err, os.ErrNotExist) {
		return "", false, 0, fmt.Errorf("%w in %s (no %s): run `cso local up` first", ErrNoTarget, l.Dir, l.TargetFile())
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return "", false, 0, err
	}
	_, port, err := net.SplitHostPort(t.MySQL)
	if err != nil {
		return "", false, 0, fmt.Errorf("%s: mysql %q: %w", l.TargetFile(), t.MySQL, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", false, 0, fmt.Errorf("%s: mysql port %q: %w", l.TargetFile(), port, err)
	}
	return t.Env, len(inventory.ByRole(t.Hosts, envfile.RoleKeystone)) > 1, p - inventory.LocalMySQLPort, nil
}

// TargetAppHA reports whether the local target in dir was made with --app-ha (two
// frontend hosts), so that a restart brings its ALB stand-in back too.
func TargetAppHA(dir string) bool {
	l, err := NewLayout(dir)
	if err != nil {
		return false
	}
	t, err := target.Load(l.TargetFile())
	return err == nil && len(inventory.ByRole(t.Hosts, envfile.RoleFrontend)) > 1
}

// EmptyRuntimeDirs removes every host's run directory (<dir>/hosts/<host>/run, MariaDB's
// included): what a tmpfs /run loses at a reboot (pid files, sockets, the supervisor's
// state, the services' runtime directories). Data, logs, configuration, secrets and key
// sets are elsewhere and stay. The daemons must be stopped first.
func (l Layout) EmptyRuntimeDirs() ([]string, error) {
	hosts, err := l.hostDirs()
	if err != nil {
		return nil, err
	}
	var emptied []string
	for _, h := range hosts {
		run := l.Paths(h).Run
		if _, err := os.Stat(run); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.RemoveAll(run); err != nil {
			return emptied, fmt.Errorf("empty %s: %w", run, err)
		}
		emptied = append(emptied, run)
	}
	return emptied, nil
}

// Restart is what a reboot of the machine does to the local target, and what comes after
// it: every daemon stops (as Down: dependents first, the database last), every runtime
// directory is emptied (as a tmpfs /run is), then the agents bring the stack back (as Up
// on an existing directory, with o's shape: use TargetShape). Nothing is emptied when a
// daemon does not stop.
func Restart(ctx context.Context, o Options) (*UpResult, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	l, err := NewLayout(o.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(l.TargetFile()); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (no %s): run `cso local up` first", ErrNoTarget, l.Dir, l.TargetFile())
	}
	dctx, cancel := context.WithTimeout(ctx, RestartStopTimeout)
	err = Down(dctx, l.Dir, false, o.Out)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("stop the local target (nothing was emptied): %w", err)
	}
	emptied, err := l.EmptyRuntimeDirs()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "emptied %d runtime directories (what a reboot's tmpfs /run loses); data, logs, secrets and key sets kept\n", len(emptied))
	return Up(ctx, o)
}
