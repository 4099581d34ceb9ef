package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/backup"
	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/rabbitmqapi"
	"github.com/cso-ssp/platform/internal/target"
)

// BackupsDir is where backups of the local target go by default: inside its directory,
// 0700 (they hold the Keystone key sets). `down --purge` keeps it when it holds backups.
func (l Layout) BackupsDir() string { return filepath.Join(l.Dir, "backups") }

// KeystoneKeys is the shared store of the Keystone key sets (the EFS /opt/keystone-keys).
func (l Layout) KeystoneKeys() string { return filepath.Join(l.SSLCerts(), "keystone") }

// systemDatabases are MariaDB's own: never dumped nor restored (the database users and
// their passwords are the jump role's, from this stack's secrets).
var systemDatabases = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

// BackupOptions shape one backup of the local target.
type BackupOptions struct {
	Dir string
	// Store receives the backup (default: the target's BackupsDir).
	Store backup.Store
	// Retention deletes older backups once this one is stored (zero: keep all).
	Retention backup.Retention
	Out       io.Writer
	Now       func() time.Time
}

// Backup takes a consistent backup of the local target in o.Dir: a mysqldump of its
// databases (one transaction), the Keystone key sets, the CA certificate and the RabbitMQ
// definitions, with a manifest written last.
func Backup(ctx context.Context, o BackupOptions) (*backup.Manifest, error) {
	start := time.Now()
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l, err := NewLayout(o.Dir)
	if err != nil {
		return nil, err
	}
	envName, ha, portBase, err := TargetShape(l.Dir)
	if err != nil {
		return nil, err
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return nil, err
	}
	if o.Store == nil {
		o.Store = backup.Dir{Path: l.BackupsDir()}
	}
	m := &backup.Manifest{ID: backup.NewID(o.Now()), Env: envName, Kind: "local", Created: o.Now().UTC(),
		CSOVersion: buildinfo.Read().String(), Shape: &backup.Shape{HA: ha, PortBase: portBase}}
	files := map[string][]byte{}
	add := func(name, what string, data []byte) {
		m.Add(name, what, data)
		files[name] = data
		fmt.Fprintf(o.Out, "  %-20s %9d bytes  %s\n", name, len(data), what)
	}

	dump, dbs, err := mysqldump(ctx, l, portBase)
	if err != nil {
		return nil, err
	}
	add(backup.ArtDatabase, "databases "+strings.Join(dbs, ", "), dump)
	keys, err := backup.ReadKeySets(l.KeystoneKeys())
	if err != nil {
		return nil, err
	}
	add(backup.ArtKeystoneKeys, "Keystone fernet and credential key sets", keys)
	ca, err := os.ReadFile(pki.Store{Dir: l.SSLCerts()}.CACert())
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	add(backup.ArtCACert, "CA certificate", ca)
	defs, err := exportRabbit(ctx, l, t.Hosts, ca)
	if err != nil {
		return nil, err
	}
	add(backup.ArtRabbitMQ, "RabbitMQ definitions", defs)

	m.DurationMS = time.Since(start).Milliseconds()
	if err := backup.Write(ctx, o.Store, m, files); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "backup %s of %s: %d bytes in %s, %s\n", m.ID, envName, m.Size(), o.Store.Where(), time.Since(start).Round(time.Millisecond))
	if expired, err := backup.Prune(ctx, o.Store, o.Retention, o.Now()); err != nil {
		return m, err
	} else {
		for _, e := range expired {
			fmt.Fprintf(o.Out, "deleted backup %s (retention)\n", e.ID)
		}
	}
	return m, nil
}

