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
	p, err := prepareRestore(ctx, &o)
	if err != nil {
		return nil, err
	}
	up, l, m := p.up, p.l, p.m
	res := &RestoreResult{Manifest: m, CreatedStack: !p.exists}
	first, err := bringUpForRestore(ctx, up, l, m, p.exists)
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
	if err := restoreKeystone(ctx, p, hosts, ks); err != nil {
		return nil, err
	}
	if res.RabbitMQObjects, err = restoreRabbitMQ(ctx, l, hosts, p.files[backup.ArtRabbitMQ]); err != nil {
		return nil, err
	}
	fmt.Fprintf(up.Out, "restore %s: declared %d RabbitMQ objects; converging every host\n", m.ID, res.RabbitMQObjects)
	if res.Up, err = Up(ctx, up); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	res.DurationMS = res.Duration.Milliseconds()
	if err := unhealthy(res.Up); err != nil {
		return res, fmt.Errorf("restored, but the local target is not healthy: %w", err)
	}
	fmt.Fprintf(up.Out, "restored %s (taken %s) into %s in %s\n", m.ID, m.Created.Format(time.RFC3339), l.Dir, res.Duration.Round(time.Second))
	return res, nil
}

// restorePlan is a verified backup and the stack it goes into, before anything changed.
type restorePlan struct {
	up     Options
	l      Layout
	exists bool // the directory holds a stack
	m      *backup.Manifest
	files  map[string][]byte
	sets   backup.KeySets
}

// prepareRestore takes the stack's shape from the target in the directory (or from the
// backup when there is none), verifies the backup and refuses, with nothing changed, a
// foreign or incomplete backup or a stack that exists without o.Force.
func prepareRestore(ctx context.Context, o *RestoreOptions) (*restorePlan, error) {
	p := &restorePlan{up: o.Up}
	if p.up.Out == nil {
		p.up.Out = io.Discard
	}
	if p.up.Env == nil {
		return nil, errors.New("restore: no environment")
	}
	l, err := NewLayout(p.up.Dir)
	if err != nil {
		return nil, err
	}
	p.l, p.up.Dir = l, l.Dir
	if o.Store == nil {
		o.Store = backup.Dir{Path: l.BackupsDir()}
	}
	_, statErr := os.Stat(l.TargetFile())
	p.exists = statErr == nil
	envName := p.up.Env.Name
	if p.exists {
		name, ha, pb, err := TargetShape(l.Dir)
		if err != nil {
			return nil, err
		}
		envName, p.up.HA, p.up.PortBase = name, ha, pb
		if p.up.Env.Name != envName {
			return nil, fmt.Errorf("%w: the local target in %s is environment %q, not %q: nothing was changed", ErrRestoreRefused, l.Dir, envName, p.up.Env.Name)
		}
	}
	if p.m, p.files, p.sets, err = verifyLocalBackup(ctx, *o, envName); err != nil {
		return nil, err
	}
	if p.exists && !o.Force {
		running, _ := Running(l.Dir)
		state := "stopped"
		if len(running) > 0 {
			state = fmt.Sprintf("running: %d services", len(running))
		}
		return nil, fmt.Errorf("%w: %s holds a local target (%s) whose database, Keystone key sets and RabbitMQ definitions the restore would replace: give --force to do so (nothing was changed)", ErrRestoreRefused, l.Dir, state)
	}
	if !p.exists && p.m.Shape != nil {
		p.up.HA, p.up.PortBase = p.m.Shape.HA, p.m.Shape.PortBase
	}
	return p, nil
}

// verifyLocalBackup verifies backup o.ID of environment envName (sizes and SHA-256), its
// key sets, and that it holds a local target's database dump and RabbitMQ definitions.
func verifyLocalBackup(ctx context.Context, o RestoreOptions, envName string) (*backup.Manifest, map[string][]byte, backup.KeySets, error) {
	m, files, err := backup.Verify(ctx, o.Store, o.ID, envName)
	if err != nil {
		return nil, nil, nil, err
	}
	sets, err := backup.ParseKeySets(files[backup.ArtKeystoneKeys])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: backup %s: %v", backup.ErrInvalid, o.ID, err)
	}
	for _, name := range []string{backup.ArtDatabase, backup.ArtRabbitMQ} {
		if _, ok := files[name]; !ok {
			return nil, nil, nil, fmt.Errorf("%w: backup %s has no %s (not a backup of a local target?)", backup.ErrInvalid, o.ID, name)
		}
	}
	return m, files, sets, nil
}

