package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/cso-ssp/platform/internal/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// The shipper creates the group and stream when they are missing, sends whole lines in
// batches (the last unterminated one on Close), and a second run appends to the stream.
func TestLogShipperToCloudWatchLogs(t *testing.T) {
	moto := awstest.Moto(t)
	client := cloudwatchlogs.NewFromConfig(moto.Config())
	group := AgentLogGroup(fmt.Sprintf("test-%d", time.Now().UnixNano()))
	ship := &LogShipper{Client: client, Group: group, Stream: "keystone01"}
	for i := 0; i < flushEvery+3; i++ {
		fmt.Fprintf(ship, "line %d\n", i)
	}
	fmt.Fprint(ship, "half a ")
	fmt.Fprint(ship, "line")
	if err := ship.Close(); err != nil {
		t.Fatal(err)
	}
	again := &LogShipper{Client: client, Group: group, Stream: "keystone01"}
	fmt.Fprintln(again, "second run")
	if err := again.Close(); err != nil {
		t.Fatalf("a second run on the existing group and stream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("keystone01"), StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out.Events {
		got = append(got, aws.ToString(e.Message))
	}
	if len(got) != flushEvery+5 || got[0] != "line 0" || got[flushEvery+3] != "half a line" || got[flushEvery+4] != "second run" {
		t.Errorf("events %q", got)
	}
	// A shipper that cannot send (nothing listens on port 1) keeps the error and never
	// fails the writer: the agent's run does not depend on CloudWatch Logs.
	cfg := moto.Config()
	cfg.BaseEndpoint, cfg.RetryMaxAttempts = aws.String("http://127.0.0.1:1"), 1
	bad := &LogShipper{Client: cloudwatchlogs.NewFromConfig(cfg), Group: group, Stream: "x"}
	if _, err := fmt.Fprintln(bad, "lost"); err != nil {
		t.Fatal(err)
	}
	if err := bad.Close(); err == nil || bad.Err() == nil {
		t.Error("a failed send was not reported")
	}
}
