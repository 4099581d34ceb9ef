package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/status"
)

// `cso keys`: the Keystone key sets of an environment (docs/cli.md, docs/decisions/agent.md
// "Key rotation on a schedule"). Locally the shared store is read directly; on AWS, where
// the operator cannot mount the keys' EFS access point, the Keystone nodes' status
// documents say which set each holds and when its keys were written.

func init() {
	register(66, func(g *Globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "keys",
			Short: "Keystone's fernet and credential key sets: status and rotation",
			Args:  cobra.NoArgs,
		}
		cmd.AddCommand(keysStatusCmd(g), keysRotateCmd(g))
		return cmd
	})
}

// keysTarget is the environment `cso keys` looks at: a local target (local set: Linux
// only, keys_linux.go) or an AWS environment (its status store in the bucket; every OS).
type keysTarget struct {
	env   *envfile.Env
	hosts []inventory.Host
	local *localKeys // local target
	store status.Store
	aws   aws.Config // AWS environment: the operator's configuration
}

// localKeys is where a local target keeps its key sets.
type localKeys struct {
	dir    string          // the local target's directory
	shared keystone.Layout // the keystone role's layout of the first node: its SharedDir is the store of key sets
}

func (k keysTarget) nodes() []string {
	var out []string
	for _, h := range inventory.ByRole(k.hosts, envfile.RoleKeystone) {
		out = append(out, h.Name)
	}
	return out
}

// rotationNodes are the Keystone nodes a rotation runs on, sorted (the first rotates); an
// error when the target has none.
func (k keysTarget) rotationNodes() ([]string, error) {
	nodes := slices.Sorted(slices.Values(k.nodes()))
	if len(nodes) > 0 {
		return nodes, nil
	}
	if k.local != nil {
		return nil, Exit(ExitUsage, errors.New("the local target has no Keystone node"))
	}
	return nil, Exit(ExitUsage, fmt.Errorf("environment %s has no Keystone node", k.env.Name))
}

func loadKeysTarget(ctx context.Context, g *Globals, envName, localDir string) (keysTarget, error) {
	switch {
	case envName != "" && localDir != "":
		return keysTarget{}, Exit(ExitUsage, errors.New("give --env NAME or --local-dir DIR, not both"))
	case envName == "" && localDir == "":
		return keysTarget{}, Exit(ExitUsage, errors.New("give --env NAME (an AWS environment) or --local-dir DIR (a local target)"))
	case localDir != "":
		return loadLocalKeysTarget(g, localDir)
	}
	env, err := envfile.Load(envfile.PathFor(g.EnvDir, envName))
	if err != nil {
		return keysTarget{}, Exit(ExitUsage, err)
	}
	hosts := inventory.Hosts(env)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.Region))
	if err != nil {
		return keysTarget{}, Exit(ExitFailure, fmt.Errorf("AWS configuration: %w", err))
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	return keysTarget{env: env, hosts: hosts, store: &status.S3{Client: client, Bucket: env.FilesBucket()}, aws: cfg}, nil
}

// keyStatus is one key of a set as `cso keys status` reports it.
type keyStatus struct {
	Name  string    `json:"name"`
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	AgeMS int64     `json:"age_ms,omitempty"`
}

// nodeKeys is which set one Keystone node holds.
type nodeKeys struct {
	Host    string   `json:"host"`
	Holds   string   `json:"holds"` // "current", "behind", "differs" or "unknown"
	Keys    []string `json:"keys,omitempty"`
	Problem string   `json:"problem,omitempty"`
}

// keySetStatus is one key set of the environment.
type keySetStatus struct {
	Kind   string      `json:"kind"`
	Source string      `json:"source"`
	Keys   []keyStatus `json:"keys"`
	Nodes  []nodeKeys  `json:"nodes"`
	// The schedule and the next rotation (the token lifetime: fernet only).
	RotationInterval time.Duration `json:"-"`
	TokenLifetime    time.Duration `json:"-"`
	RotationMS       int64         `json:"rotation_interval_ms,omitempty"`
	TokenLifetimeMS  int64         `json:"token_lifetime_ms,omitempty"`
	MaxActiveKeys    int           `json:"max_active_keys,omitempty"`
	NextRotation     time.Time     `json:"next_rotation,omitzero"`
	NextRotationNote string        `json:"next_rotation_note,omitempty"`
}