// mysqlDefaults writes a client option file (0600, removed by the returned func) with the
// admin password, so that it never appears in an argument list.
func mysqlDefaults(l Layout, portBase int, pw string) (string, func(), error) {
	f, err := os.CreateTemp("", "cso-mysql-*.cnf")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.Remove(f.Name()) }
	srv := l.MySQLServer(portBase)
	host, port, _ := strings.Cut(srv.Addr, ":")
	fmt.Fprintf(f, "[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\nssl-ca=%s\nssl-verify-server-cert\n", MySQLAdminUser, pw, host, port, srv.CAFile)
	if err := f.Close(); err != nil {
		done()
		return "", nil, err
	}
	return f.Name(), done, nil
}

// mysqldump dumps every database but MariaDB's own in one transaction (InnoDB: a
// consistent snapshot without locking Keystone out), with DROP DATABASE statements so
// that a restore replaces what the stack holds.
func mysqldump(ctx context.Context, l Layout, portBase int) ([]byte, []string, error) {
	pw, err := l.Secrets().Get(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		return nil, nil, err
	}
	db, err := agent.OpenMySQL(l.MySQLServer(portBase), MySQLAdminUser, pw, "")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return nil, nil, fmt.Errorf("list databases: %w", err)
	}
	var dbs []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if !systemDatabases[n] {
			dbs = append(dbs, n)
		}
	}
	rows.Close()
	if len(dbs) == 0 {
		return nil, nil, errors.New("the local MariaDB holds no database to back up")
	}
	cnf, done, err := mysqlDefaults(l, portBase, pw)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	args := append([]string{"--defaults-extra-file=" + cnf, "--single-transaction", "--routines", "--events", "--triggers",
		"--add-drop-database", "--hex-blob", "--databases"}, dbs...)
	cmd := exec.CommandContext(ctx, "mysqldump", args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("mysqldump: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), dbs, nil
}

// loadDump feeds a dump to the mysql client as the admin user.
func loadDump(ctx context.Context, l Layout, portBase int, dump []byte) error {
	pw, err := l.Secrets().Get(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		return err
	}
	cnf, done, err := mysqlDefaults(l, portBase, pw)
	if err != nil {
		return err
	}
	defer done()
	cmd := exec.CommandContext(ctx, "mysql", "--defaults-extra-file="+cnf, "--batch")
	cmd.Stdin = bytes.NewReader(dump)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("load the database dump: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// rabbitAPI is the management API of the first RabbitMQ node of hosts as ssp_user, TLS
// verified against the CA in caPEM.
func rabbitAPI(ctx context.Context, l Layout, hosts []inventory.Host, caPEM []byte) (*rabbitmqapi.Client, inventory.Host, error) {
	rs := inventory.ByRole(hosts, envfile.RoleRabbitMQ)
	if len(rs) == 0 {
		return nil, inventory.Host{}, errors.New("the target has no RabbitMQ node")
	}
	pw, err := l.Secrets().Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return nil, rs[0], err
	}
	c, err := backup.RabbitClient(rs[0], caPEM, pw)
	return c, rs[0], err
}

func exportRabbit(ctx context.Context, l Layout, hosts []inventory.Host, ca []byte) ([]byte, error) {
	c, h, err := rabbitAPI(ctx, l, hosts, ca)
	if err != nil {
		return nil, err
	}
	defs, err := backup.ExportRabbitMQ(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ definitions from %s: %w", h.Name, err)
	}
	return defs, nil
}

// Running lists the services of the local target in dir whose processes are alive.
func Running(dir string) ([]string, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	hosts, err := l.hostDirs()
	if err != nil {
		return nil, err
	}
	var up []string
	for _, h := range hosts {
		sup := agent.Supervisor{RunDir: l.Paths(h).Run, LogDir: l.Paths(h).Log}
		names, err := sup.Services()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if ok, _, _ := sup.Running(n); ok {
				up = append(up, h+"/"+n)
			}
		}
	}
	return up, nil
}

// portBaseOf is a helper for messages.
func portBaseOf(s *backup.Shape) string {
	if s == nil {
		return "?"
	}
	return strconv.Itoa(s.PortBase)
}
