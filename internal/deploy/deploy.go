package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/jsondur"
	"github.com/cso-ssp/platform/internal/status"
)

// Operations.
const (
	OpDeploy  = "deploy"
	OpDestroy = "destroy"
	OpReplace = "replace"
)

// Results of a run and states of a phase.
const (
	Done        = "done"
	Failed      = "failed"
	Declined    = "declined"
	Interrupted = "interrupted"
	Skipped     = "skipped"
	NoChanges   = "no changes"
)

// ErrDeclined is returned when the operator did not confirm.
var ErrDeclined = errors.New("not confirmed: nothing was changed")

// InterruptedError is returned after Ctrl-C: Terraform was asked to stop (SIGINT) and was
// given time to write its state and release its lock.
type InterruptedError struct{ Phase, Command string }

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted during %s: Terraform was stopped cleanly and its state saved; run `%s` again to resume", e.Phase, e.Command)
}

// PhaseResult is one line of the summary.
type PhaseResult struct {
	Name     string        `json:"name"`
	State    string        `json:"state"`
	Duration time.Duration `json:"-"`
	MS       float64       `json:"duration_ms"` // jsondur: milliseconds
	Detail   string        `json:"detail,omitempty"`
}

// Report is what a deploy, destroy or replace did.
type Report struct {
	Env       string        `json:"env"`
	Operation string        `json:"operation"`
	Host      string        `json:"host,omitempty"`
	Plan      Summary       `json:"plan"`
	Phases    []PhaseResult `json:"phases"`
	Result    string        `json:"result"`
	Error     string        `json:"error,omitempty"`
	MS        float64       `json:"duration_ms"` // jsondur: milliseconds
}

// Confirm is asked before changes are applied; it returns false to stop.
type Confirm func(op string, s Summary) (bool, error)

// Deployer runs the deployment sequence of one environment.
type Deployer struct {
	Env   *envfile.Env
	TF    *Terraform
	Store status.Store // nil: no status phases (nothing to wait on)
	Hosts []inventory.Host
	Out   io.Writer // progress (stderr)
	TTY   bool
	// Confirm is nil with --auto-approve.
	Confirm Confirm
	// PhaseTimeout overrides every phase's default bound when > 0.
	PhaseTimeout time.Duration
	PollInterval time.Duration
	// Command is how the operator reruns this (for messages), e.g. "cso deploy --env dev-ha".
	Command string
	// OnApplyStart is called as each resource operation starts (tests interrupt there).
	OnApplyStart func(addr, action string)
	// Objects is the environment's files bucket: after Terraform, the agent binary
	// (AgentBinary), the env file and the target description built from the outputs are
	// published there for the hosts' user data and agents. nil: nothing is published.
	Objects     ObjectStore
	AgentBinary string
	// PlanFile: apply this saved plan (cso plan --out) instead of planning; deploy only.
	PlanFile string

	report *Report
}

