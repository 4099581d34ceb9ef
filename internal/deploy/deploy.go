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

func (d *Deployer) run(ctx context.Context, op, host string) error {
	phases := d.statusPhases(op)
	publishing := d.Objects != nil && op != OpDestroy
	// later are the phases after Terraform, skipped when it does not complete.
	var later []string
	if publishing {
		later = append(later, PublishPhase)
	}
	for _, p := range phases {
		later = append(later, p.Name)
	}
	skipRest := func(from int, why string) {
		for _, name := range later[from:] {
			d.phase(name, Skipped, why, 0)
		}
	}
	infraStart := time.Now()
	interrupted := func(phase string) error {
		return &InterruptedError{Phase: phase, Command: d.Command}
	}
	// fail ends the run in the infrastructure phase (interrupted when Ctrl-C caused err).
	fail := func(err error) error {
		state := Failed
		if isInterrupt(ctx, err) {
			state, err = Interrupted, interrupted(Infrastructure)
		}
		d.phase(Infrastructure, state, err.Error(), time.Since(infraStart))
		skipRest(0, "infrastructure "+state)
		return err
	}

	dir, err := os.MkdirTemp("", "cso-plan-") // 0700: a plan file may hold secrets
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d.announceInit()
	if err := d.TF.Init(ctx); err != nil {
		return fail(err)
	}
	req := PlanRequest{Destroy: op == OpDestroy, Out: filepath.Join(dir, "plan.tfplan")}
	hosts := d.Hosts
	if op == OpReplace {
		if _, ok := inventory.Find(d.Hosts, host); !ok {
			return fail(fmt.Errorf("%s is not a host of %s; hosts: %s", host, d.Env.Name, hostNames(d.Hosts)))
		}
		addr, err := d.TF.InstanceAddress(ctx, host)
		if err != nil {
			return fail(err)
		}
		req.Replace = []string{addr}
		h, _ := inventory.Find(d.Hosts, host)
		hosts = []inventory.Host{h}
	}
	var planned *Planned
	if d.PlanFile != "" && op == OpDeploy {
		fmt.Fprintf(d.Out, "reading the saved plan %s ...\n", d.PlanFile)
		planned, err = d.TF.SavedPlan(ctx, d.PlanFile)
	} else {
		planned, err = d.plan(ctx, req)
	}
	if err != nil {
		return fail(err)
	}
	d.report.Plan = planned.Summary
	WriteChanges(d.Out, planned.Summary)

	if planned.Summary.Empty() {
		d.phase(Infrastructure, NoChanges, "", time.Since(infraStart))
	} else {
		if d.Confirm != nil {
			ok, err := d.Confirm(op, planned.Summary)
			if err != nil {
				return fail(err)
			}
			if !ok {
				d.phase(Infrastructure, Declined, "", time.Since(infraStart))
				skipRest(0, "not confirmed")
				return ErrDeclined
			}
		}
		// A host whose instance is (re)created publishes a new document; an old one
		// must not make the wait below succeed before the new agent has run.
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
				d.phase(Infrastructure, Interrupted, detail, time.Since(infraStart))
				skipRest(0, "interrupted")
				return interrupted(Infrastructure)
			}
			d.phase(Infrastructure, Failed, detail, time.Since(infraStart))
			skipRest(0, "infrastructure failed")
			return err
		}
		d.phase(Infrastructure, Done, detail, time.Since(infraStart))
	}

	if publishing {
		start := time.Now()
		detail, err := d.publish(ctx)
		if err != nil {
			state := Failed
			if isInterrupt(ctx, err) {
				state, err = Interrupted, interrupted(PublishPhase)
			}
			d.phase(PublishPhase, state, err.Error(), time.Since(start))
			skipRest(1, PublishPhase+" "+state)
			return err
		}
		d.phase(PublishPhase, Done, detail, time.Since(start))
	}
	if d.Store == nil {
		skipRest(len(later)-len(phases), "no status store")
		return nil
	}
	return d.waitPhases(ctx, phases, hosts)
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
