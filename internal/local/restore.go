package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/backup"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/target"
)

// ErrRestoreRefused is wrapped by the error of a restore that would replace a stack's data
// without --force: nothing was changed.
var ErrRestoreRefused = backup.ErrRefused

// RestoreOptions shape one restore into the local target.
type RestoreOptions struct {
	// Up describes the stack (its Dir, Env, Out, Log, Executable, Roles); HA and PortBase
	// are taken from the target in Dir, or from the backup when Dir holds no stack.
	Up    Options
	Store backup.Store
	ID    string
	// Force restores into a stack that exists (running or not), replacing its data.
	Force bool
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Manifest *backup.Manifest `json:"manifest"`
	// CreatedStack: the directory held no stack, the restore brought one up first.
	CreatedStack bool `json:"created_stack"`
	// RabbitMQObjects is the number of queues, exchanges, bindings and policies declared.
	RabbitMQObjects int           `json:"rabbitmq_objects"`
	Up              *UpResult     `json:"up"`
	Duration        time.Duration `json:"-"`
	DurationMS      int64         `json:"duration_ms"`
}

// Restore puts backup o.ID back into the local target in o.Up.Dir, as one command:
//
//  1. verify the backup (environment name, every artefact's size and SHA-256) and its key
//     sets before anything is touched: a tampered or foreign backup changes nothing;
//  2. refuse a stack that exists unless o.Force (ErrRestoreRefused);
//  3. bring up a stack of the backup's shape when the directory holds none (as `local up`);
//  4. stop the Keystone nodes' daemons, publish the key sets to the shared store, load the
//     database dump, and bootstrap Keystone again (this stack's admin password and
//     endpoints: secrets are this stack's, never the backup's);
//  5. declare the RabbitMQ definitions;
//  6. converge every host again (as `local up`): the Keystone nodes install the restored
//     key sets from the shared store and start, the jump server resets its automation
//     account to this stack's secret, and the closing checks run.
//
// The stack's own CA stays: its host certificates were issued by it. The backup's CA
// certificate is for the lost-CA runbook (docs/runbooks/restore.md).
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	up := o.Up
	if up.Out == nil {
		up.Out = io.Discard
	}
	if up.Env == nil {
		return nil, errors.New("restore: no environment")
	}
	l, err := NewLayout(up.Dir)
	if err != nil {
		return nil, err
	}
	up.Dir = l.Dir
	if o.Store == nil {
		o.Store = backup.Dir{Path: l.BackupsDir()}
	}
	_, statErr := os.Stat(l.TargetFile())
	exists := statErr == nil
	envName := up.Env.Name
	if exists {
		name, ha, pb, err := TargetShape(l.Dir)
		if err != nil {
			return nil, err
		}
		envName, up.HA, up.PortBase = name, ha, pb
		if up.Env.Name != envName {
			return nil, fmt.Errorf("%w: the local target in %s is environment %q, not %q: nothing was changed", ErrRestoreRefused, l.Dir, envName, up.Env.Name)
		}
	}
	m, files, err := backup.Verify(ctx, o.Store, o.ID, envName)
	if err != nil {
		return nil, err
	}
	sets, err := backup.ParseKeySets(files[backup.ArtKeystoneKeys])
	if err != nil {
		return nil, fmt.Errorf("%w: backup %s: %v", backup.ErrInvalid, o.ID, err)
	}
	for _, name := range []string{backup.ArtDatabase, backup.ArtRabbitMQ} {
		if _, ok := files[name]; !ok {
			return nil, fmt.Errorf("%w: backup %s has no %s (not a backup of a local target?)", backup.ErrInvalid, o.ID, name)
		}
	}
	if exists && !o.Force {
		running, _ := Running(l.Dir)
		state := "stopped"
		if len(running) > 0 {
			state = fmt.Sprintf("running: %d services", len(running))
		}
		return nil, fmt.Errorf("%w: %s holds a local target (%s) whose database, Keystone key sets and RabbitMQ definitions the restore would replace: give --force to do so (nothing was changed)", ErrRestoreRefused, l.Dir, state)
	}
	res := &RestoreResult{Manifest: m}
	if !exists {
		if m.Shape != nil {
			up.HA, up.PortBase = m.Shape.HA, m.Shape.PortBase
		}
		fmt.Fprintf(up.Out, "restore %s: no local target in %s: bringing one up (ha=%v, port base %s)\n", m.ID, l.Dir, up.HA, portBaseOf(m.Shape))
		res.CreatedStack = true
	} else {
		fmt.Fprintf(up.Out, "restore %s: making sure the local target in %s is up\n", m.ID, l.Dir)
	}
	first, err := Up(ctx, up)
	if err != nil {
		return nil, err
	}
	if first.Failed() && anyFailed(first.Hosts) {
		res.Up = first
		return res, fmt.Errorf("the local target did not come up: nothing was restored")
	}
	hosts := up.Hosts()
	ks := inventory.ByRole(hosts, envfile.RoleKeystone)
	if len(ks) == 0 {
		return nil, errors.New("the local target has no Keystone node")
	}
	fmt.Fprintf(up.Out, "restore %s: stopping the Keystone nodes\n", m.ID)
	for _, h := range ks {
		sup := agent.Supervisor{RunDir: l.Paths(h.Name).Run, LogDir: l.Paths(h.Name).Log}
		names, err := sup.Services()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if err := sup.Stop(ctx, n); err != nil {
				return nil, fmt.Errorf("%s: stop %s: %w", h.Name, n, err)
			}
		}
	}
	fmt.Fprintf(up.Out, "restore %s: Keystone key sets to %s\n", m.ID, l.KeystoneKeys())
	if err := backup.WriteKeySets(l.KeystoneKeys(), sets); err != nil {
		return nil, err
	}
	fmt.Fprintf(up.Out, "restore %s: loading %s (%d bytes)\n", m.ID, backup.ArtDatabase, len(files[backup.ArtDatabase]))
	if err := loadDump(ctx, l, up.PortBase, files[backup.ArtDatabase]); err != nil {
		return nil, err
	}
	fmt.Fprintf(up.Out, "restore %s: keystone-manage bootstrap (this stack's admin password and endpoints)\n", m.ID)
	rt := l.Runtime(up.Env, hosts, ks[0], up.PortBase, up.Out, false)
	if err := keystone.Rebootstrap(ctx, rt); err != nil {
		return nil, fmt.Errorf("keystone bootstrap after the database restore: %w", err)
	}
	ca, err := os.ReadFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	if err != nil {
		return nil, err
	}
	rh, err := rabbitNode(hosts)
	if err != nil {
		return nil, err
	}
	pw, err := l.Secrets().Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return nil, err
	}
	c, err := backup.RabbitClient(rh, ca, pw)
	if err != nil {
		return nil, err
	}
	if res.RabbitMQObjects, err = backup.ImportRabbitMQ(ctx, c, files[backup.ArtRabbitMQ]); err != nil {
		return nil, fmt.Errorf("RabbitMQ definitions: %w", err)
	}
	fmt.Fprintf(up.Out, "restore %s: declared %d RabbitMQ objects; converging every host\n", m.ID, res.RabbitMQObjects)
	res.Up, err = Up(ctx, up)
	if err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	res.DurationMS = res.Duration.Milliseconds()
	if res.Up.Failed() {
		var bad []string
		for _, h := range res.Up.Hosts {
			if h.Error != "" {
				bad = append(bad, h.Host+": "+h.Error)
			}
		}
		return res, fmt.Errorf("restored, but the local target is not healthy: %s", strings.Join(bad, "; "))
	}
	fmt.Fprintf(up.Out, "restored %s (taken %s) into %s in %s\n", m.ID, m.Created.Format(time.RFC3339), l.Dir, res.Duration.Round(time.Second))
	return res, nil
}

// LoadTarget is target.Load of the local target in dir.
func LoadTarget(dir string) (*target.Target, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	return target.Load(l.TargetFile())
}