// bringUpForRestore brings up the stack (a new one of the backup's shape when the
// directory holds none), as `local up`.
func bringUpForRestore(ctx context.Context, up Options, l Layout, m *backup.Manifest, exists bool) (*UpResult, error) {
	if !exists {
		fmt.Fprintf(up.Out, "restore %s: no local target in %s: bringing one up (ha=%v, port base %s)\n", m.ID, l.Dir, up.HA, portBaseOf(m.Shape))
	} else {
		fmt.Fprintf(up.Out, "restore %s: making sure the local target in %s is up\n", m.ID, l.Dir)
	}
	return Up(ctx, up)
}

// restoreKeystone stops the Keystone nodes' daemons, publishes the backup's key sets to
// the shared store, loads the database dump and bootstraps Keystone again with this
// stack's admin password and endpoints.
func restoreKeystone(ctx context.Context, p *restorePlan, hosts, ks []inventory.Host) error {
	l, up, m := p.l, p.up, p.m
	fmt.Fprintf(up.Out, "restore %s: stopping the Keystone nodes\n", m.ID)
	if err := stopServices(ctx, l, ks); err != nil {
		return err
	}
	fmt.Fprintf(up.Out, "restore %s: Keystone key sets to %s\n", m.ID, l.KeystoneKeys())
	if err := backup.WriteKeySets(l.KeystoneKeys(), p.sets); err != nil {
		return err
	}
	fmt.Fprintf(up.Out, "restore %s: loading %s (%d bytes)\n", m.ID, backup.ArtDatabase, len(p.files[backup.ArtDatabase]))
	if err := loadDump(ctx, l, up.PortBase, p.files[backup.ArtDatabase]); err != nil {
		return err
	}
	fmt.Fprintf(up.Out, "restore %s: keystone-manage bootstrap (this stack's admin password and endpoints)\n", m.ID)
	rt := l.Runtime(up.Env, hosts, ks[0], up.PortBase, up.Out, false)
	if err := keystone.Rebootstrap(ctx, rt); err != nil {
		return fmt.Errorf("keystone bootstrap after the database restore: %w", err)
	}
	return nil
}

// stopServices stops every supervised service of hosts.
func stopServices(ctx context.Context, l Layout, hosts []inventory.Host) error {
	for _, h := range hosts {
		sup := agent.Supervisor{RunDir: l.Paths(h.Name).Run, LogDir: l.Paths(h.Name).Log}
		names, err := sup.Services()
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := sup.Stop(ctx, n); err != nil {
				return fmt.Errorf("%s: stop %s: %w", h.Name, n, err)
			}
		}
	}
	return nil
}

// restoreRabbitMQ declares the backup's RabbitMQ definitions on the stack's cluster and
// says how many objects it declared.
func restoreRabbitMQ(ctx context.Context, l Layout, hosts []inventory.Host, defs []byte) (int, error) {
	ca, err := os.ReadFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	if err != nil {
		return 0, err
	}
	c, _, err := rabbitAPI(ctx, l, hosts, ca)
	if err != nil {
		return 0, err
	}
	n, err := backup.ImportRabbitMQ(ctx, c, defs)
	if err != nil {
		return n, fmt.Errorf("RabbitMQ definitions: %w", err)
	}
	return n, nil
}

// unhealthy names the hosts that failed to converge (nil when none did).
func unhealthy(r *UpResult) error {
	if !r.Failed() {
		return nil
	}
	var bad []string
	for _, h := range r.Hosts {
		if h.Error != "" {
			bad = append(bad, h.Host+": "+h.Error)
		}
	}
	return errors.New(strings.Join(bad, "; "))
}

// LoadTarget is target.Load of the local target in dir.
func LoadTarget(dir string) (*target.Target, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	return target.Load(l.TargetFile())
}