func keysStatusCmd(g *Globals) *cobra.Command {
	var envName, localDir string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "The fernet and credential key sets: each key's age, which nodes hold which set, the next scheduled rotation",
		Long: `status shows each shared key set of the environment's Keystone nodes (fernet, credential):
its keys with their state (staged 0, primary, secondary) and age, which set each node holds
(from the digests its agent publishes in its status document: current, or behind when it
has not installed the current set yet), and the schedule from the env file with when the
next scheduled rotation runs: for the fernet set keystone.fernet_rotation.interval,
keystone.token_expiration and the derived max_active_keys; for the credential set
keystone.credential_rotation.interval (and, locally, why a rotation would be refused now:
a node behind, or the credential_migrate of the previous rotation pending). Locally the shared store is read;
on AWS the Keystone nodes' status documents in the environment's bucket. -o json for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			kt, err := loadKeysTarget(ctx, g, envName, localDir)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			var sets []keySetStatus
			for _, kind := range []string{keystone.KindFernet, keystone.KindCredential} {
				s, err := keySetState(ctx, kt, kind, now)
				if err != nil {
					return Exit(ExitFailure, err)
				}
				sets = append(sets, s)
			}
			if g.JSON() {
				enc := json.NewEncoder(g.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"env": kt.env.Name, "time": now, "key_sets": sets})
			}
			writeKeySets(g.Stdout, sets, now)
			return nil
		},
	}
	cmd.Flags().StringVar(&envName, "env", "", "AWS environment (reads the Keystone nodes' status documents in its bucket)")
	cmd.Flags().StringVar(&localDir, "local-dir", "", "local target directory (reads its shared key store)")
	return cmd
}

// keySetState describes the set of kind.
func keySetState(ctx context.Context, kt keysTarget, kind string, now time.Time) (keySetStatus, error) {
	s := keySetStatus{Kind: kind}
	nodes := kt.nodes()
	pub := readPublishedKeys(ctx, kt, nodes, kind)
	var current status.KeyDigests
	if kt.local != nil {
		var err error
		if current, err = s.keysOfSharedStore(kt, kind, now); err != nil {
			return s, err
		}
	} else {
		current = s.keysOfStatusDocuments(nodes, pub, now)
	}
	s.compareNodes(nodes, pub, current)
	switch kind {
	case keystone.KindFernet:
		s.nextFernetRotation(kt, nodes, now)
	case keystone.KindCredential:
		s.nextCredentialRotation(kt, nodes)
	}
	return s, nil
}

// publishedKeys are the key digests each Keystone node's agent published, the key times of
// the newest status document that has them, and why a node has none.
type publishedKeys struct {
	digests  map[string]status.KeyDigests
	times    map[string]time.Time
	problems map[string]string
}

// readPublishedKeys reads each node's published set of kind from its status document.
func readPublishedKeys(ctx context.Context, kt keysTarget, nodes []string, kind string) publishedKeys {
	digestFact, timesFact := status.FactFernetKeys, status.FactFernetKeyTimes
	if kind == keystone.KindCredential {
		digestFact, timesFact = status.FactCredentialKeys, status.FactCredentialKeyTimes
	}
	p := publishedKeys{digests: map[string]status.KeyDigests{}, times: map[string]time.Time{}, problems: map[string]string{}}
	var newestDoc time.Time
	for _, n := range nodes {
		doc, err := kt.store.Get(ctx, n)
		if err != nil {
			p.problems[n] = err.Error()
			continue
		}
		d, err := status.ParseKeyDigests(doc.Facts[digestFact])
		if err != nil || len(d) == 0 {
			p.problems[n] = "its agent has published no " + kind + " key digests"
			continue
		}
		p.digests[n] = d
		if t, err := keystone.ParseKeyTimes(doc.Facts[timesFact]); err == nil && len(t) > 0 && doc.UpdatedAt.After(newestDoc) {
			p.times, newestDoc = t, doc.UpdatedAt
		}
	}
	return p
}

// keysOfSharedStore lists the local target's current set, the shared store's, and
// returns its digests.
func (s *keySetStatus) keysOfSharedStore(kt keysTarget, kind string, now time.Time) (status.KeyDigests, error) {
	infos, err := keystone.ReadKeySet(kt.local.shared, kind)
	if err != nil {
		return nil, err
	}
	s.Source = "shared store " + kt.local.shared.SharedDir
	current := status.KeyDigests{}
	for _, k := range infos {
		s.Keys = append(s.Keys, keyStatus{Name: k.Name, State: k.State, Since: k.Since, AgeMS: now.Sub(k.Since).Milliseconds()})
		h, _ := status.ParseKeyDigests(k.Name + "=" + k.Digest)
		current[k.Name] = h[k.Name]
	}
	return current, nil
}

// keysOfStatusDocuments lists an AWS environment's current set: the published set with the
// highest primary (a rotation only ever raises it), and returns its digests.
func (s *keySetStatus) keysOfStatusDocuments(nodes []string, pub publishedKeys, now time.Time) status.KeyDigests {
	s.Source = "the Keystone nodes' status documents"
	var current status.KeyDigests
	for _, n := range nodes {
		if d, ok := pub.digests[n]; ok && (current == nil || highest(d) > highest(current)) {
			current = d
		}
	}
	for _, name := range current.Names() {
		st := keystone.KeySecondary
		switch name {
		case "0":
			st = keystone.KeyStaged
		case fmt.Sprint(highest(current)):
			st = keystone.KeyPrimary
		}
		k := keyStatus{Name: name, State: st}
		if t, ok := pub.times[name]; ok {
			k.Since, k.AgeMS = t, now.Sub(t).Milliseconds()
		}
		s.Keys = append(s.Keys, k)
	}
	return current
}

// compareNodes says of each node whether it holds the current set, is behind or differs.
func (s *keySetStatus) compareNodes(nodes []string, pub publishedKeys, current status.KeyDigests) {
	for _, n := range nodes {
		nk := nodeKeys{Host: n, Holds: "unknown", Problem: pub.problems[n]}
		if d, ok := pub.digests[n]; ok {
			nk.Keys = d.Names()
			switch {
			case d.String() == current.String():
				nk.Holds = "current"
			case highest(d) < highest(current):
				nk.Holds = "behind"
			default:
				nk.Holds = "differs"
			}
		}
		s.Nodes = append(s.Nodes, nk)
	}
}

// nextFernetRotation fills the rotation policy and when the next rotation is due; locally,
// a rotation that would purge a key of unexpired tokens is postponed or refused as the
// rotation itself would.
func (s *keySetStatus) nextFernetRotation(kt keysTarget, nodes []string, now time.Time) {
	ks := kt.env.KeystoneSettings()
	s.RotationInterval, s.TokenLifetime, s.MaxActiveKeys = ks.FernetRotationInterval, ks.TokenExpiration, ks.FernetMaxActiveKeys
	s.RotationMS, s.TokenLifetimeMS = ks.FernetRotationInterval.Milliseconds(), ks.TokenExpiration.Milliseconds()
	for _, k := range s.Keys {
		if k.State == keystone.KeyPrimary && !k.Since.IsZero() {
			s.NextRotation = k.Since.Add(ks.FernetRotationInterval).UTC()
		}
	}
	if kt.local == nil || s.NextRotation.IsZero() {
		return
	}
	at := s.NextRotation
	if at.Before(now) {
		at = now
	}
	_, err := keystone.PlanRotation(kt.local.shared, keystone.KindFernet, nodes,
		keystone.FernetPolicy{MaxActive: ks.FernetMaxActiveKeys, TokenLifetime: ks.TokenExpiration, Now: at})
	var unsafe *keystone.UnsafePurgeError
	switch {
	case errors.As(err, &unsafe):
		s.NextRotation = unsafe.SafeAfter.UTC()
		s.NextRotationNote = fmt.Sprintf("postponed until key %s's tokens have expired", unsafe.Key)
	case err != nil:
		s.NextRotationNote = "refused now: " + err.Error()
	}
}

// nextCredentialRotation fills the credential set's schedule; locally it says when the
// rotation would be refused now (a node behind, a credential_migrate pending), which makes
// the scheduled run postpone it until that is resolved.
func (s *keySetStatus) nextCredentialRotation(kt keysTarget, nodes []string) {
	ks := kt.env.KeystoneSettings()
	s.RotationInterval, s.RotationMS = ks.CredentialRotationInterval, ks.CredentialRotationInterval.Milliseconds()
	s.MaxActiveKeys = keystone.CredentialMaxActiveKeys
	for _, k := range s.Keys {
		if k.State == keystone.KeyPrimary && !k.Since.IsZero() {
			s.NextRotation = k.Since.Add(ks.CredentialRotationInterval).UTC()
		}
	}
	if kt.local != nil && !s.NextRotation.IsZero() {
		if _, err := keystone.PlanRotation(kt.local.shared, keystone.KindCredential, nodes, keystone.FernetPolicy{}); err != nil {
			s.NextRotationNote = "refused now: " + err.Error()
		}
	}
}

// highest is the primary key's index of a set (-1 for none).
func highest(d status.KeyDigests) int {
	p := -1
	for _, n := range d.Names() {
		var i int
		if _, err := fmt.Sscan(n, &i); err == nil && i > p {
			p = i
		}
	}
	return p
}

func writeKeySets(w io.Writer, sets []keySetStatus, now time.Time) {
	for i, s := range sets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s key set (%s)\n", s.Kind, s.Source)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  KEY\tSTATE\tSINCE\tAGE")
		for _, k := range s.Keys {
			since, age := "-", "-"
			if !k.Since.IsZero() {
				since, age = k.Since.Format(time.RFC3339), (time.Duration(k.AgeMS) * time.Millisecond).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.Name, k.State, since, age)
		}
		tw.Flush()
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tHOLDS\tKEYS")
		for _, n := range s.Nodes {
			keys := strings.Join(n.Keys, ",")
			if n.Problem != "" {
				keys = n.Problem
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", n.Host, n.Holds, keys)
		}
		tw.Flush()
		if s.RotationInterval != 0 {
			if s.Kind == keystone.KindCredential {
				fmt.Fprintf(w, "  schedule: every %s, then credential_migrate once every node holds the set; %d keys (Keystone's fixed count)\n", s.RotationInterval, s.MaxActiveKeys)
			} else {
				fmt.Fprintf(w, "  schedule: every %s, tokens live %s, max_active_keys %d\n", s.RotationInterval, s.TokenLifetime, s.MaxActiveKeys)
			}
			if !s.NextRotation.IsZero() {
				in := s.NextRotation.Sub(now).Round(time.Second)
				when := "due now"
				if in > 0 {
					when = "in " + in.String()
				}
				fmt.Fprintf(w, "  next rotation: %s (%s)", s.NextRotation.Format(time.RFC3339), when)
				if s.NextRotationNote != "" {
					fmt.Fprintf(w, "; %s", s.NextRotationNote)
				}
				fmt.Fprintln(w)
			}
		}
	}
}

func keysRotateCmd(g *Globals) *cobra.Command {
	var envName, localDir string
	var force, printOnly, dryRun bool
	cmd := &cobra.Command{
		Use:   "rotate fernet|credential",
		Short: "Rotate a key set now, then distribute it to every Keystone node",
		Long: `rotate rotates the shared fernet or credential key set now, outside the schedule.

Locally (--local-dir) it runs the agent of keystone01 with --rotate-fernet (or
--rotate-credential), then every other Keystone node's agent, which installs the new set;
for the credential set keystone01's agent then runs once more and re-encrypts the stored
credentials (credential_migrate).

On AWS (--env) it does the same through AWS Systems Manager (the operator's credentials
need ssm:SendCommand, ssm:ListCommands and ssm:ListCommandInvocations): it runs the agent
with the rotation on keystone01 (the instance tagged Environment=<env>, Name=keystone01),
waits for it, runs every other node's agent, then checks the key sets the nodes published.
--print prints those aws ssm commands instead (docs/decisions/agent.md "Key rotation on a
schedule").

A rotation is refused while a node has not installed the current set, and a fernet
rotation is refused when it would remove a key that may still decrypt unexpired tokens:
the message says from when it is safe. --force rotates anyway (those tokens stop
validating); it never skips a node that is behind.

--dry-run runs only keystone01's agent, with the rotation and --dry-run: it says which key
would become the primary, or why the rotation would be refused (exit 1), and changes
nothing. On AWS it does so through Systems Manager and prints what the agent printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			kind := args[0]
			if kind != keystone.KindFernet && kind != keystone.KindCredential {
				return Exit(ExitUsage, fmt.Errorf("no key set %q: rotate fernet or credential", kind))
			}
			if force && kind != keystone.KindFernet {
				return Exit(ExitUsage, errors.New("--force applies to the fernet set only (the credential set waits for credential_migrate, which --force cannot skip)"))
			}
			kt, err := loadKeysTarget(ctx, g, envName, localDir)
			if err != nil {
				return err
			}
			flags := []string{"--rotate-" + kind}
			if force {
				flags = append(flags, "--force-rotation")
			}
			if dryRun {
				flags = append(flags, "--dry-run")
			}
			if kt.local == nil {
				if printOnly {
					printSSMRotation(g.Stdout, kt, flags, dryRun)
					return nil
				}
				r := ssmRunner{client: ssm.NewFromConfig(kt.aws), env: kt.env.Name, timeout: 15 * time.Minute, poll: 5 * time.Second}
				if dryRun {
					return planAWS(ctx, g, kt, r, flags)
				}
				return rotateAWS(ctx, g, kt, r, kind, flags)
			}
			if dryRun {
				return planLocal(ctx, g, kt, flags)
			}
			return rotateLocal(ctx, g, kt, kind, flags)
		},
	}
	cmd.Flags().StringVar(&envName, "env", "", "AWS environment: rotate on keystone01 through AWS Systems Manager, then run the other nodes' agents")
	cmd.Flags().BoolVar(&printOnly, "print", false, "with --env: print the aws ssm commands instead of running them")
	cmd.Flags().StringVar(&localDir, "local-dir", "", "local target directory: rotate and distribute now")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only say which key would become the primary, or why the rotation would be refused (keystone01's agent with --dry-run); change nothing")
	cmd.Flags().BoolVar(&force, "force", false, "fernet: rotate even when a key that may still decrypt unexpired tokens is removed (never while a node is behind)")
	return cmd
}

