package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// AgentLogGroup is the CloudWatch Logs group of the agents' progress lines in env: one
// stream per host. (Daemon logs are the CloudWatch agent's business, not this.)
func AgentLogGroup(env string) string { return "/cso/" + env + "/agent" }

// CloudWatchLogsAPI is the part of the CloudWatch Logs client the shipper uses.
type CloudWatchLogsAPI interface {
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// LogShipper is an io.Writer that sends whole lines to a CloudWatch Logs stream (the
// agent's progress on EC2, so an operator reads a host's setup without logging in). Lines
// are batched and sent by Flush, every flushEvery lines, and by Close. Shipping never fails
// the agent: an error is kept (Err) and later lines are dropped.
type LogShipper struct {
	Client        CloudWatchLogsAPI
	Group, Stream string

	mu      sync.Mutex
	partial bytes.Buffer
	events  []cwtypes.InputLogEvent
	ready   bool
	err     error
}

const flushEvery = 50

func (s *LogShipper) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial.Write(p)
	for {
		line, err := s.partial.ReadString('\n')
		if err != nil { // no newline yet: keep the rest for the next write
			rest := line
			s.partial.Reset()
			s.partial.WriteString(rest)
			break
		}
		if line = line[:len(line)-1]; line != "" {
			s.events = append(s.events, cwtypes.InputLogEvent{Message: aws.String(line), Timestamp: aws.Int64(time.Now().UnixMilli())})
		}
	}
	if len(s.events) >= flushEvery {
		s.flushLocked(context.Background())
	}
	return len(p), nil
}

// Flush sends the lines written so far.
func (s *LogShipper) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked(ctx)
	return s.err
}

// Close sends what is left, the last unterminated line included.
func (s *LogShipper) Close() error {
	s.mu.Lock()
	if s.partial.Len() > 0 {
		s.events = append(s.events, cwtypes.InputLogEvent{Message: aws.String(s.partial.String()), Timestamp: aws.Int64(time.Now().UnixMilli())})
		s.partial.Reset()
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Flush(ctx)
}

// Err is the first shipping error ("" lines are dropped after it).
func (s *LogShipper) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *LogShipper) flushLocked(ctx context.Context) {
	if s.err != nil {
		s.events = nil
		return
	}
	if len(s.events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !s.ready {
		var exists *cwtypes.ResourceAlreadyExistsException
		if _, err := s.Client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(s.Group)}); err != nil && !errors.As(err, &exists) {
			s.err = fmt.Errorf("create CloudWatch Logs group %s: %w", s.Group, err)
			return
		}
		if _, err := s.Client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(s.Group), LogStreamName: aws.String(s.Stream)}); err != nil && !errors.As(err, &exists) {
			s.err = fmt.Errorf("create CloudWatch Logs stream %s/%s: %w", s.Group, s.Stream, err)
			return
		}
		s.ready = true
	}
	// PutLogEvents takes at most 10,000 events per call; batches here are far smaller.
	if _, err := s.Client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(s.Group), LogStreamName: aws.String(s.Stream), LogEvents: s.events,
	}); err != nil {
		s.err = fmt.Errorf("send progress to CloudWatch Logs %s/%s: %w", s.Group, s.Stream, err)
	}
	s.events = nil
}
