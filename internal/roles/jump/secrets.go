package jump

import (
	"context"

	"github.com/cso-ssp/platform/internal/agent"
)

// secretTasks make sure every generated secret exists. Locally they are generated on first
// use; on AWS they must already be in Secrets Manager (Terraform generates them), and a
// missing one of those the jump server reads fails here, before any other host needs it.
func secretTasks(rt *agent.Runtime) []agent.Task {
	names := GeneratedSecrets
	if _, aws := rt.Secrets.(agent.HostTLSSource); aws {
		names = JumpSecrets
	}
	var tasks []agent.Task
	for _, name := range names {
		tasks = append(tasks, agent.FuncTask{
			TaskName: "secret " + name,
			CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
				l, ok := rt.Secrets.(agent.SecretLookup)
				if !ok {
					return agent.NoChange, nil
				}
				_, found, err := l.Lookup(ctx, name)
				if err != nil || found {
					return agent.NoChange, err
				}
				return agent.Change{Needed: true, Summary: "generate secret " + name}, nil
			},
			ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
				_, err := rt.Secrets.Get(ctx, name)
				return err
			},
			// On EC2 the secret is Terraform's: the task only reads it.
			RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
				r.Note("check that secret %s is in Secrets Manager (Terraform creates it; a missing one fails the run here)", name)
				return nil
			},
		})
	}
	return tasks
}
