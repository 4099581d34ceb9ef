package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func goodSoak() SoakOptions {
	return SoakOptions{Duration: time.Minute, KeystoneRate: ProductionRate, Clients: 8, MessageRate: 10,
		AgentEvery: time.Minute, Warmup: 10 * time.Second, Tolerance: 0.1, User: "admin", Password: "pw",
		MQUser: "ssp_user", MQVHost: "ssp", MQPassword: "mq", Daemons: func() (map[string]int, error) { return nil, nil }}
}

func TestSoakOptionsRefuseUnboundedAndMissing(t *testing.T) {
	if err := goodSoak().Validate(); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*SoakOptions)
		want string
	}{
		{"no duration", func(o *SoakOptions) { o.Duration = 0 }, "bounded in time"},
		{"too long", func(o *SoakOptions) { o.Duration = MaxDuration + time.Second }, "bounded in time"},
		{"no keystone rate", func(o *SoakOptions) { o.KeystoneRate = 0 }, "keystone rate 0"},
		{"keystone rate too high", func(o *SoakOptions) { o.KeystoneRate = MaxRate + 1 }, "keystone rate"},
		{"message rate too high", func(o *SoakOptions) { o.MessageRate = MaxSoakMessageRate + 1 }, "message rate"},
		{"agents too often", func(o *SoakOptions) { o.AgentEvery = time.Second }, "agent interval"},
		{"warm-up as long as the soak", func(o *SoakOptions) { o.Warmup = time.Minute }, "warm-up"},
		{"no tolerance", func(o *SoakOptions) { o.Tolerance = 0 }, "memory tolerance"},
		{"no keystone password", func(o *SoakOptions) { o.Password = "" }, "no password for Keystone"},
		{"no rabbitmq password", func(o *SoakOptions) { o.MQPassword = "" }, "no password for RabbitMQ"},
		{"no rabbitmq vhost", func(o *SoakOptions) { o.MQVHost = "" }, "RabbitMQ user and vhost"},
		{"no daemons", func(o *SoakOptions) { o.Daemons = nil }, "daemons"},
	} {
		o := goodSoak()
		c.edit(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	o := goodSoak()
	o.MessageRate, o.MQPassword = 0, ""
	if err := o.Validate(); err != nil {
		t.Errorf("no message flow needs no RabbitMQ password: %v", err)
	}
}

// A daemon's memory is its own RSS and its descendants'; a daemon that is gone reads 0.
func TestSampleMemoryCountsChildren(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip(err)
	}
	defer child.Process.Kill()
	time.Sleep(100 * time.Millisecond)
	self := os.Getpid()
	m, err := sampleMemory(func() (map[string]int, error) {
		return map[string]int{"self": self, "child": child.Process.Pid, "gone": 1 << 30}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m["child"].kib <= 0 || m["self"].kib < rssKiB(self)+m["child"].kib/2 {
		t.Errorf("self %+v does not include its child %+v", m["self"], m["child"])
	}
	if m["gone"].pid != 0 || m["gone"].kib != 0 {
		t.Errorf("a missing process reads %+v", m["gone"])
	}
	if parentOf(child.Process.Pid) != self {
		t.Errorf("parent of the child: %d, want %d", parentOf(child.Process.Pid), self)
	}
}

// The soak's message flow is a bench.RabbitMQ run that its bounds accept: paced at the
// message rate, one confirm at a time, bounded in count by rate x duration and in time by
// the soak and its drain.
func TestSoakMessageFlowIsABoundedRabbitMQRun(t *testing.T) {
	o := goodSoak()
	stop := make(chan struct{})
	mo := o.messageFlow(stop)
	if err := mo.Validate(); err != nil {
		t.Fatalf("the soak's message flow refused: %v", err)
	}
	if mo.Rate != o.MessageRate || mo.ConfirmWindow != 1 || mo.Messages != 601 || mo.Duration != o.Duration+soakDrain ||
		mo.Queue != "" || mo.StopPublishing == nil || mo.User != o.MQUser || mo.Password != o.MQPassword {
		t.Errorf("message flow %+v", mo)
	}
	o.Duration = MaxDuration
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "with a message flow") {
		t.Errorf("a soak as long as a run leaves its messages no time to drain: %v", err)
	}
	o.MessageRate = 0
	if err := o.Validate(); err != nil {
		t.Errorf("without a message flow the soak may last %s: %v", MaxDuration, err)
	}
}

func TestSoakCountsTheMessageFlow(t *testing.T) {
	var r SoakResult
	r.countMessages(&RabbitMQResult{Sent: 600, Confirmed: 600, Consumed: 600, Drained: true})
	if len(r.Errors) != 0 || r.Published != 600 || r.Consumed != 600 {
		t.Fatalf("a clean flow: %+v", r.Errors)
	}
	r = SoakResult{}
	r.countMessages(&RabbitMQResult{Sent: 600, Confirmed: 598, Consumed: 597, Lost: 1, Duplicates: 2, FirstError: "publisher on rabbitmq-server-1: channel closed"})
	want := []string{"rabbitmq: publisher on rabbitmq-server-1: channel closed",
		"rabbitmq: 2 of 600 messages published were never confirmed", "rabbitmq: 1 of 598 confirmed messages never arrived"}
	if strings.Join(r.Errors, "\n") != strings.Join(want, "\n") || r.Duplicates != 2 || r.Lost != 1 {
		t.Errorf("errors %q, duplicates %d, lost %d", r.Errors, r.Duplicates, r.Lost)
	}
}

func TestSoakComparesMemory(t *testing.T) {
	var r SoakResult
	r.compareMemory(map[string]memSample{"a": {1, 100}, "b": {2, 100}, "c": {3, 100}, "d": {4, 100}},
		map[string]memSample{"a": {1, 105}, "b": {2, 120}, "c": {9, 100}}, 0.10)
	want := []string{"b: memory grew 20.0 % (100 KiB to 120 KiB), more than 10 %",
		"c: restarted during the soak (pid 3, then 9)", "d: gone at the end of the soak"}
	if strings.Join(r.Errors, "\n") != strings.Join(want, "\n") || len(r.Memory) != 4 || r.Memory[0].Growth != 0.05 {
		t.Errorf("errors %q, memory %+v", r.Errors, r.Memory)
	}
}