// agentRun is one Keystone node's agent run of a rotation; rotate: with the rotation flags.
type agentRun struct {
	host   string
	rotate bool
}

// rotationRuns is the order of a rotation on both targets: the first node's agent rotates,
// every other node's installs the new set, and for the credential set the first node's next
// run re-encrypts the stored credentials (credential_migrate) once every node holds it.
func rotationRuns(kind string, nodes []string) []agentRun {
	nodes = slices.Sorted(slices.Values(nodes))
	runs := []agentRun{{host: nodes[0], rotate: true}}
	for _, n := range nodes[1:] {
		runs = append(runs, agentRun{host: n})
	}
	if kind == keystone.KindCredential && len(nodes) > 1 {
		runs = append(runs, agentRun{host: nodes[0]})
	}
	return runs
}

// runLocalAgent runs the agent of a local host with extra flags, its output on the
// command's; a failure says that nothing more was run.
func runLocalAgent(ctx context.Context, g *Globals, kt keysTarget, host string, extra ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return Exit(ExitFailure, err)
	}
	args := append([]string{"agent", "--local-dir", kt.local.dir, "--host", host, "--env-dir", g.EnvDir}, extra...)
	fmt.Fprintf(g.Stderr, "running cso %s\n", strings.Join(args, " "))
	c := exec.CommandContext(ctx, exe, args...)
	c.Stdout, c.Stderr = g.Stdout, g.Stderr
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Exit(ee.ExitCode(), fmt.Errorf("the agent of %s failed (exit %d): nothing more was run", host, ee.ExitCode()))
		}
		return Exit(ExitFailure, err)
	}
	return nil
}

