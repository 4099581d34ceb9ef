package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/target"
)

// hostDirs lists the host trees of the local target in dir.
func (l Layout) hostDirs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(l.Dir, "hosts"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// hostRoles reads the role of each host from target.json (hosts it does not name stop first).
func (l Layout) hostRoles() map[string]envfile.Role {
	roles := map[string]envfile.Role{MySQLHost: RoleDatabase}
	if t, err := target.Load(l.TargetFile()); err == nil {
		for _, h := range t.Hosts {
			roles[h.Name] = h.Role
		}
	}
	return roles
}

// Down stops every service the local target's supervisor started (pid files under each
// host's run directory), the dependents first and the database last. With purge it then
// removes the directory, but only one that `up` created (its marker, MarkerName): any other
// directory is refused before anything is stopped or removed (ErrNotLocalTarget).
func Down(ctx context.Context, dir string, purge bool, out io.Writer) error {
	l, err := NewLayout(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(l.Dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "nothing to stop: %s does not exist\n", l.Dir)
		return nil
	}
	if purge {
		if err := l.checkMarker(); err != nil {
			return err
		}
	}
	// The crash watcher first: the daemons it watches are about to stop on purpose.
	if stopped, err := l.StopWatcher(ctx); err != nil {
		return fmt.Errorf("stop the crash watcher: %w", err)
	} else if stopped {
		fmt.Fprintf(out, "stopped the crash watcher\n")
	}
	hosts, err := l.hostDirs()
	if err != nil {
		return err
	}
	roles := l.hostRoles()
	stageOf := func(h string) int {
		r, ok := roles[h]
		if !ok {
			return len(Stages)
		}
		for i, s := range Stages {
			if contains(s, r) {
				return i
			}
		}
		return len(Stages)
	}
	var errs []error
	var mu sync.Mutex
	// Reverse stage order; inside the first stage the jump host stops before the database.
	for stage := len(Stages); stage >= 0; stage-- {
		var names []string
		for _, h := range hosts {
			if stageOf(h) == stage && h != MySQLHost {
				names = append(names, h)
			}
		}
		if stage == 0 {
			stopHosts(ctx, l, names, out, &mu, &errs)
			names = nil
			if containsStr(hosts, MySQLHost) {
				names = []string{MySQLHost}
			}
		}
		stopHosts(ctx, l, names, out, &mu, &errs)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if purge {
		return l.purge(out)
	} else {
		fmt.Fprintf(out, "stopped; data kept in %s (`cso local down --purge` removes it)\n", l.Dir)
	}
	return nil
}

func stopHosts(ctx context.Context, l Layout, hosts []string, out io.Writer, mu *sync.Mutex, errs *[]error) {
	var wg sync.WaitGroup
	for _, h := range hosts {
		sup := agent.Supervisor{RunDir: l.Paths(h).Run, LogDir: l.Paths(h).Log}
		names, err := sup.Services()
		if err != nil {
			mu.Lock()
			*errs = append(*errs, err)
			mu.Unlock()
			continue
		}
		for _, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				running, _, _ := sup.Running(n)
				err := sup.Stop(ctx, n)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					*errs = append(*errs, fmt.Errorf("%s: stop %s: %w", h, n, err))
				} else if running {
					fmt.Fprintf(out, "stopped %s/%s\n", h, n)
				}
			}()
		}
	}
	wg.Wait()
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// purge removes the local target's directory. Backups in it (BackupsDir) are kept, with
// the marker: `down --purge` then `cso restore` is how a stack is rebuilt from one.
func (l Layout) purge(out io.Writer) error {
	if entries, _ := os.ReadDir(l.BackupsDir()); len(entries) == 0 {
		if err := os.RemoveAll(l.Dir); err != nil {
			return fmt.Errorf("purge %s: %w", l.Dir, err)
		}
		fmt.Fprintf(out, "removed %s\n", l.Dir)
		return nil
	}
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		return fmt.Errorf("purge %s: %w", l.Dir, err)
	}
	for _, e := range entries {
		if e.Name() == filepath.Base(l.BackupsDir()) || e.Name() == MarkerName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(l.Dir, e.Name())); err != nil {
			return fmt.Errorf("purge %s: %w", l.Dir, err)
		}
	}
	fmt.Fprintf(out, "removed the local target in %s; kept its backups in %s (remove them by hand: rm -rf %s)\n", l.Dir, l.BackupsDir(), shellQuote(l.BackupsDir()))
	return nil
}