// Plan initialises Terraform and plans. out "" : the plan file is removed afterwards;
// otherwise the plan is kept there (mode 0600) for `cso deploy --plan`.
func (d *Deployer) Plan(ctx context.Context, destroy bool, out string) (*Planned, error) {
	if out == "" {
		dir, err := os.MkdirTemp("", "cso-plan-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		out = filepath.Join(dir, "plan.tfplan")
	} else {
		var err error
		if out, err = CreatePlanFile(out); err != nil {
			return nil, err
		}
	}
	d.announceInit()
	if err := d.TF.Init(ctx); err != nil {
		return nil, err
	}
	p, err := d.plan(ctx, PlanRequest{Destroy: destroy, Out: out})
	if err == nil {
		err = os.Chmod(out, 0o600)
	}
	return p, err
}

func (d *Deployer) plan(ctx context.Context, req PlanRequest) (*Planned, error) {
	view := NewPlanView(d.Out, d.TTY)
	req.Progress = view
	fmt.Fprintf(d.Out, "planning %s ...\n", d.Env.Name)
	p, err := d.TF.Plan(ctx, req)
	view.Finish()
	if err != nil && len(view.Errors()) > 0 {
		return nil, fmt.Errorf("terraform plan failed: %s", joinDiags(view.Errors()))
	}
	return p, err
}

func (d *Deployer) announceInit() {
	fmt.Fprintf(d.Out, "terraform init in %s (%s state backend), workspace %s ...\n", d.TF.Dir, d.Env.StateBackend(), d.Env.Name)
}

// Run performs op (deploy, destroy, or replace of host) and returns its report; the error
// is one of ErrDeclined, *InterruptedError, *HostFailedError, *TimeoutError or a Terraform
// failure.
func (d *Deployer) Run(ctx context.Context, op, host string) (*Report, error) {
	start := time.Now()
	d.report = &Report{Env: d.Env.Name, Operation: op, Host: host}
	err := d.run(ctx, op, host)
	r := d.report
	r.MS = jsondur.Millis(time.Since(start))
	var ie *InterruptedError
	switch {
	case err == nil:
		r.Result = Done
	case errors.Is(err, ErrDeclined):
		r.Result = Declined
	case errors.As(err, &ie):
		r.Result = Interrupted
	default:
		r.Result = Failed
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r, err
}

func (d *Deployer) phase(name, state, detail string, dur time.Duration) {
	d.report.Phases = append(d.report.Phases, PhaseResult{Name: name, State: state, Detail: detail, Duration: dur, MS: jsondur.Millis(dur)})
}

// statusPhases returns the phases that follow Terraform for op.
func (d *Deployer) statusPhases(op string) []Phase {
	if op == OpDestroy {
		return nil
	}
	return StatusPhases
}

// later are the phases that follow Terraform in one run, reported as skipped when it
// does not get to them.
type later struct {
	d     *Deployer
	names []string
}

// skip reports the phases from index from on as skipped, for reason why.
func (l later) skip(from int, why string) {
	for _, name := range l.names[from:] {
		l.d.phase(name, Skipped, why, 0)
	}
}

func (d *Deployer) run(ctx context.Context, op, host string) error {
	phases := d.statusPhases(op)
	publishing := d.Objects != nil && op != OpDestroy
	rest := later{d: d}
	if publishing {
		rest.names = append(rest.names, PublishPhase)
	}
	for _, p := range phases {
		rest.names = append(rest.names, p.Name)
	}
	hosts, err := d.infrastructure(ctx, op, host, rest)
	if err != nil {
		return err
	}
	if publishing {
		if err := d.publishPhase(ctx, rest); err != nil {
			return err
		}
	}
	if d.Store == nil {
		rest.skip(len(rest.names)-len(phases), "no status store")
		return nil
	}
	return d.waitPhases(ctx, phases, hosts)
}

// infrastructure is phase 1: terraform init, plan (or the saved plan), confirmation and
// apply. It returns the hosts the following phases wait for: every host, or the one
// being replaced.
func (d *Deployer) infrastructure(ctx context.Context, op, host string, rest later) ([]inventory.Host, error) {
	start := time.Now()
	// fail ends the run in this phase (interrupted when Ctrl-C caused err).
	fail := func(err error) ([]inventory.Host, error) {
		state := Failed
		if isInterrupt(ctx, err) {
			state, err = Interrupted, &InterruptedError{Phase: Infrastructure, Command: d.Command}
		}
		d.phase(Infrastructure, state, err.Error(), time.Since(start))
		rest.skip(0, "infrastructure "+state)
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cso-plan-") // 0700: a plan file may hold secrets
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	planned, hosts, err := d.planFor(ctx, op, host, filepath.Join(dir, "plan.tfplan"))
	if err != nil {
		return fail(err)
	}
	d.report.Plan = planned.Summary
	WriteChanges(d.Out, planned.Summary)
	if planned.Summary.Empty() {
		d.phase(Infrastructure, NoChanges, "", time.Since(start))
		return hosts, nil
	}
	if d.Confirm != nil {
		ok, err := d.Confirm(op, planned.Summary)
		if err != nil {
			return fail(err)
		}
		if !ok {
			d.phase(Infrastructure, Declined, "", time.Since(start))
			rest.skip(0, "not confirmed")
			return nil, ErrDeclined
		}
	}
	// A host whose instance is (re)created publishes a new document; an old one must not
	// make the waits succeed before the new agent has run.
	if d.Store != nil && op != OpDestroy {
		for _, name := range recreatedHosts(planned.Summary, d.Hosts) {
			if err := d.Store.Delete(ctx, name); err != nil {
				return fail(fmt.Errorf("clear the old status of %s: %w", name, err))
			}
		}
	}
	detail, err := d.apply(ctx, op, planned)
	if err != nil {
		if isInterrupt(ctx, err) {
			d.phase(Infrastructure, Interrupted, detail, time.Since(start))
			rest.skip(0, "interrupted")
			return nil, &InterruptedError{Phase: Infrastructure, Command: d.Command}
		}
		d.phase(Infrastructure, Failed, detail, time.Since(start))
		rest.skip(0, "infrastructure failed")
		return nil, err
	}
	d.phase(Infrastructure, Done, detail, time.Since(start))
	return hosts, nil
}

// planFor initialises Terraform and plans op (a replace targets host's instance), or
// reads the saved plan of a deploy --plan. It returns the plan and the hosts it concerns.
func (d *Deployer) planFor(ctx context.Context, op, host, out string) (*Planned, []inventory.Host, error) {
	d.announceInit()
	if err := d.TF.Init(ctx); err != nil {
		return nil, nil, err
	}
	req := PlanRequest{Destroy: op == OpDestroy, Out: out}
	hosts := d.Hosts
	if op == OpReplace {
		h, ok := inventory.Find(d.Hosts, host)
		if !ok {
			return nil, nil, fmt.Errorf("%s is not a host of %s; hosts: %s", host, d.Env.Name, hostNames(d.Hosts))
		}
		addr, err := d.TF.InstanceAddress(ctx, host)
		if err != nil {
			return nil, nil, err
		}
		req.Replace = []string{addr}
		hosts = []inventory.Host{h}
	}
	if d.PlanFile != "" && op == OpDeploy {
		fmt.Fprintf(d.Out, "reading the saved plan %s ...\n", d.PlanFile)
		planned, err := d.TF.SavedPlan(ctx, d.PlanFile)
		return planned, hosts, err
	}
	planned, err := d.plan(ctx, req)
	return planned, hosts, err
}

// publishPhase uploads the hosts' files after Terraform (skipping the waits when it fails).
func (d *Deployer) publishPhase(ctx context.Context, rest later) error {
	start := time.Now()
	detail, err := d.publish(ctx)
	if err != nil {
		state := Failed
		if isInterrupt(ctx, err) {
			state, err = Interrupted, &InterruptedError{Phase: PublishPhase, Command: d.Command}
		}
		d.phase(PublishPhase, state, err.Error(), time.Since(start))
		rest.skip(1, PublishPhase+" "+state)
		return err
	}
	d.phase(PublishPhase, Done, detail, time.Since(start))
	return nil
}

// PublishPhase uploads what the hosts need from the bucket (between LLD 8.2 steps 1 and 2).
const PublishPhase = "publish agent files"

// publish describes the environment from the Terraform outputs and uploads the agent
// binary, the env file and that description.
func (d *Deployer) publish(ctx context.Context) (string, error) {
	t, err := d.TF.outputsTarget(ctx)
	if err != nil {
		return "", err
	}
	arts, err := Artifacts(d.Env, d.AgentBinary, t)
	if err != nil {
		return "", err
	}
	return Publish(ctx, d.Objects, arts)
}

// apply applies the saved plan with the progress view; detail says how far it got.
func (d *Deployer) apply(ctx context.Context, op string, planned *Planned) (detail string, err error) {
	verb := "apply"
	if op == OpDestroy {
		verb = "destroy"
	}
	view := NewApplyView(d.Out, d.TTY, verb, planned.Summary)
	view.OnStart = d.OnApplyStart
	stop := make(chan struct{})
	if d.TTY { // redraw every second: the elapsed times move between messages
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					view.Tick()
				}
			}
		}()
	}
	err = d.TF.Apply(ctx, planned.File, view)
	close(stop)
	view.Finish()
	done, total := view.Done()
	detail = fmt.Sprintf("%d/%d resources: %s", done, total, planned.Summary.Counts)
	if err != nil && !isInterrupt(ctx, err) {
		if stale := stalePlan(d.PlanFile, view.Diagnostics, err); d.PlanFile != "" && stale != nil {
			return detail, stale
		}
		if errs := errorsOf(view.Diagnostics); len(errs) > 0 {
			err = fmt.Errorf("terraform %s failed: %s", verb, joinDiags(errs))
		}
	}
	return detail, err
}

