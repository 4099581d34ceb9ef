package logs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/cso-ssp/platform/internal/inventory"
)

// FilterLogEventsAPI is the part of the CloudWatch Logs client the reader uses.
type FilterLogEventsAPI interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// MaxPages bounds the FilterLogEvents pages of one read of one log (each up to 10,000
// events or 1 MB): a read without Follow keeps the last Limit lines of what they hold.
const MaxPages = 50

// CloudWatch reads an AWS environment's logs from CloudWatch Logs: group /cso/<env>/<log>,
// stream <host> (cwagent.Config's log_stream_name).
type CloudWatch struct {
	Client FilterLogEventsAPI
	Env    string
	hosts  map[string][]string
}

// NewCloudWatch describes the logs of env's hosts.
func NewCloudWatch(client FilterLogEventsAPI, env string, hosts []inventory.Host) *CloudWatch {
	c := &CloudWatch{Client: client, Env: env, hosts: map[string][]string{}}
	for _, h := range hosts {
		names := ec2LogNames(h)
		sort.Strings(names)
		c.hosts[h.Name] = names
	}
	return c
}

// Group is the log group of log name.
func (c *CloudWatch) Group(name string) string { return "/cso/" + c.Env + "/" + name }

// Hosts implements Reader.
func (c *CloudWatch) Hosts() []string { return sortedKeys(c.hosts) }

// Services implements Reader.
func (c *CloudWatch) Services(host string) ([]string, error) {
	s, ok := c.hosts[host]
	if !ok {
		return nil, &UnknownError{What: "host", Name: host, Valid: c.Hosts()}
	}
	return s, nil
}

// Read implements Reader. grep is applied here, not as a CloudWatch filter pattern: the
// patterns' term syntax is not a substring match, and both targets must agree.
func (c *CloudWatch) Read(ctx context.Context, q Query, emit func(Line) error) error {
	if err := Check(c, q); err != nil {
		return err
	}
	services := c.hosts[q.Host]
	if q.Service != "" {
		services = []string{q.Service}
	}
	var lines []Line
	last := map[string]int64{}           // service -> newest timestamp seen (ms)
	seen := map[string]map[string]bool{} // service -> event ids at that timestamp
	for _, svc := range services {
		seen[svc] = map[string]bool{}
		ls, err := c.fetch(ctx, q, svc, q.Since.UnixMilli(), last, seen)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	if err := emitNewest(lines, q, emit); err != nil {
		return err
	}
	if !q.Follow {
		return nil
	}
	poll := q.Poll
	if poll <= 0 {
		poll = 2 * time.Second // FilterLogEvents allows 25 calls a second per account and region
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var fresh []Line
		for _, svc := range services {
			from, ok := last[svc]
			if !ok {
				from = q.Since.UnixMilli()
			}
			ls, err := c.fetch(ctx, q, svc, from, last, seen)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			fresh = append(fresh, ls...)
		}
		sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].Time.Before(fresh[j].Time) })
		for _, l := range fresh {
			if err := emit(l); err != nil {
				return err
			}
		}
	}
}

// fetch reads svc's events of q.Host from startMS on, skipping those already seen (the
// events at the newest timestamp of the previous fetch come again).
func (c *CloudWatch) fetch(ctx context.Context, q Query, svc string, startMS int64, last map[string]int64, seen map[string]map[string]bool) ([]Line, error) {
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:   aws.String(c.Group(svc)),
		LogStreamNames: []string{q.Host},
		StartTime:      aws.Int64(startMS),
	}
	var out []Line
	for page := 0; page < MaxPages; page++ {
		res, err := c.Client.FilterLogEvents(ctx, in)
		if err != nil {
			var nf *cwtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				return nil, nil // the host has not shipped this log yet
			}
			return nil, fmt.Errorf("CloudWatch Logs %s, stream %s: %w", c.Group(svc), q.Host, err)
		}
		for _, e := range res.Events {
			ts, id := aws.ToInt64(e.Timestamp), aws.ToString(e.EventId)
			if ts < last[svc] || seen[svc][id] {
				continue
			}
			if ts > last[svc] {
				last[svc], seen[svc] = ts, map[string]bool{}
			}
			seen[svc][id] = true
			msg := aws.ToString(e.Message)
			if !q.match(msg) {
				continue
			}
			out = append(out, Line{Time: time.UnixMilli(ts).UTC(), Host: q.Host, Service: svc, Message: msg})
		}
		if res.NextToken == nil || aws.ToString(res.NextToken) == aws.ToString(in.NextToken) {
			break
		}
		in.NextToken = res.NextToken
	}
	if n := q.limit(); !q.Follow && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}
