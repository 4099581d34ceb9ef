//go:build linux

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/keystone"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// EC2Paths are the LLD's paths on an EC2 host (EFS access points mounted at /opt/scripts
// and /opt/ssl-certs, and on the Keystone hosts and the jump server /opt/keystone-keys).
var EC2Paths = agent.Paths{
	Root: "/", SSLCerts: "/opt/ssl-certs", Scripts: "/opt/scripts", KeystoneKeys: "/opt/keystone-keys",
	Etc: "/etc", Data: "/var/lib", Log: "/var/log", Run: "/run",
	// Each host's own key stays on the host: nothing but certificates on EFS.
	HostTLS: "/etc/cso/tls",
}

// agentFlags are the flags of cso agent.
type agentFlags struct {
	envName, accountID, region, roleName, hostName, localDir, mysqlAdmin, mysqlAdminSecret, renderDir string
	ec2                                                                                               ec2Options
	index                                                                                             int
	dryRun, rotateFernet, rotateCredential, forceRotation, skipIfRunning                              bool
}

func init() { register(50, agentCmd) }

func agentCmd(g *Globals) *cobra.Command {
	var a agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Converge this host into its role (run from EC2 user data; re-runnable)",
		Long: `agent turns a host into its role (jump, keystone, rabbitmq, frontend, backend) and can be
re-run at any time: it changes only what differs, says what it changed, and publishes its
progress to the status store. --dry-run lists what would change and touches nothing
(exit 3 when something would change).

On EC2:        cso agent --env dev-ha --account-id 111122223333 --role keystone --index 2 --region eu-west-2
               (Amazon Linux 2023; the env file from s3://<env>-cso-files-<account>/scripts/, secrets
               and TLS material from Secrets Manager <env>/cso/..., status to the
               environment's bucket, paths of the LLD)
On this machine: cso agent --local-dir .local --host keystone02
               (one host of a local target that "cso local up" created)
Rendering:     cso agent --render DIR --env prod-ha --role keystone --index 1
               (every file, unit, package and command the role would apply to a fresh
               Amazon Linux 2023 host, written under DIR for review; nothing is run, this
               machine and AWS are not touched, secrets are <secret:NAME> placeholders;
               the env file comes from --env-dir)

Rehearsal:     cso agent --env dev-ha --account-id A --role keystone --index 2 --region eu-west-2 \
                 --platform local --root DIR --target FILE
               (the EC2 data path - env file, secrets, TLS material and status through the
               AWS APIs, which AWS_ENDPOINT_URL may point elsewhere - while files, packages
               and daemons go through the local platform under DIR, and the hosts' addresses,
               ports and database come from the target description FILE)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if a.renderDir != "" {
				if a.localDir != "" || a.dryRun || a.rotateFernet || a.rotateCredential || a.forceRotation {
					return Exit(ExitUsage, errors.New("--render goes with --env, --role and --index only"))
				}
				return renderHost(ctx, g, a.renderDir, a.envName, a.roleName, a.index, a.mysqlAdmin)
			}
			return a.converge(ctx, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.envName, "env", "", "environment name (EC2)")
	f.StringVar(&a.accountID, "account-id", "", "AWS account of the environment (EC2): names its bucket <env>-cso-files-<account>, where the env file is")
	f.StringVar(&a.region, "region", "", "AWS region of the environment (EC2; default: the instance's region from its metadata)")
	f.StringVar(&a.roleName, "role", "", "role of this host: jump, keystone, rabbitmq, frontend, backend")
	f.IntVar(&a.index, "index", 0, "1-based index of this host within its role")
	f.StringVar(&a.localDir, "local-dir", "", "converge one host of the local target in this directory instead")
	f.StringVar(&a.hostName, "host", "", "with --local-dir: the host name (e.g. keystone02); or give --role and --index")
	f.StringVar(&a.mysqlAdmin, "mysql-admin-user", agent.DefaultMySQLAdminUser, "RDS master user name (EC2)")
	f.StringVar(&a.mysqlAdminSecret, "mysql-admin-secret", "", "ARN of the RDS-managed master user secret (EC2, jump server; user data passes it)")
	f.StringVar(&a.renderDir, "render", "", "write what the role would apply to a fresh Amazon Linux 2023 host into this new directory (files/, manifest.txt, packages.txt, commands.txt) and run nothing (with --env, --role, --index; env file from --env-dir)")
	f.StringVar(&a.ec2.platform, "platform", platformAL2023, "EC2: the platform that installs packages and runs services: al2023 (the host itself), or local (rehearsal: daemons under the local supervisor, files under --root)")
	f.StringVar(&a.ec2.root, "root", "", "with --platform local: the directory standing in for the host's file systems")
	f.StringVar(&a.ec2.targetFile, "target", "", "with --platform local: target description whose hosts (addresses, ports) and database the roles use instead of the DNS names")
	f.StringVar(&a.ec2.mysqlCA, "mysql-ca", "", "EC2: PEM bundle that signs the database's certificate, which every database client verifies (default "+target.RDSCABundle+", fetched by user data; with --platform local the --target file's mysql_ca)")
	f.BoolVar(&a.dryRun, "dry-run", false, "list what would change, change nothing (exit 3 when something would)")
	f.BoolVar(&a.skipIfRunning, "skip-if-running", false, "exit 0 without doing anything when another agent run holds this host's lock (the resync timer)")
	f.BoolVar(&a.rotateFernet, "rotate-fernet", false, "on the first Keystone node: rotate the shared fernet key set first (refused until every node installed the current one)")
	f.BoolVar(&a.forceRotation, "force-rotation", false, "with --rotate-fernet: rotate even when the rotation removes a key that may still decrypt unexpired tokens (they stop validating); never while a node is behind")
	f.BoolVar(&a.rotateCredential, "rotate-credential", false, "on the first Keystone node: rotate the shared credential key set first (refused until every node installed the current one and every credential is encrypted with the primary key); the agent re-encrypts the credentials once every node installed the new set")
	return cmd
}

// converge runs the agent on this host: its runtime (local target or EC2), its progress
// log, the host lock, a requested or scheduled key rotation, the role, then the checks it
// publishes.
func (a *agentFlags) converge(ctx context.Context, g *Globals) error {
	var (
		rt    *agent.Runtime
		role  agent.Role
		store status.Store
		ship  *agent.LogShipper
		err   error
	)
	if a.localDir != "" && a.ec2 != (ec2Options{platform: platformAL2023}) {
		return Exit(ExitUsage, errors.New("--platform, --root and --target go with --env, not --local-dir"))
	}
	if a.forceRotation && !a.rotateFernet {
		return Exit(ExitUsage, errors.New("--force-rotation goes with --rotate-fernet"))
	}
	if a.localDir != "" {
		rt, role, store, err = localAgent(g, a.localDir, a.hostName, a.roleName, a.index, a.dryRun)
	} else {
		rt, role, store, ship, err = ec2Agent(ctx, g, a.envName, a.accountID, a.region, a.roleName, a.index, a.mysqlAdmin, a.mysqlAdminSecret, a.ec2, a.dryRun)
	}
	if err != nil {
		return err
	}
	progress, closeProgress, err := a.progress(g, rt, ship)
	if err != nil {
		return err
	}
	defer closeProgress()
	// One run per host at a time: the resync timer and an operator's run must not
	// converge the same files side by side.
	unlock, err := lockHost(rt)
	if errors.Is(err, errAgentRunning) && a.skipIfRunning {
		fmt.Fprintf(g.Stdout, "%s: %v; this run stops\n", rt.Host.Name, err)
		return nil
	}
	if err != nil {
		return Exit(ExitFailure, err)
	}
	defer unlock()
	rt.Progress, rt.Log, rt.DryRun, rt.Verbose = progress, g.Logger(), a.dryRun, g.Verbose
	if a.rotateFernet || a.rotateCredential {
		if err := rotate(rt, a.dryRun, a.rotateFernet, a.rotateCredential, a.forceRotation, g); err != nil {
			return err
		}
	} else if !a.dryRun {
		scheduledRotation(rt, g)
	}
	res, err := agent.Run(ctx, rt, role, store)
	if err != nil {
		if ctx.Err() != nil {
			return Exit(ExitAborted, fmt.Errorf("%w (interrupted: run the agent again, it resumes)", err))
		}
		return Exit(ExitFailure, err)
	}
	// On the local platform rehearsal of EC2 the description with the hosts' loopback
	// addresses is the one to probe, not the published copy.
	checkTarget := rt.TargetFile
	if a.ec2.targetFile != "" {
		checkTarget = a.ec2.targetFile
	}
	publishChecks(ctx, g, rt, store, checkTarget)
	switch {
	case a.dryRun && len(res.Changed) > 0:
		fmt.Fprintf(g.Stdout, "%s: %d change(s) would be made\n", rt.Host.Name, len(res.Changed))
		return Exit(ExitChanges, nil)
	case a.dryRun:
		fmt.Fprintf(g.Stdout, "%s: converged, nothing would change\n", rt.Host.Name)
	case len(res.Changed) == 0:
		fmt.Fprintf(g.Stdout, "%s: converged, no change\n", rt.Host.Name)
	default:
		fmt.Fprintf(g.Stdout, "%s: converged, %d change(s) made\n", rt.Host.Name, len(res.Changed))
	}
	return nil
}

// progress is where the run's progress goes: stdout and, unless a dry run, the role's
// progress log (LLD 6.2) and on EC2 CloudWatch Logs. close ends the log shipper.
func (a *agentFlags) progress(g *Globals, rt *agent.Runtime, ship *agent.LogShipper) (w io.Writer, close func(), err error) {
	if a.dryRun {
		return g.Stdout, func() {}, nil
	}
	if err := os.MkdirAll(rt.Paths.Log, 0o755); err != nil {
		return nil, nil, Exit(ExitFailure, err)
	}
	f, err := os.OpenFile(local.ProgressLog(rt.Paths, rt.Host.Role), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, Exit(ExitFailure, err)
	}
	if ship == nil {
		return io.MultiWriter(f, g.Stdout), func() { f.Close() }, nil
	}
	return io.MultiWriter(f, g.Stdout, ship), func() {
		if err := ship.Close(); err != nil {
			fmt.Fprintf(g.Stderr, "warning: %v (the progress is in %s)\n", err, f.Name())
		}
		f.Close()
	}, nil
}

// roleFor returns the agent role of r.
func roleFor(r envfile.Role) (agent.Role, error) {
	mk, ok := local.DefaultRoles()[r]
	if !ok {
		return nil, Exit(ExitUsage, fmt.Errorf("role %s is not part of this build", r))
	}
	return mk(), nil
}

func localAgent(g *Globals, dir, hostName, roleName string, index int, dryRun bool) (*agent.Runtime, agent.Role, status.Store, error) {
	l, err := local.NewLayout(dir)
	if err != nil {
		return nil, nil, nil, Exit(ExitUsage, err)
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return nil, nil, nil, Exit(ExitUsage, err)
	}
	if hostName == "" {
		r, err := envfile.ParseRole(roleName)
		if err != nil || index < 1 {
			return nil, nil, nil, Exit(ExitUsage, errors.New("give --host NAME, or --role and --index"))
		}
		hostName = inventory.HostName(r, index)
	}
	h, ok := inventory.Find(t.Hosts, hostName)
	if !ok {
		return nil, nil, nil, Exit(ExitUsage, fmt.Errorf("%s has no host %s", l.TargetFile(), hostName))
	}
	env, err := loadLocalEnv(g, t.Env)
	if err != nil {
		return nil, nil, nil, err
	}
	role, err := roleFor(h.Role)
	if err != nil {
		return nil, nil, nil, err
	}
	portBase := 0
	if _, ps, err := net.SplitHostPort(t.MySQL); err == nil {
		p, _ := strconv.Atoi(ps)
		portBase = p - inventory.LocalMySQLPort
	}
	rt := l.Runtime(env, t.Hosts, h, portBase, nil, dryRun)
	rt.TargetFile = l.TargetFile()
	rt.Executable, _ = os.Executable()
	return rt, role, l.Store(), nil
}

// Platforms of `cso agent --env`.
const (
	platformAL2023 = "al2023"
	platformLocal  = "local"
)

// ec2Options: the EC2 agent's platform. The default is the host itself (Amazon Linux 2023,
// the LLD's paths); --platform local keeps the whole AWS data path and converges the roles
// through the local platform instead, under root, with the hosts of targetFile.
type ec2Options struct {
	platform, root, targetFile string
	// mysqlCA is the PEM bundle the database clients verify the server with ("" = the
	// default: target.RDSCABundle on al2023, the target file's mysql_ca on local).
	mysqlCA string
}

func (o ec2Options) validate() error {
	switch o.platform {
	case platformAL2023:
		if o.root != "" || o.targetFile != "" {
			return errors.New("--root and --target go with --platform local")
		}
	case platformLocal:
		if o.root == "" || o.targetFile == "" {
			return errors.New("--platform local needs --root DIR and --target FILE")
		}
	default:
		return fmt.Errorf("--platform %q: use %s or %s", o.platform, platformAL2023, platformLocal)
	}
	return nil
}

func ec2Agent(ctx context.Context, g *Globals, envName, accountID, region, roleName string, index int, mysqlAdmin, mysqlAdminSecret string, o ec2Options, dryRun bool) (*agent.Runtime, agent.Role, status.Store, *agent.LogShipper, error) {
	if envName == "" || accountID == "" || roleName == "" || index < 1 {
		return nil, nil, nil, nil, Exit(ExitUsage, errors.New("give --env, --account-id, --role and --index (or --local-dir for the local target)"))
	}
	if err := o.validate(); err != nil {
		return nil, nil, nil, nil, Exit(ExitUsage, err)
	}
	r, err := envfile.ParseRole(roleName)
	if err != nil {
		return nil, nil, nil, nil, Exit(ExitUsage, err)
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if region == "" {
		opts = []func(*config.LoadOptions) error{config.WithEC2IMDSRegion()}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, nil, nil, Exit(ExitFailure, fmt.Errorf("AWS configuration: %w", err))
	}
	// The env file lives in the environment's bucket, whose name needs the account ID:
	// user data passes it, and the env file read there must agree.
	bucket := agent.S3Bucket{Client: s3.NewFromConfig(cfg), Name: envfile.FilesBucket(envName, accountID)}
	env, err := ec2Env(ctx, g, envName, bucket)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if env.AccountID != accountID {
		return nil, nil, nil, nil, Exit(ExitUsage, fmt.Errorf("--account-id %s but environment %s is in account %s (account_id of its env file)", accountID, env.Name, env.AccountID))
	}
	if cfg.Region != env.Region {
		return nil, nil, nil, nil, Exit(ExitUsage, fmt.Errorf("this host is in region %q but environment %s is in %q", cfg.Region, env.Name, env.Region))
	}
	hosts := inventory.Hosts(env)
	h, ok := inventory.Find(hosts, inventory.HostName(r, index))
	if !ok {
		return nil, nil, nil, nil, Exit(ExitUsage, fmt.Errorf("environment %s has no %s host %d (counts.%s is %d)", env.Name, r, index, r, env.Count(r)))
	}
	role, err := roleFor(r)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	exe, _ := os.Executable()
	rt := &agent.Runtime{
		Env: env, Host: h, Hosts: hosts, Paths: EC2Paths, Platform: agent.NewAL2023(),
		Secrets:        &agent.AWSSecrets{Client: secretsmanager.NewFromConfig(cfg), Env: env.Name, MasterSecretID: mysqlAdminSecret},
		MySQLAdminUser: mysqlAdmin,
		Bucket:         bucket,
		// The target description the admin dashboard reads; `cso deploy` writes it to the
		// shared scripts store from the Terraform outputs.
		TargetFile: filepath.Join(EC2Paths.Scripts, target.FileName),
		Executable: exe,
		DryRun:     dryRun,
	}
	if o.platform == platformAL2023 && usesDatabase[r] {
		// The database by the name its certificate carries (the RDS endpoint), from the
		// description `cso deploy` published before the binary; verified against the RDS CA
		// bundle (docs/decisions/roles.md).
		if rt.MySQL, err = ec2Database(ctx, bucket); err != nil {
			return nil, nil, nil, nil, err
		}
		rt.MySQLCAFile = target.RDSCABundle
		if o.mysqlCA != "" {
			rt.MySQLCAFile = o.mysqlCA
		}
	}
	store := &status.S3{Client: s3.NewFromConfig(cfg), Bucket: env.FilesBucket()}
	if o.platform == platformLocal {
		if err := onLocalPlatform(rt, o); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	// The agent's progress lines also go to CloudWatch Logs (the hosts' IAM role has
	// CloudWatchAgentServerPolicy): an operator reads a host's setup without logging in.
	ship := &agent.LogShipper{Client: cloudwatchlogs.NewFromConfig(cfg), Group: agent.AgentLogGroup(env.Name), Stream: h.Name}
	return rt, role, store, ship, nil
}

// onLocalPlatform moves rt's files and daemons to the local platform under o.root and takes
// the hosts (addresses and ports: several "hosts" share this machine) and the database
// from o.targetFile; secrets, TLS material, the bucket and the status store stay AWS's.
func onLocalPlatform(rt *agent.Runtime, o ec2Options) error {
	l, err := local.NewLayout(o.root)
	if err != nil {
		return Exit(ExitUsage, err)
	}
	t, err := target.Load(o.targetFile)
	if err != nil {
		return Exit(ExitUsage, err)
	}
	if t.Env != rt.Env.Name {
		return Exit(ExitUsage, fmt.Errorf("%s describes environment %q, not %q", o.targetFile, t.Env, rt.Env.Name))
	}
	h, ok := inventory.Find(t.Hosts, rt.Host.Name)
	if !ok || h.Role != rt.Host.Role || h.Index != rt.Host.Index {
		return Exit(ExitUsage, fmt.Errorf("%s has no %s %d called %s", o.targetFile, rt.Host.Role, rt.Host.Index, rt.Host.Name))
	}
	if t.MySQL == "" {
		return Exit(ExitUsage, fmt.Errorf("%s: field mysql is empty", o.targetFile))
	}
	p := l.Paths(h.Name)
	// AWS's data path: no bucket, status or secret directories; the host's own TLS
	// material comes from its secret into its own tree, as /etc/cso/tls on EC2.
	p.Status, p.Bucket, p.SecretDir = "", "", ""
	p.HostTLS = filepath.Join(p.Etc, "cso", "tls")
	rt.Host, rt.Hosts, rt.Paths, rt.Platform = h, t.Hosts, p, l.Platform(h.Name)
	rt.MySQL = t.MySQL
	rt.MySQLCAFile = t.MySQLCA
	if o.mysqlCA != "" {
		rt.MySQLCAFile = o.mysqlCA
	}
	if rt.MySQLCAFile == "" {
		return Exit(ExitUsage, fmt.Errorf("%s: field mysql_ca is empty and no --mysql-ca: the database clients verify the server and need its CA bundle", o.targetFile))
	}
	rt.TargetFile = filepath.Join(p.Scripts, target.FileName)
	return nil
}

// usesDatabase are the roles whose agent connects to the database (LLD 2.6.2: the jump
// server creates the databases and users, Keystone keeps its tables there, the
// application keeps its own).
var usesDatabase = map[envfile.Role]bool{envfile.RoleJump: true, envfile.RoleKeystone: true,
	// The application's services, through their mysql binding (internal/apppkg).
	envfile.RoleFrontend: true, envfile.RoleBackend: true}

// ec2Database is the database's host:port from the target description `cso deploy`
// published to bucket (the RDS endpoint).
func ec2Database(ctx context.Context, bucket agent.Bucket) (string, error) {
	rc, err := bucket.Open(ctx, deploy.TargetKey)
	if err != nil {
		return "", Exit(ExitFailure, fmt.Errorf("the database endpoint: %w (has cso deploy published %s?)", err, deploy.TargetKey))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, target.MaxFileSize))
	if err != nil {
		return "", Exit(ExitFailure, fmt.Errorf("read %s/%s: %w", bucket.Describe(), deploy.TargetKey, err))
	}
	t, err := target.Parse(bucket.Describe()+"/"+deploy.TargetKey, data)
	if err != nil {
		return "", Exit(ExitFailure, err)
	}
	if _, _, err := net.SplitHostPort(t.MySQL); err != nil {
		return "", Exit(ExitFailure, fmt.Errorf("%s/%s: field mysql %q is not host:port", bucket.Describe(), deploy.TargetKey, t.MySQL))
	}
	return t.MySQL, nil
}

// errAgentRunning: another agent run holds the host's lock.
var errAgentRunning = errors.New("another cso agent run is in progress on this host")

// lockHost takes the host's agent lock (an flock on <run>/cso-agent-<host>.lock, released
// by the kernel if the process dies) or fails at once with errAgentRunning.
func lockHost(rt *agent.Runtime) (unlock func(), err error) {
	if err := os.MkdirAll(rt.Paths.Run, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(rt.Paths.Run, "cso-agent-"+rt.Host.Name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (lock %s)", errAgentRunning, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// ec2Env reads the environment's definition: env.<name>.yaml in --env-dir when it is
// there, else the copy `cso deploy` published to the environment's bucket (an EC2 host
// has no checkout of this repository).
func ec2Env(ctx context.Context, g *Globals, name string, bucket agent.Bucket) (*envfile.Env, error) {
	path := envfile.PathFor(g.EnvDir, name)
	if _, err := os.Stat(path); err == nil {
		env, err := envfile.Load(path)
		if err != nil {
			return nil, Exit(ExitUsage, err)
		}
		return env, nil
	}
	key := deploy.EnvFileKey(name)
	rc, err := bucket.Open(ctx, key)
	if err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("environment %s: no %s here and %w (has cso deploy published it?)", name, path, err))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, Exit(ExitFailure, fmt.Errorf("read %s/%s: %w", bucket.Describe(), key, err))
	}
	env, err := envfile.Parse(bucket.Describe()+"/"+key, data)
	if err != nil {
		return nil, Exit(ExitUsage, err)
	}
	return env, nil
}

// rotate rotates the environment's shared fernet and/or credential key set before the run
// that installs it on this node; every other Keystone node installs it on its own next run.
// After a credential rotation the first node's agent re-encrypts the stored credentials
// (credential_migrate) on the first run after every node installed the new set.
func rotate(rt *agent.Runtime, dryRun, fernet, credential, force bool, g *Globals) error {
	var kinds []string
	if fernet {
		kinds = append(kinds, keystone.KindFernet)
	}
	if credential {
		kinds = append(kinds, keystone.KindCredential)
	}
	if rt.Host.Role != envfile.RoleKeystone || rt.Host.Index != 1 {
		return Exit(ExitUsage, fmt.Errorf("--rotate-%s runs on the first Keystone node (keystone01), not %s", kinds[0], rt.Host.Name))
	}
	nodes := keystoneNodes(rt)
	l := keystone.Paths(rt.Paths, rt.Host.Name)
	ks := rt.Env.KeystoneSettings()
	policy := keystone.FernetPolicy{MaxActive: ks.FernetMaxActiveKeys, TokenLifetime: ks.TokenExpiration, Force: force}
	for _, kind := range kinds {
		if dryRun {
			plan, err := keystone.PlanRotation(l, kind, nodes, policy)
			if err != nil {
				return Exit(ExitFailure, err)
			}
			fmt.Fprintf(g.Stdout, "would rotate the shared %s key set: key %s would become the primary%s; %s\n", kind, plan.Primary, plan.Removal(true), rotationThen(kind, rt.Host.Name))
			continue
		}
		var r keystone.Rotation
		var err error
		if kind == keystone.KindCredential {
			r, err = keystone.RotateCredential(l, nodes)
		} else {
			r, err = keystone.RotateFernet(l, nodes, policy)
		}
		if err != nil {
			return Exit(ExitFailure, err)
		}
		fmt.Fprintf(g.Stdout, "rotated the shared %s key set: key %s is the new primary%s; %s\n", kind, r.Primary, r.Removal(false), rotationThen(kind, rt.Host.Name))
	}
	return nil
}

// keystoneNodes are the names of the environment's Keystone nodes, which a rotation
// waits for.
func keystoneNodes(rt *agent.Runtime) []string {
	var nodes []string
	for _, h := range inventory.ByRole(rt.Hosts, envfile.RoleKeystone) {
		nodes = append(nodes, h.Name)
	}
	return nodes
}

// rotationThen says what follows a rotation of kind made on host, the first Keystone node.
func rotationThen(kind, host string) string {
	if kind == keystone.KindCredential {
		return "every Keystone node installs it on its next agent run; the first run on " + host + " after that re-encrypts the stored credentials with it (credential_migrate)"
	}
	return "every Keystone node installs it on its next agent run"
}

// scheduledRotation runs the key rotation schedules of the env file
// (keystone.fernet_rotation and keystone.credential_rotation), on the first Keystone node's
// agent only: on AWS its cso-agent.timer run, locally the run that `cso keys rotate` or a
// test starts. When a set's primary key is at least its interval old, the set is rotated
// with the same function and the same refusals as `cso keys rotate`: not while a node is
// behind; for fernet, not while a key it would remove may still decrypt an unexpired
// token; for credentials, not while the credential_migrate of the previous rotation is
// pending. A refusal says why and the run goes on (a later run rotates). It never forces.
func scheduledRotation(rt *agent.Runtime, g *Globals) {
	if rt.Host.Role != envfile.RoleKeystone || rt.Host.Index != 1 {
		return
	}
	l := keystone.Paths(rt.Paths, rt.Host.Name)
	ks := rt.Env.KeystoneSettings()
	now := time.Now()
	nodes := keystoneNodes(rt)
	schedules := []struct {
		kind     string
		interval time.Duration
		rotate   func() (keystone.Rotation, error)
	}{
		{keystone.KindFernet, ks.FernetRotationInterval, func() (keystone.Rotation, error) {
			return keystone.RotateFernet(l, nodes, keystone.FernetPolicy{MaxActive: ks.FernetMaxActiveKeys, TokenLifetime: ks.TokenExpiration, Now: now})
		}},
		{keystone.KindCredential, ks.CredentialRotationInterval, func() (keystone.Rotation, error) {
			return keystone.RotateCredential(l, nodes)
		}},
	}
	for _, sc := range schedules {
		due, since, err := keystone.RotationDue(l, sc.kind, sc.interval, now)
		if err != nil || !due {
			continue // no set yet (a first run creates it) or not due
		}
		r, err := sc.rotate()
		if err != nil {
			fmt.Fprintf(g.Stdout, "scheduled %s rotation (every %s; the primary key is the primary since %s) postponed: %v\n",
				sc.kind, sc.interval, since.UTC().Format(time.RFC3339), err)
			continue
		}
		fmt.Fprintf(g.Stdout, "scheduled %s rotation (every %s): key %s is the new primary%s; %s\n", sc.kind, sc.interval, r.Primary, r.Removal(false), rotationThen(sc.kind, rt.Host.Name))
	}
}
