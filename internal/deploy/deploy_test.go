package deploy

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
)

func TestSummarize(t *testing.T) {
	rc := func(addr, typ string, mode tfjson.ResourceMode, actions ...tfjson.Action) *tfjson.ResourceChange {
		return &tfjson.ResourceChange{Address: addr, Type: typ, Mode: mode, Change: &tfjson.Change{Actions: actions}}
	}
	p := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		rc(`module.compute.aws_instance.this["keystone01"]`, "aws_instance", tfjson.ManagedResourceMode, tfjson.ActionDelete, tfjson.ActionCreate),
		rc(`module.compute.aws_instance.this["keystone02"]`, "aws_instance", tfjson.ManagedResourceMode, tfjson.ActionCreate),
		rc("aws_vpc.main", "aws_vpc", tfjson.ManagedResourceMode, tfjson.ActionUpdate),
		rc("aws_subnet.old", "aws_subnet", tfjson.ManagedResourceMode, tfjson.ActionDelete),
		rc("aws_subnet.same", "aws_subnet", tfjson.ManagedResourceMode, tfjson.ActionNoop),
		rc("data.aws_ami.al2023", "aws_ami", tfjson.DataResourceMode, tfjson.ActionRead),
	}}
	s := Summarize(p)
	if s.Counts != (Counts{Add: 2, Change: 1, Destroy: 2}) {
		t.Errorf("counts %+v", s.Counts)
	}
	if s.ByType["aws_instance"] != (Counts{Add: 2, Destroy: 1}) || s.ByType["aws_subnet"] != (Counts{Destroy: 1}) {
		t.Errorf("by type %+v", s.ByType)
	}
	if len(s.Changes) != 4 || s.Changes[0].Action != "replace" || s.Steps() != 5 {
		t.Errorf("changes %+v, steps %d", s.Changes, s.Steps())
	}
	var b bytes.Buffer
	WriteChanges(&b, s)
	for _, want := range []string{"-/+ replace " + `module.compute.aws_instance.this["keystone01"]`, "-   delete  aws_subnet.old", "Plan: 2 to add, 1 to change, 2 to destroy."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	WriteChanges(&b, Summarize(&tfjson.Plan{}))
	if !strings.Contains(b.String(), "No changes") {
		t.Errorf("empty summary: %s", b.String())
	}
	if got := recreatedHosts(s, []inventory.Host{{Name: "keystone01"}, {Name: "keystone02"}, {Name: "keystone0"}}); strings.Join(got, ",") != "keystone01,keystone02" {
		t.Errorf("recreated hosts %v", got)
	}
}

// stream is an apply -json transcript as Terraform 1.8 writes it.
const stream = `{"@level":"info","@message":"Terraform 1.8.5","type":"version","terraform":"1.8.5","ui":"1.2"}
{"@level":"info","@message":"aws_vpc.main: Creating...","type":"apply_start","hook":{"resource":{"addr":"aws_vpc.main","resource_type":"aws_vpc"},"action":"create"}}
{"@level":"info","@message":"aws_vpc.main: Creation complete after 2s","type":"apply_complete","hook":{"resource":{"addr":"aws_vpc.main","resource_type":"aws_vpc"},"action":"create","elapsed_seconds":2}}
{"@level":"info","@message":"x: Destroying...","type":"apply_start","hook":{"resource":{"addr":"module.compute.aws_instance.this[\"keystone01\"]","resource_type":"aws_instance"},"action":"delete"}}
{"@level":"info","@message":"x: Still destroying... [10s elapsed]","type":"apply_progress","hook":{"resource":{"addr":"module.compute.aws_instance.this[\"keystone01\"]","resource_type":"aws_instance"},"action":"delete","elapsed_seconds":10}}
{"@level":"info","@message":"x: Destruction complete after 12s","type":"apply_complete","hook":{"resource":{"addr":"module.compute.aws_instance.this[\"keystone01\"]","resource_type":"aws_instance"},"action":"delete","elapsed_seconds":12}}
{"@level":"info","@message":"x: Creating...","type":"apply_start","hook":{"resource":{"addr":"module.compute.aws_instance.this[\"keystone01\"]","resource_type":"aws_instance"},"action":"create"}}
{"@level":"info","@message":"x: Creating...","type":"apply_errored","hook":{"resource":{"addr":"module.compute.aws_instance.this[\"keystone01\"]","resource_type":"aws_instance"},"action":"create","elapsed_seconds":3}}
{"@level":"error","@message":"Error: creating EC2 Instance","type":"diagnostic","diagnostic":{"severity":"error","summary":"creating EC2 Instance: InsufficientInstanceCapacity","detail":"try\nanother zone","address":"module.compute.aws_instance.this[\"keystone01\"]","range":{"filename":"modules/compute/main.tf","start":{"line":26}}}}
{"@level":"info","@message":"Apply complete!","type":"change_summary","changes":{"add":1,"change":0,"remove":1,"operation":"apply"}}
`

