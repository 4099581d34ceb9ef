package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ssmAPI is the part of the Systems Manager client that runs the agent on Keystone nodes.
type ssmAPI interface {
	SendCommand(ctx context.Context, in *ssm.SendCommandInput, opts ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
	ListCommands(ctx context.Context, in *ssm.ListCommandsInput, opts ...func(*ssm.Options)) (*ssm.ListCommandsOutput, error)
	ListCommandInvocations(ctx context.Context, in *ssm.ListCommandInvocationsInput, opts ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error)
}

// ssmRunner runs shell commands on an environment's hosts through AWS Systems Manager
// (AWS-RunShellScript, as root) and waits for them: the operator's workstation cannot reach
// the Keystone key store (an EFS access point inside the VPC), the nodes can.
type ssmRunner struct {
	client ssmAPI
	env    string
	// timeout bounds one command on one host (an agent run with a rotation: minutes);
	// poll is how often its status is read.
	timeout, poll time.Duration
}

// run runs commands on host (the instance tagged Environment=<env>, Name=<host>), waits
// until they end and returns the command's id (for its output). An error names the host,
// the command id and, where the API gives it, the host's output.
func (r ssmRunner) run(ctx context.Context, host string, commands ...string) (string, error) {
	out, err := r.client.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String("AWS-RunShellScript"),
		Targets:        []ssmtypes.Target{{Key: aws.String("tag:Environment"), Values: []string{r.env}}, {Key: aws.String("tag:Name"), Values: []string{host}}},
		Parameters:     map[string][]string{"commands": commands},
		Comment:        aws.String("cso keys rotate on " + host),
		TimeoutSeconds: aws.Int32(int32(r.timeout / time.Second)),
	})
	if err != nil {
		return "", fmt.Errorf("ssm send-command to %s: %w", host, err)
	}
	id := aws.ToString(out.Command.CommandId)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	for {
		lc, err := r.client.ListCommands(ctx, &ssm.ListCommandsInput{CommandId: aws.String(id)})
		if err != nil {
			return id, fmt.Errorf("ssm command %s on %s: %w", id, host, err)
		}
		if len(lc.Commands) == 1 {
			c := lc.Commands[0]
			switch c.Status {
			case ssmtypes.CommandStatusSuccess:
				if c.TargetCount == 0 {
					return id, fmt.Errorf("no instance tagged Environment=%s, Name=%s took command %s (is the host running, with the SSM agent online?)", r.env, host, id)
				}
				return id, nil
			case ssmtypes.CommandStatusFailed, ssmtypes.CommandStatusTimedOut, ssmtypes.CommandStatusCancelled:
				return id, fmt.Errorf("%s: command %s %s%s", host, id, strings.ToLower(string(c.Status)), r.output(ctx, id))
			}
		}
		select {
		case <-ctx.Done():
			return id, fmt.Errorf("%s: command %s still running after %s (aws ssm list-command-invocations --command-id %s --details): %w", host, id, r.timeout, id, ctx.Err())
		case <-time.After(r.poll):
		}
	}
}

// output is what a command printed on its host, or how to read it.
func (r ssmRunner) output(ctx context.Context, id string) string {
	inv, err := r.client.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
	if err != nil || len(inv.CommandInvocations) == 0 {
		return fmt.Sprintf(" (its output: aws ssm list-command-invocations --command-id %s --details)", id)
	}
	var b strings.Builder
	for _, i := range inv.CommandInvocations {
		for _, p := range i.CommandPlugins {
			if o := strings.TrimSpace(aws.ToString(p.Output)); o != "" {
				fmt.Fprintf(&b, "\n%s", o)
			}
		}
	}
	return b.String()
}

// planAWS runs only keystone01's agent with the rotation flags and --dry-run through
// Systems Manager and prints what it printed: which key would become the primary, or (a
// failed command) why the rotation would be refused.
func planAWS(ctx context.Context, g *Globals, kt keysTarget, r ssmRunner, flags []string) error {
	nodes, err := kt.rotationNodes()
	if err != nil {
		return err
	}
	id, err := r.step(ctx, g, nodes[0], awsAgentCommand(kt, flags))
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "%s's agent (command %s), nothing changed:%s\n", nodes[0], id, r.output(ctx, id))
	return nil
}

// step runs commands on host as one step of `cso keys rotate`, said on stderr; a failure
// is the command's exit status (aborted when the operator interrupted).
func (r ssmRunner) step(ctx context.Context, g *Globals, host string, commands ...string) (string, error) {
	fmt.Fprintf(g.Stderr, "%s: %s\n", host, strings.Join(commands, "; "))
	id, err := r.run(ctx, host, commands...)
	switch {
	case err != nil && ctx.Err() != nil:
		return id, Exit(ExitAborted, err)
	case err != nil:
		return id, Exit(ExitFailure, err)
	}
	return id, nil
}

// rotateAWS rotates on an AWS environment in the order of rotationRuns, as rotateLocal does
// locally (the other nodes' runs are their timer's cso-agent.service); then the nodes'
// published key sets must all be the new one.
func rotateAWS(ctx context.Context, g *Globals, kt keysTarget, r ssmRunner, kind string, flags []string) error {
	nodes, err := kt.rotationNodes()
	if err != nil {
		return err
	}
	for _, run := range rotationRuns(kind, nodes) {
		command := "systemctl start cso-agent.service" // the timer's agent run
		if run.rotate {
			command = awsAgentCommand(kt, flags)
		}
		if _, err := r.step(ctx, g, run.host, command); err != nil {
			return err
		}
	}
	s, err := keySetState(ctx, kt, kind, time.Now())
	if err != nil {
		return Exit(ExitFailure, err)
	}
	var behind []string
	for _, n := range s.Nodes {
		if n.Holds != "current" {
			behind = append(behind, fmt.Sprintf("%s (%s)", n.Host, n.Holds))
		}
	}
	if len(behind) > 0 {
		return Exit(ExitFailure, errors.New("rotated, but the published key sets of "+strings.Join(behind, ", ")+" are not the new one: see cso keys status --env "+kt.env.Name))
	}
	fmt.Fprintf(g.Stdout, "every Keystone node (%s) holds the new %s key set\n", strings.Join(nodes, ", "), kind)
	return nil
}
