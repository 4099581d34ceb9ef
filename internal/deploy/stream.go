package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cso-ssp/platform/internal/termout"
)

// message is one line of Terraform's machine-readable UI (terraform apply|plan -json),
// https://developer.hashicorp.com/terraform/internals/machine-readable-ui.
type message struct {
	Level   string `json:"@level"`
	Message string `json:"@message"`
	Type    string `json:"type"`
	Hook    struct {
		Resource struct {
			Addr         string `json:"addr"`
			ResourceType string `json:"resource_type"`
		} `json:"resource"`
		Action         string  `json:"action"`
		ElapsedSeconds float64 `json:"elapsed_seconds"`
	} `json:"hook"`
	Changes *struct {
		Add       int    `json:"add"`
		Change    int    `json:"change"`
		Remove    int    `json:"remove"`
		Operation string `json:"operation"`
	} `json:"changes"`
	Diagnostic *uiDiagnostic `json:"diagnostic"`
}

type uiDiagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	Address  string `json:"address"`
	Range    *struct {
		Filename string `json:"filename"`
		Start    struct {
			Line int `json:"line"`
		} `json:"start"`
	} `json:"range"`
}

func toDiagnostic(d *uiDiagnostic) Diagnostic {
	diag := Diagnostic{Severity: d.Severity, Summary: d.Summary, Detail: d.Detail, Address: d.Address}
	if d.Range != nil && d.Range.Filename != "" {
		diag.Where = fmt.Sprintf("%s:%d", d.Range.Filename, d.Range.Start.Line)
	}
	return diag
}

// Diagnostic is an error or warning Terraform reported.
type Diagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	Address  string `json:"address,omitempty"`
	Where    string `json:"where,omitempty"` // file:line in the stack
}

func (d Diagnostic) String() string {
	s := d.Summary
	if d.Address != "" {
		s = d.Address + ": " + s
	}
	if d.Where != "" {
		s += " (" + d.Where + ")"
	}
	if d.Detail != "" {
		s += ": " + strings.Join(strings.Fields(d.Detail), " ")
	}
	return s
}

// ApplyView turns the -json stream of an apply into a progress view: resources done of
// total, the resource in progress and the elapsed time. On a terminal it redraws one line;
// otherwise it writes a plain line per event. It is an io.Writer: give it to Terraform.
type ApplyView struct {
	mu       sync.Mutex
	out      io.Writer
	tty      bool
	verb     string // "apply" or "destroy"
	total    int    // resources the plan changes
	expected map[string]int
	seen     map[string]int
	done     int
	current  []string // addresses in progress, oldest first
	since    map[string]time.Time
	start    time.Time
	now      func() time.Time
	buf      []byte
	lastLen  int

	Diagnostics []Diagnostic
	Errored     []string // addresses whose operation failed
	Started     int      // apply_start messages seen
	// OnStart, when set, is called for every resource operation that starts (tests use it
	// to interrupt at a known point).
	OnStart func(addr, action string)
}

// NewApplyView returns a view for applying s.
func NewApplyView(out io.Writer, tty bool, verb string, s Summary) *ApplyView {
	v := &ApplyView{out: out, tty: tty, verb: verb, total: len(s.Changes), expected: map[string]int{},
		seen: map[string]int{}, since: map[string]time.Time{}, now: time.Now}
	for _, c := range s.Changes {
		v.expected[c.Address] = 1
		if c.Action == "replace" {
			v.expected[c.Address] = 2
		}
	}
	v.start = v.now()
	return v
}

// Write implements io.Writer: complete lines are parsed, a partial line waits.
func (v *ApplyView) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.buf = append(v.buf, p...)
	for {
		i := bytes.IndexByte(v.buf, '\n')
		if i < 0 {
			break
		}
		line := v.buf[:i]
		v.buf = v.buf[i+1:]
		v.handle(line)
	}
	return len(p), nil
}

// Tick redraws the terminal line (elapsed time moves on between messages).
func (v *ApplyView) Tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty {
		v.redraw()
	}
}

// Finish ends the view: the terminal line is completed.
func (v *ApplyView) Finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty && v.lastLen > 0 {
		v.redraw()
		fmt.Fprintln(v.out)
		v.lastLen = 0
	}
}

// Done returns resources completed and the total.
func (v *ApplyView) Done() (done, total int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.done, v.total
}

