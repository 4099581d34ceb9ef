package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/cso-ssp/platform/internal/apppkg"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/status"
)

// ELBAPI is the part of the Elastic Load Balancing v2 client a rollout uses, with the
// operator's credentials (docs/decisions/cli.md: the IAM actions).
type ELBAPI interface {
	DescribeTargetGroups(ctx context.Context, in *elb.DescribeTargetGroupsInput, opts ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error)
	DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, opts ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
	DeregisterTargets(ctx context.Context, in *elb.DeregisterTargetsInput, opts ...func(*elb.Options)) (*elb.DeregisterTargetsOutput, error)
	RegisterTargets(ctx context.Context, in *elb.RegisterTargetsInput, opts ...func(*elb.Options)) (*elb.RegisterTargetsOutput, error)
}

// AWS is how a rollout acts on an AWS environment (release.Driver). A host leaves every
// target group of the environment it is registered in (the frontend target group; each
// backend service's on the internal ALB) and the rollout waits for the draining to end.
// The host is not reached directly: its agent timer (every agent.ResyncInterval) reads
// the record, converges and publishes the package it runs in its status document, which
// the rollout waits for (docs/decisions/cli.md).
type AWS struct {
	ELB ELBAPI
	// Env prefixes the environment's target group names (<env>-frontend-tg, <env>-be-*).
	Env string
	// Instances maps host names to EC2 instance IDs (the Terraform output hosts).
	Instances map[string]string
	Status    status.Store
	Out       io.Writer
	// Bounds (defaults: 10 min draining, the target groups' deregistration_delay being
	// 300 s; 20 min for a host's timer run; 10 min to be healthy again) and poll interval.
	DrainTimeout, ConvergeTimeout, HealthyTimeout, Poll time.Duration

	mu   sync.Mutex
	left map[string][]elbtypes.TargetDescription // host -> the registrations it left, by group
	arns map[string][]string
}

func (a *AWS) bounds() (drain, converge, healthy, poll time.Duration) {
	drain, converge, healthy, poll = a.DrainTimeout, a.ConvergeTimeout, a.HealthyTimeout, a.Poll
	if drain <= 0 {
		drain = 10 * time.Minute
	}
	if converge <= 0 {
		converge = 20 * time.Minute
	}
	if healthy <= 0 {
		healthy = 10 * time.Minute
	}
	if poll <= 0 {
		poll = 5 * time.Second
	}
	return
}

func (a *AWS) logf(format string, args ...any) {
	if a.Out != nil {
		fmt.Fprintf(a.Out, "%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
}

func (a *AWS) instance(h inventory.Host) (string, error) {
	id := a.Instances[h.Name]
	if id == "" {
		return "", fmt.Errorf("no EC2 instance known for %s (Terraform output hosts)", h.Name)
	}
	return id, nil
}

// groups lists the environment's target groups.
func (a *AWS) groups(ctx context.Context) ([]elbtypes.TargetGroup, error) {
	var out []elbtypes.TargetGroup
	p := elb.NewDescribeTargetGroupsPaginator(a.ELB, &elb.DescribeTargetGroupsInput{})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 100 {
			return nil, errors.New("more than 100 pages of target groups")
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe target groups: %w", err)
		}
		for _, g := range page.TargetGroups {
			if strings.HasPrefix(aws.ToString(g.TargetGroupName), a.Env+"-") {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

// Drain implements Driver: deregister the host's instance from every target group of
// the environment that has it, then wait until none lists it any more (draining over).
func (a *AWS) Drain(ctx context.Context, h inventory.Host) error {
	id, err := a.instance(h)
	if err != nil {
		return err
	}
	groups, err := a.groups(ctx)
	if err != nil {
		return err
	}
	var arns []string
	var regs []elbtypes.TargetDescription
	for _, g := range groups {
		arn := aws.ToString(g.TargetGroupArn)
		th, err := a.ELB.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: g.TargetGroupArn})
		if err != nil {
			return fmt.Errorf("describe target health of %s: %w", aws.ToString(g.TargetGroupName), err)
		}
		for _, d := range th.TargetHealthDescriptions {
			if d.Target != nil && aws.ToString(d.Target.Id) == id {
				arns, regs = append(arns, arn), append(regs, *d.Target)
			}
		}
	}
	a.mu.Lock()
	if a.left == nil {
		a.left, a.arns = map[string][]elbtypes.TargetDescription{}, map[string][]string{}
	}
	a.left[h.Name], a.arns[h.Name] = regs, arns
	a.mu.Unlock()
	if len(arns) == 0 {
		a.logf("%s (%s) is in no target group of %s: nothing to drain", h.Name, id, a.Env)
		return nil
	}
	for i, arn := range arns {
		if _, err := a.ELB.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbtypes.TargetDescription{regs[i]}}); err != nil {
			return fmt.Errorf("deregister %s from %s: %w", id, arn, err)
		}
	}
	a.logf("%s (%s) deregistered from %d target groups; waiting for the draining to end", h.Name, id, len(arns))
	drain, _, _, poll := a.bounds()
	return waitUntil(ctx, drain, poll, "the draining of "+h.Name, func(ctx context.Context) (bool, string, error) {
		for i, arn := range arns {
			state, err := a.targetState(ctx, arn, regs[i])
			if err != nil {
				return false, "", err
			}
			if state != "" && state != string(elbtypes.TargetHealthStateEnumUnused) {
				return false, fmt.Sprintf("%s is %s in %s", id, state, arn), nil
			}
		}
		return true, "", nil
	})
}

// targetState is the target's state in group arn, "" when the group no longer knows it.
func (a *AWS) targetState(ctx context.Context, arn string, t elbtypes.TargetDescription) (string, error) {
	th, err := a.ELB.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: []elbtypes.TargetDescription{t}})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidTarget" {
			return "", nil
		}
		return "", fmt.Errorf("describe target health: %w", err)
	}
	for _, d := range th.TargetHealthDescriptions {
		if d.Target != nil && aws.ToString(d.Target.Id) == aws.ToString(t.Id) && d.TargetHealth != nil {
			return string(d.TargetHealth.State), nil
		}
	}
	return "", nil
}

