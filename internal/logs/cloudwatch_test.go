package logs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func put(t *testing.T, c *cloudwatchlogs.Client, group, stream string, at time.Time, msgs ...string) {
	t.Helper()
	ctx := context.Background()
	var exists *cwtypes.ResourceAlreadyExistsException
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil && !errors.As(err, &exists) {
		t.Fatal(err)
	}
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil && !errors.As(err, &exists) {
		t.Fatal(err)
	}
	var evs []cwtypes.InputLogEvent
	for i, m := range msgs {
		evs = append(evs, cwtypes.InputLogEvent{Message: aws.String(m), Timestamp: aws.Int64(at.Add(time.Duration(i) * time.Millisecond).UnixMilli())})
	}
	if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: evs}); err != nil {
		t.Fatal(err)
	}
}

// The AWS reader against moto's CloudWatch Logs: the host's stream of each group, merged by
// time; --grep, --since and the limit as locally; another host's stream is not read; a
// follow sees new events once and stops with its context.
func TestCloudWatchReadsTheHostsStreams(t *testing.T) {
	moto := awstest.Moto(t)
	client := cloudwatchlogs.NewFromConfig(moto.Config())
	env, err := envfile.Load("../../environments/env.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hosts := inventory.Hosts(env)
	ks := inventory.ByRole(hosts, envfile.RoleKeystone)[0]
	envName := fmt.Sprintf("t%d", time.Now().UnixNano())
	r := NewCloudWatch(client, envName, hosts)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	put(t, client, r.Group("keystone-httpd"), ks.Name, base, `"POST /v3/auth/tokens" 201`, `"GET /v3/auth/tokens" 404`)
	put(t, client, r.Group("keystone"), ks.Name, base.Add(time.Second), "INFO keystone started")
	put(t, client, r.Group("keystone"), "keystone02", base.Add(time.Second), "another host's line")
	put(t, client, r.Group("agent"), ks.Name, base.Add(-2*time.Hour), "an old line")

	since := base.Add(-time.Hour)
	got := collect(t, r, Query{Host: ks.Name, Since: since})
	var lines []string
	for _, l := range got {
		lines = append(lines, l.Service+" "+l.Message)
	}
	want := []string{`keystone-httpd "POST /v3/auth/tokens" 201`, `keystone-httpd "GET /v3/auth/tokens" 404`, "keystone INFO keystone started"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got := collect(t, r, Query{Host: ks.Name, Service: "keystone-httpd", Grep: "404", Since: since}); len(got) != 1 || !got[0].Time.Equal(base.Add(time.Millisecond)) {
		t.Errorf("--grep 404: %+v", got)
	}
	if got := collect(t, r, Query{Host: ks.Name, Since: base.Add(-3 * time.Hour), Limit: 2}); len(got) != 2 || got[1].Service != "keystone" {
		t.Errorf("--limit 2: %+v", got)
	}
	if err := r.Read(context.Background(), Query{Host: ks.Name, Service: "nginx-access"}, func(Line) error { return nil }); err == nil || !strings.Contains(err.Error(), "keystone-httpd-error") {
		t.Errorf("unknown log: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var followed []Line
	done := make(chan error, 1)
	go func() {
		done <- r.Read(ctx, Query{Host: ks.Name, Service: "keystone", Since: since, Follow: true, Poll: 200 * time.Millisecond},
			func(l Line) error { mu.Lock(); followed = append(followed, l); mu.Unlock(); return nil })
	}()
	time.Sleep(500 * time.Millisecond)
	put(t, client, r.Group("keystone"), ks.Name, time.Now(), "WARNING new line")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(followed)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a few more polls: nothing twice
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop when its context ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(followed) != 2 || followed[1].Message != "WARNING new line" {
		t.Errorf("followed: %+v", followed)
	}
}