func (v *ApplyView) handle(line []byte) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return // not a UI message (Terraform prints only JSON with -json)
	}
	addr := m.Hook.Resource.Addr
	switch m.Type {
	case "apply_start":
		v.Started++
		v.since[addr] = v.now()
		v.current = append(v.current, addr)
		v.event(fmt.Sprintf("%s %s", ing(m.Hook.Action), addr))
		if v.OnStart != nil {
			v.OnStart(addr, m.Hook.Action)
		}
	case "apply_progress":
		if !v.tty {
			v.event(fmt.Sprintf("still %s %s (%s)", ing(m.Hook.Action), addr, secs(m.Hook.ElapsedSeconds)))
		} else {
			v.redraw()
		}
	case "apply_complete":
		v.finishOne(addr)
		v.event(fmt.Sprintf("%s %s (%s)", past(m.Hook.Action), addr, secs(m.Hook.ElapsedSeconds)))
	case "apply_errored":
		v.removeCurrent(addr)
		v.Errored = append(v.Errored, addr)
		v.event(fmt.Sprintf("FAILED %s %s (%s)", m.Hook.Action, addr, secs(m.Hook.ElapsedSeconds)))
	case "diagnostic":
		if d := m.Diagnostic; d != nil {
			diag := toDiagnostic(d)
			if slices.Contains(v.Diagnostics, diag) {
				break // Terraform repeats "execution halted" once per stopped operation
			}
			v.Diagnostics = append(v.Diagnostics, diag)
			v.event(fmt.Sprintf("%s: %s", d.Severity, diag))
		}
	case "change_summary":
		if c := m.Changes; c != nil {
			// The apply finished: planned updates that turned out to change nothing
			// (values known only after apply) have no hooks, but they are done too.
			if len(v.Errored) == 0 {
				v.done = max(v.done, v.total)
			}
			v.event(fmt.Sprintf("%s complete: %d added, %d changed, %d destroyed", v.verb, c.Add, c.Change, c.Remove))
		}
	}
}

func (v *ApplyView) removeCurrent(addr string) {
	for i, a := range v.current {
		if a == addr {
			v.current = append(v.current[:i], v.current[i+1:]...)
			return
		}
	}
}

func (v *ApplyView) finishOne(addr string) {
	v.removeCurrent(addr)
	v.seen[addr]++
	want := v.expected[addr]
	if want == 0 {
		want = 1
	}
	if v.seen[addr] == want {
		v.done++
		if _, planned := v.expected[addr]; !planned {
			v.total++ // not in the plan we were given: count it anyway
		}
	}
}

// event reports one thing that happened: a plain line, or a redraw on a terminal.
func (v *ApplyView) event(s string) {
	if v.tty {
		v.redraw()
		return
	}
	fmt.Fprintf(v.out, "[%d/%d %s] %s\n", v.done, v.total, fmtDur(v.now().Sub(v.start)), s)
}

func (v *ApplyView) redraw() {
	line := fmt.Sprintf("%s: %d/%d resources, %s elapsed", v.verb, v.done, v.total, fmtDur(v.now().Sub(v.start)))
	if n := len(v.current); n > 0 {
		a := v.current[n-1]
		line += fmt.Sprintf(" | %s (%s)", a, fmtDur(v.now().Sub(v.since[a])))
		if n > 1 {
			line += fmt.Sprintf(" +%d more", n-1)
		}
	}
	fmt.Fprintf(v.out, "\r%s\x1b[K", fitLine(v.out, line))
	v.lastLen = len(line)
}

// fitLine cuts a redrawn line to the width of the terminal out writes to (termout): a line
// that wraps cannot be redrawn with a carriage return.
func fitLine(out io.Writer, s string) string { return termout.Fit(s, termout.Width(out)) }

func ing(action string) string {
	switch action {
	case "create":
		return "creating"
	case "update":
		return "updating"
	case "delete":
		return "destroying"
	case "replace":
		return "replacing"
	case "read":
		return "reading"
	}
	return action
}

func past(action string) string {
	switch action {
	case "create":
		return "created"
	case "update":
		return "updated"
	case "delete":
		return "destroyed"
	case "replace":
		return "replaced"
	case "read":
		return "read"
	}
	return action + " done"
}

func secs(s float64) string { return fmtDur(time.Duration(s * float64(time.Second))) }

// fmtDur prints a duration the way an operator reads it: 45s, 2m05s, 1h02m.
func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// PlanView follows a plan's -json stream: how many resources were refreshed and the
// diagnostics. Plain lines only for diagnostics; on a terminal a redrawn count.
type PlanView struct {
	mu          sync.Mutex
	out         io.Writer
	tty         bool
	refreshed   int
	buf         []byte
	Diagnostics []Diagnostic
}

// NewPlanView returns a view writing to out.
func NewPlanView(out io.Writer, tty bool) *PlanView { return &PlanView{out: out, tty: tty} }

// Write implements io.Writer.
func (v *PlanView) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.buf = append(v.buf, p...)
	for {
		i := bytes.IndexByte(v.buf, '\n')
		if i < 0 {
			break
		}
		line := v.buf[:i]
		v.buf = v.buf[i+1:]
		var m message
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		switch m.Type {
		case "refresh_complete":
			v.refreshed++
			if v.tty {
				fmt.Fprintf(v.out, "\rplanning: %d resources refreshed\x1b[K", v.refreshed)
			}
		case "diagnostic":
			if d := m.Diagnostic; d != nil {
				diag := toDiagnostic(d)
				v.Diagnostics = append(v.Diagnostics, diag)
				if v.tty {
					fmt.Fprint(v.out, "\r\x1b[K")
				}
				fmt.Fprintf(v.out, "%s: %s\n", d.Severity, diag)
			}
		}
	}
	return len(p), nil
}

// Finish ends the terminal line.
func (v *PlanView) Finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty && v.refreshed > 0 {
		fmt.Fprint(v.out, "\r\x1b[K")
	}
}

// Errors returns the error diagnostics.
func (v *PlanView) Errors() []Diagnostic { return errorsOf(v.Diagnostics) }

func errorsOf(ds []Diagnostic) []Diagnostic {
	var out []Diagnostic
	for _, d := range ds {
		if d.Severity == "error" {
			out = append(out, d)
		}
	}
	return out
}