// Restore implements Driver: register the instance again where it was, and wait until
// every one of those groups finds it healthy.
func (a *AWS) Restore(ctx context.Context, h inventory.Host) error {
	a.mu.Lock()
	regs, arns := a.left[h.Name], a.arns[h.Name]
	a.mu.Unlock()
	for i, arn := range arns {
		if _, err := a.ELB.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbtypes.TargetDescription{regs[i]}}); err != nil {
			return fmt.Errorf("register %s in %s: %w", aws.ToString(regs[i].Id), arn, err)
		}
	}
	if len(arns) == 0 {
		return nil
	}
	_, _, healthy, poll := a.bounds()
	return waitUntil(ctx, healthy, poll, h.Name+" healthy in its target groups", func(ctx context.Context) (bool, string, error) {
		for i, arn := range arns {
			state, err := a.targetState(ctx, arn, regs[i])
			if err != nil {
				return false, "", err
			}
			if state != string(elbtypes.TargetHealthStateEnumHealthy) {
				return false, fmt.Sprintf("%s in %s", state, arn), nil
			}
		}
		return true, "", nil
	})
}

// Converge implements Driver: wait until the host's agent (its timer run) published a
// finished run that installed want (for a rollback to the env file's package, want has no
// checksum: any finished run after now).
func (a *AWS) Converge(ctx context.Context, h inventory.Host, want apppkg.PackageRef) error {
	since := time.Now().UTC()
	_, converge, _, poll := a.bounds()
	return waitUntil(ctx, converge, poll, h.Name+"'s agent run", func(ctx context.Context) (bool, string, error) {
		doc, err := a.Status.Get(ctx, h.Name)
		if errors.Is(err, status.ErrNotFound) {
			return false, "no status document", nil
		}
		if err != nil {
			return false, "", err
		}
		got := doc.Facts[apppkg.FactAppSHA256]
		switch {
		case doc.State == status.StateFailed && !doc.FinishedAt.Before(since):
			return false, "", fmt.Errorf("%s: %s", h.Name, doc.LastError)
		case doc.State != status.StateDone:
			return false, "run " + doc.State, nil
		case want.SHA256 != "" && got == want.SHA256:
			return true, "", nil
		case want.SHA256 == "" && !doc.FinishedAt.Before(since):
			return true, "", nil
		}
		return false, "runs " + doc.Facts[apppkg.FactAppVersion], nil
	})
}

// Check implements Driver: the host's finished run started every service and waited for
// its health path (the application services step); the target groups' health checks
// follow in Restore. The operator's machine cannot reach the hosts' private addresses.
func (a *AWS) Check(ctx context.Context, h inventory.Host) error {
	doc, err := a.Status.Get(ctx, h.Name)
	if err != nil {
		return err
	}
	for _, s := range doc.Steps {
		if s.State == status.StateFailed {
			return fmt.Errorf("step %s failed: %s", s.Name, s.Detail)
		}
	}
	if doc.State != status.StateDone {
		return fmt.Errorf("the host's run is %s", doc.State)
	}
	return nil
}

// waitUntil polls cond every poll until it answers true, fails, or timeout passes.
func waitUntil(ctx context.Context, timeout, poll time.Duration, what string, cond func(context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ok, why, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not after %s (%s)", what, timeout, last)
		case <-time.After(poll):
		}
	}
}