func TestApplyViewPlain(t *testing.T) {
	s := Summary{Changes: []Change{{Address: "aws_vpc.main", Action: "create"}, {Address: `module.compute.aws_instance.this["keystone01"]`, Action: "replace"}}}
	var out bytes.Buffer
	v := NewApplyView(&out, false, "apply", s)
	var started []string
	v.OnStart = func(addr, action string) { started = append(started, action+" "+addr) }
	// Terraform writes in arbitrary chunks: split the stream mid-line.
	for _, chunk := range []string{stream[:100], stream[100:777], stream[777:]} {
		if _, err := v.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	v.Finish()
	got := out.String()
	for _, want := range []string{
		"] creating aws_vpc.main\n",
		"[1/2 ", "] created aws_vpc.main (2s)\n",
		`still destroying module.compute.aws_instance.this["keystone01"] (10s)`,
		`FAILED create module.compute.aws_instance.this["keystone01"] (3s)`,
		`error: module.compute.aws_instance.this["keystone01"]: creating EC2 Instance: InsufficientInstanceCapacity (modules/compute/main.tf:26): try another zone`,
		"apply complete: 1 added, 0 changed, 1 destroyed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plain view lacks %q:\n%s", want, got)
		}
	}
	if done, total := v.Done(); done != 1 || total != 2 {
		// The replacement's create failed: only the VPC is done.
		t.Errorf("done %d/%d, want 1/2", done, total)
	}
	if len(started) != 3 || len(v.Errored) != 1 || len(errorsOf(v.Diagnostics)) != 1 {
		t.Errorf("started %v, errored %v, diags %v", started, v.Errored, v.Diagnostics)
	}
	if strings.Contains(got, "\r") || strings.Contains(got, "\x1b") {
		t.Error("plain view must not use carriage returns or escape sequences")
	}
}

// A redrawn line is cut to the terminal's width (here $COLUMNS: a buffer has no size), so
// that it never wraps.
func TestApplyViewTTYFitsWidth(t *testing.T) {
	t.Setenv("COLUMNS", "40")
	var out bytes.Buffer
	v := NewApplyView(&out, true, "apply", Summary{Changes: []Change{{Address: `module.compute.aws_instance.this["keystone01"]`, Action: "create"}}})
	v.Write([]byte(`{"type":"apply_start","hook":{"resource":{"addr":"module.compute.aws_instance.this[\"keystone01\"]"},"action":"create"}}` + "\n"))
	v.Tick()
	for _, line := range strings.Split(out.String(), "\r") {
		line = strings.TrimSuffix(line, "\x1b[K")
		if n := len([]rune(line)); n >= 40 {
			t.Errorf("redrawn line of %d columns on a 40-column terminal: %q", n, line)
		}
	}
	if !strings.Contains(out.String(), "…") {
		t.Errorf("long line not cut: %q", out.String())
	}
}