// waitPhases runs the status phases in order over hosts.
func (d *Deployer) waitPhases(ctx context.Context, phases []Phase, hosts []inventory.Host) error {
	w := &Waiter{Store: d.Store, Env: d.Env.Name, Interval: d.PollInterval, Out: d.Out, TTY: d.TTY}
	for i, p := range phases {
		ph := HostsOf(hosts, p.Roles)
		if len(ph) == 0 {
			d.phase(p.Name, Skipped, "no hosts of this phase", 0)
			continue
		}
		timeout := p.Timeout
		if d.PhaseTimeout > 0 {
			timeout = d.PhaseTimeout
		}
		start := time.Now()
		err := w.Wait(ctx, p, ph, timeout)
		detail := fmt.Sprintf("%d hosts: %s", len(ph), hostNames(ph))
		if err == nil && p.Health {
			// Every host converged: now the environment's checks, run where they reach
			// the hosts (docs/decisions/check-admin.md "The deploy's health validation").
			detail, err = w.WaitCheck(ctx, p, time.Now(), start.Add(timeout))
			if err == nil {
				fmt.Fprintf(d.Out, "%s: %s\n", p.Name, detail)
			}
		}
		switch {
		case err == nil:
			d.phase(p.Name, Done, detail, time.Since(start))
			continue
		case isInterrupt(ctx, err):
			d.phase(p.Name, Interrupted, "", time.Since(start))
			err = &InterruptedError{Phase: p.Name, Command: d.Command}
		default:
			d.phase(p.Name, Failed, err.Error(), time.Since(start))
		}
		for _, rest := range phases[i+1:] {
			d.phase(rest.Name, Skipped, p.Name+" "+d.report.Phases[len(d.report.Phases)-1].State, 0)
		}
		return err
	}
	return nil
}

// recreatedHosts are the hosts whose instance the plan creates or replaces.
func recreatedHosts(s Summary, hosts []inventory.Host) []string {
	var out []string
	for _, c := range s.Changes {
		if c.Type != InstanceType || (c.Action != "create" && c.Action != "replace") {
			continue
		}
		for _, h := range hosts {
			if strings.HasSuffix(c.Address, fmt.Sprintf("[%q]", h.Name)) {
				out = append(out, h.Name)
			}
		}
	}
	return out
}

func hostNames(hs []inventory.Host) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}

func joinDiags(ds []Diagnostic) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, "; ")
}

// WriteReport prints the summary table of phases.
func WriteReport(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tSTATE\tDURATION\tDETAIL")
	for _, p := range r.Phases {
		dur := fmtDur(p.Duration)
		if p.State == Skipped {
			dur = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.State, dur, firstLine(p.Detail))
	}
	tw.Flush()
	fmt.Fprintf(w, "%s %s: %s in %s\n", r.Operation, r.Env, r.Result, fmtDur(jsondur.FromMillis(r.MS)))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
