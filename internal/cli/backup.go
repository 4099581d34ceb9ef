//go:build linux

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/backup"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/jsondur"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/target"
)

// backupFlags choose where backups are: the local target (--local-dir, its backups
// directory or --backup-dir) or an AWS environment (--env: its bucket's backups/ prefix,
// from the jump server, whose description is /opt/scripts/target.json or --target).
type backupFlags struct {
	localDir, backupDir, env, targetFile, keystoneKeys string
}

func (f *backupFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.localDir, "local-dir", "", "directory of the local target")
	fl.StringVar(&f.backupDir, "backup-dir", "", "with --local-dir: directory of the backups (default <local-dir>/backups)")
	fl.StringVar(&f.env, "env", "", "AWS environment name: backups in its bucket under backups/ (run on the jump server)")
	fl.StringVar(&f.targetFile, "target", "", "with --env: the environment's description (default "+target.EC2File+")")
	fl.StringVar(&f.keystoneKeys, "keystone-keys", "/opt/keystone-keys", "with --env: the Keystone key sets' shared store")
}

func (f *backupFlags) check() error {
	switch {
	case f.localDir != "" && f.env != "":
		return Exit(ExitUsage, errors.New("give --local-dir (the local target) or --env (an AWS environment), not both"))
	case f.localDir == "" && f.env == "":
		return Exit(ExitUsage, errors.New("give --local-dir DIR (the local target) or --env NAME (an AWS environment, from its jump server)"))
	case f.env != "" && f.backupDir != "":
		return Exit(ExitUsage, errors.New("--backup-dir is for the local target: an AWS environment's backups are in its bucket"))
	}
	return nil
}

func (f *backupFlags) localStore() (backup.Store, error) {
	if f.backupDir != "" {
		return backup.Dir{Path: f.backupDir}, nil
	}
	l, err := local.NewLayout(f.localDir)
	if err != nil {
		return nil, Exit(ExitUsage, err)
	}
	return backup.Dir{Path: l.BackupsDir()}, nil
}

// awsOptions builds the AWS clients and stores from the environment's description.
func (f *backupFlags) awsOptions(ctx context.Context, g *Globals) (backup.AWSOptions, error) {
	path := f.targetFile
	if path == "" {
		path = target.EC2File
	}
	t, err := target.Load(path)
	if err != nil {
		return backup.AWSOptions{}, Exit(ExitUsage, fmt.Errorf("%w (cso backup --env runs on the jump server, or give --target)", err))
	}
	if t.Env != f.env || t.Kind != target.KindAWS || t.StatusBucket == "" {
		return backup.AWSOptions{}, Exit(ExitUsage, fmt.Errorf("%s describes %s environment %q with bucket %q, not AWS environment %q", path, t.Kind, t.Env, t.StatusBucket, f.env))
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(t.Region))
	if err != nil {
		return backup.AWSOptions{}, Exit(ExitFailure, err)
	}
	ca, err := t.CACertPEM()
	if err != nil {
		return backup.AWSOptions{}, Exit(ExitUsage, err)
	}
	o := backup.AWSOptions{Env: t.Env, CAPEM: ca, KeystoneKeys: f.keystoneKeys, Version: buildVersion().String(), Out: g.Stderr,
		Store: backup.S3{Client: s3.NewFromConfig(cfg), Bucket: t.StatusBucket, KMSKeyID: t.KMSKeyARN},
		RDS:   backup.RDS{Client: rds.NewFromConfig(cfg)}}
	if rs := inventory.ByRole(t.Hosts, envfile.RoleRabbitMQ); len(rs) > 0 {
		secrets := &agent.AWSSecrets{Client: secretsmanager.NewFromConfig(cfg), Env: t.Env}
		pw, err := secrets.Get(ctx, agent.SecretRabbitMQ)
		if err != nil {
			return o, Exit(ExitFailure, err)
		}
		if o.Rabbit, err = backup.RabbitClient(rs[0], ca, pw); err != nil {
			return o, Exit(ExitFailure, err)
		}
	}
	return o, nil
}

