package admin

import (
	"context"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/logs"
	"github.com/cso-ssp/platform/internal/target"
)

// TestLogsPage: /admin/logs shows the lines `cso logs` reads (the same reader), behind the
// sign-in, escaped, under the CSP; an unknown host is a 404 naming the valid ones; the
// dashboard links each host to it.
func TestLogsPage(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		dir := t.TempDir()
		l, _ := local.NewLayout(dir)
		tg := &target.Target{Env: "test", Kind: target.KindLocal, Hosts: c.Target.Hosts}
		must(t, tg.Save(l.TargetFile()))
		httpd := filepath.Join(l.Paths("keystone01").Log, "httpd")
		must(t, os.MkdirAll(httpd, 0o755))
		must(t, os.WriteFile(filepath.Join(httpd, "keystone.log"), []byte(
			"127.0.0.1 - - [05/Dec/2026:18:00:01 +0000] \"POST /v3/auth/tokens HTTP/1.1\" 201 5000\n"+
				"127.0.0.1 - - [05/Dec/2026:18:00:02 +0000] \"GET /v3/<script>alert(1)</script> HTTP/1.1\" 404 120\n"), 0o644))
		r, err := logs.NewLocal(dir)
		must(t, err)
		c.Logs = r
	})
	page := f.srv.URL + "/admin/logs?host=keystone01&service=keystone-httpd&since=2026-12-01T00:00:00Z&grep=404"
	if resp, _ := get(t, f.client(), page, nil); resp.StatusCode == 200 {
		t.Fatalf("logs page served without sign-in: %d", resp.StatusCode)
	}
	c, _ := f.signIn(t, "admin", f.adminPW)
	resp, body := get(t, c, page, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("logs page: %d\n%s", resp.StatusCode, body)
	}
	checkHeaders(t, resp)
	if !strings.Contains(body, html.EscapeString(`"GET /v3/<script>alert(1)</script> HTTP/1.1" 404 120`)) || strings.Contains(body, "<script>") {
		t.Errorf("the 404 line, escaped, is not on the page:\n%s", body)
	}
	if strings.Contains(body, "POST /v3/auth/tokens") {
		t.Error("--grep 404 kept a line without 404")
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<script") {
		t.Error("inline style or script on the logs page (the CSP forbids them)")
	}
	resp, body = get(t, c, f.srv.URL+"/admin/logs?host=keystone09", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, "keystone01") {
		t.Errorf("unknown host: %d\n%s", resp.StatusCode, body)
	}
	if resp, body = get(t, c, f.srv.URL+"/admin/logs?host=keystone01&since=yesterday", nil); resp.StatusCode != 400 {
		t.Errorf("bad since: %d\n%s", resp.StatusCode, body)
	}
	_, body = get(t, c, f.srv.URL+"/admin/", nil)
	if !strings.Contains(body, `href="/admin/logs?host=keystone01"`) {
		t.Error("the dashboard does not link the host to its logs")
	}
}

// TestLogsPageOnAWS: on an AWS target the page reads the CloudWatch Logs group the host
// ships to (/cso/<env>/<log>, stream = host) with the default credential chain, as `cso
// logs --env` does; moto serves CloudWatch Logs.
func TestLogsPageOnAWS(t *testing.T) {
	moto := awstest.Moto(t)
	moto.Setenv(t)
	ctx := context.Background()
	cw := cloudwatchlogs.NewFromConfig(moto.Config())
	group := "/cso/test/keystone-httpd"
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cw.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)}) })
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("keystone01")}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UnixMilli()
	if _, err := cw.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("keystone01"),
		LogEvents: []cwtypes.InputLogEvent{
			{Message: aws.String(`10.0.1.5 - - "POST /v3/auth/tokens HTTP/1.1" 201 5000`), Timestamp: aws.Int64(at)},
			{Message: aws.String(`10.0.1.5 - - "GET /v3/<b>missing</b> HTTP/1.1" 404 120`), Timestamp: aws.Int64(at + 1)},
		}}); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) {
		tg := *c.Target // its CA and Keystone for the sign-in
		tg.Kind, tg.Region = target.KindAWS, awstest.Region
		file := filepath.Join(t.TempDir(), target.FileName)
		must(t, tg.Save(file))
		c.TargetFile = file
	})
	c, _ := f.signIn(t, "admin", f.adminPW)
	resp, body := get(t, c, f.srv.URL+"/admin/logs?host=keystone01&service=keystone-httpd&grep=404", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("logs page on AWS: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, html.EscapeString(`"GET /v3/<b>missing</b> HTTP/1.1" 404 120`)) || strings.Contains(body, "<b>missing") {
		t.Errorf("the 404 line from CloudWatch Logs, escaped, is not on the page:\n%s", body)
	}
	if strings.Contains(body, "POST /v3/auth/tokens") {
		t.Error("--grep 404 kept a line without 404")
	}
	resp, body = get(t, c, f.srv.URL+"/admin/logs?host=keystone09", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, "keystone01") {
		t.Errorf("unknown host on AWS: %d\n%s", resp.StatusCode, body)
	}
}
