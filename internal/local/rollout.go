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
	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// Rollout is how a rolling release acts on the hosts of the local target
// (release.Driver): the ALB stand-in drains a frontend, the host's own role converges
// it (as its agent would: it reads the release record from the bucket directory), and
// the check engine runs that host's probes.
type Rollout struct {
	L        Layout
	Env      *envfile.Env
	Hosts    []inventory.Host
	PortBase int
	// ALB is the stand-in, nil when the target has none (then nothing is drained).
	ALB *ALB
	// Roles by name (default DefaultRoles()).
	Roles      map[envfile.Role]func() agent.Role
	Executable string
	Out        io.Writer
}

// OpenRollout describes the local target in dir (what `cso local up` wrote) for a rollout.
func OpenRollout(dir string, env *envfile.Env, out io.Writer) (*Rollout, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	envName, _, portBase, err := TargetShape(dir)
	if err != nil {
		return nil, err
	}
	if env.Name != envName {
		return nil, fmt.Errorf("the local target in %s runs environment %s, not %s", l.Dir, envName, env.Name)
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return nil, err
	}
	r := &Rollout{L: l, Env: env, Hosts: t.Hosts, PortBase: portBase, Out: out}
	r.Executable, _ = os.Executable()
	if _, err := os.Stat(ALB{L: l}.conf()); err == nil {
		r.ALB = &ALB{L: l, Hosts: t.Hosts, PortBase: portBase}
	}
	return r, nil
}

func (r *Rollout) out() io.Writer {
	if r.Out == nil {
		return io.Discard
	}
	return r.Out
}

// Drain implements release.Driver: a frontend leaves the ALB stand-in.
func (r *Rollout) Drain(ctx context.Context, h inventory.Host) error {
	if r.ALB == nil || h.Role != envfile.RoleFrontend {
		return nil
	}
	return r.ALB.Drain(ctx, h.Name)
}

// Restore implements release.Driver.
func (r *Rollout) Restore(ctx context.Context, h inventory.Host) error {
	if r.ALB == nil || h.Role != envfile.RoleFrontend {
		return nil
	}
	return r.ALB.Restore(ctx, h.Name)
}

// Converge implements release.Driver: the host's role runs (publishing its status
// document), then the host must run want (its checksum; an empty want: whatever the env
// file configures).
func (r *Rollout) Converge(ctx context.Context, h inventory.Host, want apppkg.PackageRef) error {
	o := Options{Dir: r.L.Dir, Env: r.Env, PortBase: r.PortBase, Roles: r.Roles, Executable: r.Executable, Out: r.out()}
	if o.Roles == nil {
		o.Roles = DefaultRoles()
	}
	hr := convergeHost(ctx, o, r.L, r.Hosts, h, r.L.Secrets(), &syncWriter{w: r.out()})
	if hr.Error != "" {
		return errors.New(hr.Error)
	}
	if want.SHA256 == "" {
		return nil
	}
	doc, err := r.L.Store().Get(ctx, h.Name)
	if err != nil {
		return err
	}
	if got := doc.Facts[apppkg.FactAppSHA256]; got != want.SHA256 {
		return fmt.Errorf("%s runs package %q after its run, not %s", h.Name, got, want)
	}
	return nil
}

// CheckTimeoutRollout bounds each probe of a host's checks during a rollout.
const CheckTimeoutRollout = 10 * time.Second

// Check implements release.Driver: every probe of the check engine about host h.
func (r *Rollout) Check(ctx context.Context, h inventory.Host) error {
	t := r.L.Target(Options{Dir: r.L.Dir, Env: r.Env, PortBase: r.PortBase}, r.Hosts)
	var mine []check.Probe
	for _, p := range check.New(t, check.Options{Timeout: CheckTimeoutRollout}).Probes() {
		if p.Host == h.Name {
			mine = append(mine, p)
		}
	}
	if len(mine) == 0 {
		return fmt.Errorf("the check engine has no probe for %s", h.Name)
	}
	rep := check.Run(ctx, mine, CheckTimeoutRollout)
	var bad []string
	for _, res := range rep.Sorted() {
		if res.Status == check.Fail {
			bad = append(bad, fmt.Sprintf("%s %s: %s", res.Check, res.Target, res.Detail))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d checks fail: %s", len(bad), len(mine), strings.Join(bad, "; "))
	}
	return nil
}

// StatusStore is where the hosts of the local target publish their status documents.
func (r *Rollout) StatusStore() status.Store { return r.L.Store() }