func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func init() {
	register(85, func(g *Globals) *cobra.Command {
		var f backupFlags
		var keep backup.Retention
		cmd := &cobra.Command{
			Use:   "backup",
			Short: "Take a consistent backup: database, Keystone key sets, CA certificate, RabbitMQ definitions",
			Long: `backup takes a consistent backup of an environment with a manifest (id, environment,
time, cso version, each artefact's size and SHA-256) written last.

Local target (--local-dir): a mysqldump of every database of the local MariaDB in one
transaction, the Keystone fernet and credential key sets, the CA certificate and the
RabbitMQ definitions of vhost ssp, to <local-dir>/backups/<id>/ (0700; kept by
` + "`local down --purge`" + `).

AWS (--env, on the jump server: its timer runs it on the env file's backup schedule): an
RDS snapshot of <env>-db, and the key sets, CA certificate and RabbitMQ definitions to the
environment's bucket under backups/<id>/ with SSE-KMS under the environment's key.

--keep-count/--keep-days delete older backups once this one is stored (the newest N are
kept, and any younger than D days).`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := f.check(); err != nil {
					return err
				}
				if keep.Count < 0 || keep.Days < 0 {
					return Exit(ExitUsage, errors.New("--keep-count and --keep-days must be 0 or more"))
				}
				ctx, stop := signalContext(cmd)
				defer stop()
				var m *backup.Manifest
				var err error
				if f.localDir != "" {
					store, serr := f.localStore()
					if serr != nil {
						return serr
					}
					m, err = local.Backup(ctx, local.BackupOptions{Dir: f.localDir, Store: store, Retention: keep, Out: g.Stderr})
					if errors.Is(err, local.ErrNoTarget) {
						return Exit(ExitUsage, err)
					}
				} else {
					o, oerr := f.awsOptions(ctx, g)
					if oerr != nil {
						return oerr
					}
					o.Retention = keep
					m, err = backup.BackupAWS(ctx, o)
				}
				if err != nil {
					return Exit(ExitFailure, err)
				}
				if g.JSON() {
					return writeJSON(g.Stdout, m)
				}
				fmt.Fprintf(g.Stdout, "%s\n", m.ID)
				return nil
			},
		}
		f.add(cmd)
		cmd.Flags().IntVar(&keep.Count, "keep-count", 0, "retention: keep at least the newest N backups (0: no count rule)")
		cmd.Flags().IntVar(&keep.Days, "keep-days", 0, "retention: keep backups younger than D days (0: no age rule)")
		cmd.AddCommand(backupListCmd(g))
		return cmd
	})
	register(86, restoreCmd)
}

// listed is one row of `cso backup list -o json`.
type listed struct {
	ID       string    `json:"id"`
	Env      string    `json:"env"`
	Created  time.Time `json:"created"`
	AgeMS    float64   `json:"age_ms"`
	Size     int64     `json:"size"`
	Holds    string    `json:"holds"`
	Snapshot string    `json:"db_snapshot,omitempty"`
}

func backupListCmd(g *Globals) *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backups with their age, size and what each holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			var store backup.Store
			if f.localDir != "" {
				s, err := f.localStore()
				if err != nil {
					return err
				}
				store = s
			} else {
				o, err := f.awsOptionsForList(ctx)
				if err != nil {
					return err
				}
				store = o
			}
			list, err := backup.List(ctx, store)
			if err != nil {
				return Exit(ExitFailure, err)
			}
			now := time.Now()
			rows := []listed{}
			for _, m := range list {
				r := listed{ID: m.ID, Env: m.Env, Created: m.Created, AgeMS: jsondur.Millis(now.Sub(m.Created)), Size: m.Size(), Holds: m.Holds()}
				if m.Snapshot != nil {
					r.Snapshot = m.Snapshot.ID
				}
				rows = append(rows, r)
			}
			if g.JSON() {
				return writeJSON(g.Stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintf(g.Stdout, "no backups in %s\n", store.Where())
				return nil
			}
			w := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tCREATED\tAGE\tSIZE\tHOLDS")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Created.Format(time.RFC3339), ageString(jsondur.FromMillis(r.AgeMS)), sizeString(r.Size), r.Holds)
			}
			return w.Flush()
		},
	}
	f.add(cmd)
	return cmd
}

// awsOptionsForList is the bucket store alone: listing needs no key sets nor RabbitMQ.
func (f *backupFlags) awsOptionsForList(ctx context.Context) (backup.Store, error) {
	path := f.targetFile
	if path == "" {
		path = target.EC2File
	}
	t, err := target.Load(path)
	if err != nil {
		return nil, Exit(ExitUsage, fmt.Errorf("%w (run on the jump server, or give --target)", err))
	}
	if t.Env != f.env || t.StatusBucket == "" {
		return nil, Exit(ExitUsage, fmt.Errorf("%s describes environment %q with bucket %q, not %q", path, t.Env, t.StatusBucket, f.env))
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(t.Region))
	if err != nil {
		return nil, Exit(ExitFailure, err)
	}
	return backup.S3{Client: s3.NewFromConfig(cfg), Bucket: t.StatusBucket, KMSKeyID: t.KMSKeyARN}, nil
}