func TestApplyViewTTY(t *testing.T) {
	var out bytes.Buffer
	v := NewApplyView(&out, true, "apply", Summary{Changes: []Change{{Address: "aws_vpc.main", Action: "create"}}})
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v.now = func() time.Time { return clock }
	v.start = clock
	v.Write([]byte(strings.Split(stream, "\n")[1] + "\n"))
	clock = clock.Add(75 * time.Second)
	v.Tick()
	last := out.String()[strings.LastIndex(out.String(), "\r"):]
	if want := "\rapply: 0/1 resources, 1m15s elapsed | aws_vpc.main (1m15s)\x1b[K"; last != want {
		t.Errorf("tty line %q, want %q", last, want)
	}
	if strings.Contains(out.String(), "\n") {
		t.Error("tty view must redraw one line")
	}
	v.Finish()
	if !strings.HasSuffix(out.String(), "\n") {
		t.Error("Finish must end the line")
	}
}

func hostsOf(t *testing.T, ha bool) []inventory.Host {
	t.Helper()
	name := "dev"
	if ha {
		name = "dev-ha"
	}
	env, err := envfile.Load(filepath.Join("..", "..", "environments", "env."+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return inventory.Hosts(env)
}

func doc(host, state string, steps ...string) status.Host {
	d := status.Host{Host: host, Env: "dev", State: state}
	for _, s := range steps {
		name, st, _ := strings.Cut(s, "=")
		d.Steps = append(d.Steps, status.Step{Name: name, State: st})
		if st == status.StateRunning || st == status.StateFailed {
			d.Step = name
		}
	}
	return d
}

func TestWaiter(t *testing.T) {
	hosts := hostsOf(t, false)
	jump := HostsOf(hosts, []envfile.Role{envfile.RoleJump})
	deps := HostsOf(hosts, StatusPhases[1].Roles)
	if len(jump) != 1 || len(deps) != 2 {
		t.Fatalf("hosts %v %v", jump, deps)
	}
	ctx := context.Background()
	cases := []struct {
		name    string
		phase   Phase
		hosts   []inventory.Host
		docs    []status.Host
		wantErr string // "" ready; otherwise a substring of the error
	}{
		{"setup done, health pending is enough for a setup phase", StatusPhases[0], jump,
			[]status.Host{doc("jump-server-1", status.StateRunning, "packages=done", "admin=skipped", "health=running")}, ""},
		{"health phase waits for the health step", StatusPhases[3], jump,
			[]status.Host{doc("jump-server-1", status.StateRunning, "packages=done", "health=running")}, "not finished after"},
		{"failed step named", StatusPhases[1], deps,
			[]status.Host{doc("keystone01", status.StateDone, "packages=done"), func() status.Host {
				d := doc("rabbitmq-server-1", status.StateFailed, "packages=done", "cluster=failed")
				d.LastError = "step cluster: rabbitmqctl join_cluster: timeout"
				return d
			}()}, "host rabbitmq-server-1 failed at step cluster: rabbitmqctl join_cluster: timeout;"},
		{"missing host times out naming it", StatusPhases[1], deps,
			[]status.Host{doc("keystone01", status.StateDone)}, "still waiting for rabbitmq-server-1: no status yet"},
		{"another environment's document does not count", StatusPhases[0], jump,
			[]status.Host{func() status.Host { d := doc("jump-server-1", status.StateDone); d.Env = "prod-ha"; return d }()}, `for environment "prod-ha"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := status.Dir{Path: t.TempDir()}
			for _, d := range c.docs {
				if err := store.Put(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			w := &Waiter{Store: store, Env: "dev", Interval: 10 * time.Millisecond, Out: &out}
			err := w.Wait(ctx, c.phase, c.hosts, 200*time.Millisecond)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Wait: %v\n%s", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Wait = %v, want %q\n%s", err, c.wantErr, out.String())
			}
		})
	}
}

// The waiter follows documents as the agents update them and stops on Ctrl-C.
func TestWaiterProgressAndCancel(t *testing.T) {
	hosts := HostsOf(hostsOf(t, false), []envfile.Role{envfile.RoleJump})
	store := status.Dir{Path: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	w := &Waiter{Store: store, Env: "dev", Interval: 10 * time.Millisecond, Out: &out}
	done := make(chan error, 1)
	go func() { done <- w.Wait(ctx, StatusPhases[0], hosts, time.Minute) }()
	time.Sleep(50 * time.Millisecond)
	store.Put(ctx, doc("jump-server-1", status.StateRunning, "packages=running", "admin=pending"))
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	for _, want := range []string{"jump-server-1: no status yet", "jump-server-1: step packages (0/2 steps)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBackendConfig(t *testing.T) {
	env := &envfile.Env{Name: "dev-ha", Path: "/srv/envs/env.dev-ha.yaml", State: envfile.State{Bucket: "b", Key: "cso/dev-ha/terraform.tfstate", DynamoDBTable: "locks", Region: "eu-west-2"}}
	got, err := BackendConfig(env)
	if err != nil || strings.Join(got, " ") != "bucket=b key=cso/dev-ha/terraform.tfstate region=eu-west-2 dynamodb_table=locks" {
		t.Errorf("s3: %v %v", got, err)
	}
	env.State = envfile.State{Backend: "local", Path: "state/tf.tfstate"}
	got, err = BackendConfig(env)
	if err != nil || strings.Join(got, " ") != "path=/srv/envs/state/tf.tfstate workspace_dir=/srv/envs/state/tf.tfstate.d" {
		t.Errorf("local: %v %v", got, err)
	}
	if p, _ := LocalWorkspaceState(env); p != "/srv/envs/state/tf.tfstate.d/dev-ha/terraform.tfstate" {
		t.Errorf("workspace state %s", p)
	}
}

func TestFindInstance(t *testing.T) {
	st := &tfjson.State{Values: &tfjson.StateValues{RootModule: &tfjson.StateModule{
		Resources: []*tfjson.StateResource{{Address: "aws_vpc.main", Type: "aws_vpc", Mode: tfjson.ManagedResourceMode}},
		ChildModules: []*tfjson.StateModule{{Address: "module.compute", Resources: []*tfjson.StateResource{
			{Address: `module.compute.aws_instance.this["keystone01"]`, Type: "aws_instance", Mode: tfjson.ManagedResourceMode, Index: "keystone01"},
			{Address: `module.compute.aws_lb_target_group_attachment.this["keystone01"]`, Type: "aws_lb_target_group_attachment", Mode: tfjson.ManagedResourceMode, Index: "keystone01"},
		}}},
	}}}
	if got := FindInstance(st, "keystone01"); got != `module.compute.aws_instance.this["keystone01"]` {
		t.Errorf("FindInstance = %q", got)
	}
	if got := FindInstance(st, "keystone02"); got != "" {
		t.Errorf("FindInstance of a missing host = %q", got)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 45 * time.Second: "45s", 125 * time.Second: "2m05s", 62 * time.Minute: "1h02m"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%s) = %s, want %s", d, got, want)
		}
	}
}

func TestWriteReport(t *testing.T) {
	r := &Report{Env: "dev", Operation: OpDeploy, Result: Failed, MS: 75000, Phases: []PhaseResult{
		{Name: Infrastructure, State: Done, Duration: 62 * time.Second, Detail: "16/16 resources: 16 to add, 0 to change, 0 to destroy"},
		{Name: "jump server setup", State: Failed, Duration: 13 * time.Second, Detail: "jump server setup: host jump-server-1 failed at step admin: port in use\nmore"},
		{Name: "service dependencies", State: Skipped, Detail: "jump server setup failed"},
	}}
	var b bytes.Buffer
	WriteReport(&b, r)
	want := `PHASE                 STATE    DURATION  DETAIL
infrastructure        done     1m02s     16/16 resources: 16 to add, 0 to change, 0 to destroy
jump server setup     failed   13s       jump server setup: host jump-server-1 failed at step admin: port in use
service dependencies  skipped  -         jump server setup failed
deploy dev: failed in 1m15s
`
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}
}