// planLocal runs only the first node's agent with the rotation flags and --dry-run.
func planLocal(ctx context.Context, g *Globals, kt keysTarget, flags []string) error {
	nodes, err := kt.rotationNodes()
	if err != nil {
		return err
	}
	return runLocalAgent(ctx, g, kt, nodes[0], flags...)
}

// rotateLocal runs keystone01's agent with the rotation flags, then the other nodes'.
func rotateLocal(ctx context.Context, g *Globals, kt keysTarget, kind string, flags []string) error {
	nodes, err := kt.rotationNodes()
	if err != nil {
		return err
	}
	for _, r := range rotationRuns(kind, nodes) {
		var extra []string
		if r.rotate {
			extra = flags
		}
		if err := runLocalAgent(ctx, g, kt, r.host, extra...); err != nil {
			return err
		}
	}
	behind, err := keystone.BehindHosts(kt.local.shared, kind, nodes)
	if err != nil {
		return Exit(ExitFailure, err)
	}
	if len(behind) > 0 {
		return Exit(ExitFailure, fmt.Errorf("rotated, but %s did not record the new %s set", strings.Join(behind, ", "), kind))
	}
	fmt.Fprintf(g.Stdout, "every Keystone node (%s) holds the new %s key set\n", strings.Join(nodes, ", "), kind)
	return nil
}