func ageString(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return d.Round(time.Second).String()
	}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func restoreCmd(g *Globals) *cobra.Command {
	var f backupFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "restore BACKUP",
		Short: "Restore a backup (verified first: a tampered or foreign backup changes nothing)",
		Long: `restore verifies the backup's manifest (its environment, and every artefact's size and
SHA-256) before anything is touched: a tampered or foreign backup exits 2 and changes
nothing. A restore into a running environment is refused (exit 2) without --force.

Local target (--local-dir): into an empty or purged directory it brings up a stack of the
backup's shape first (as ` + "`local up`" + ` with the backup's environment file); then it stops the
Keystone nodes, publishes the key sets, loads the database, bootstraps Keystone with this
stack's admin password, declares the RabbitMQ definitions and converges every host again.

AWS (--env, on the jump server): restores <env>-db from the backup's RDS snapshot in
place (the current instance is kept, renamed <env>-db-pre-<id>; the endpoint does not
change), writes the key sets to the shared store (each Keystone node installs them at its
next agent run) and declares the RabbitMQ definitions; it prints the two Terraform state
commands that make the workspace name the restored instance (docs/runbooks/restore.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			id := args[0]
			if !backup.ValidID(id) {
				return Exit(ExitUsage, fmt.Errorf("%q is not a backup id (e.g. 20261205T181500Z-1a2b3c; see cso backup list)", id))
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			if f.env != "" {
				return restoreAWS(ctx, g, f, id, force)
			}
			return restoreLocal(ctx, g, f, id, force)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "restore into an environment that is running, replacing its data")
	return cmd
}

// restoreExit is the exit of a failed restore: 2 for a backup that is invalid or a restore
// refused, 4 when interrupted, else 1.
func restoreExit(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, backup.ErrInvalid) || errors.Is(err, backup.ErrRefused):
		return Exit(ExitUsage, err)
	case ctx.Err() != nil:
		return Exit(ExitAborted, err)
	}
	return Exit(ExitFailure, err)
}

// restoreAWS restores backup id of --env from the jump server and prints the Terraform
// state commands that make the workspace name the restored instance.
func restoreAWS(ctx context.Context, g *Globals, f backupFlags, id string, force bool) error {
	o, err := f.awsOptions(ctx, g)
	if err != nil {
		return err
	}
	res, err := backup.RestoreAWS(ctx, o, id, force)
	if err != nil {
		return restoreExit(ctx, err)
	}
	if g.JSON() {
		return writeJSON(g.Stdout, res)
	}
	fmt.Fprintf(g.Stdout, "restored %s: database %s (%s), %d RabbitMQ objects; the previous database is %s\n",
		id, res.Database.Instance, res.Database.Endpoint, res.RabbitMQObjects, res.Database.Previous)
	fmt.Fprintln(g.Stdout, "make the Terraform workspace name the restored instance:")
	for _, c := range res.Terraform {
		fmt.Fprintln(g.Stdout, "  "+c)
	}
	return nil
}

// restoreLocal restores backup id into --local-dir, with the environment file the stack is
// (or was) built from: the backup's.
func restoreLocal(ctx context.Context, g *Globals, f backupFlags, id string, force bool) error {
	store, err := f.localStore()
	if err != nil {
		return err
	}
	m, err := backup.ReadManifest(ctx, store, id)
	if err != nil {
		return restoreExit(ctx, err)
	}
	env, err := loadLocalEnv(g, m.Env)
	if err != nil {
		return err
	}
	exe, _ := os.Executable()
	o := local.RestoreOptions{Up: local.Options{Dir: f.localDir, Env: env, Out: g.Stderr, Log: g.Logger(), Executable: exe, Verbose: g.Verbose},
		Store: store, ID: id, Force: force}
	res, err := local.Restore(ctx, o)
	if err != nil {
		if res != nil && res.Up != nil && !g.JSON() {
			writeUpReport(g, res.Up, o.Up)
		}
		return restoreExit(ctx, err)
	}
	if g.JSON() {
		return writeJSON(g.Stdout, res)
	}
	writeUpReport(g, res.Up, o.Up)
	fmt.Fprintf(g.Stdout, "restored %s (taken %s) into %s in %s\n", id, m.Created.Format(time.RFC3339), absOr(f.localDir), res.Duration.Round(time.Second))
	return nil
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