// awsAgentCommand is keystone01's agent run with the rotation flags, as its timer runs it.
func awsAgentCommand(kt keysTarget, flags []string) string {
	env := kt.env
	return fmt.Sprintf("/usr/local/bin/cso agent --env %s --account-id %s --role keystone --index 1 --region %s %s",
		env.Name, env.AccountID, env.Region, strings.Join(flags, " "))
}

// printSSMRotation prints how to rotate on an AWS environment: the operator's workstation
// cannot reach the keys' EFS access point, keystone01 can.
func printSSMRotation(w io.Writer, kt keysTarget, flags []string, dryRun bool) {
	env := kt.env
	agentArgs := awsAgentCommand(kt, flags)
	target := func(host string) string {
		return fmt.Sprintf("--targets Key=tag:Environment,Values=%s Key=tag:Name,Values=%s", env.Name, host)
	}
	fmt.Fprintf(w, "On AWS the rotation runs on keystone01, which mounts the key store. Run:\n\n")
	fmt.Fprintf(w, "  aws ssm send-command --region %s --document-name AWS-RunShellScript %s \\\n    --parameters 'commands=[\"%s\"]'\n\n",
		env.Region, target(inventory.HostName(envfile.RoleKeystone, 1)), agentArgs)
	if dryRun {
		fmt.Fprintf(w, "It changes nothing: its output (aws ssm list-command-invocations --command-id <id> --details) says which key would become the primary, or why the rotation would be refused.\n")
		return
	}
	others := kt.nodes()
	if len(others) > 1 {
		fmt.Fprintf(w, "The other Keystone nodes (%s) install the new set on their next cso-agent.timer run (within %s), or at once with:\n\n",
			strings.Join(others[1:], ", "), agent.ResyncInterval)
		for _, n := range others[1:] {
			fmt.Fprintf(w, "  aws ssm send-command --region %s --document-name AWS-RunShellScript %s \\\n    --parameters 'commands=[\"systemctl start cso-agent.service\"]'\n", env.Region, target(n))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Then `cso keys status --env %s` shows every node holding the new set.\n", env.Name)
}
