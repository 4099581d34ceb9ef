package jump

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// DBUser is one application database and its user (LLD 2.6.2). Each user holds every
// privilege on its own database and nothing else: no global privileges, no GRANT OPTION.
type DBUser struct {
	User, Database, Secret string
}

// DBUsers are the databases and users the jump host bootstraps.
var DBUsers = []DBUser{
	{User: "keystone", Database: "keystone", Secret: agent.SecretKeystoneDB},
	{User: "cso_user", Database: "cso_portal", Secret: agent.SecretPortalDB},
}

// AccountHosts are the host parts of the database accounts: both local spellings on the
// local target (a unix-socket login is 'localhost', TCP is '127.0.0.1'), any host on AWS
// (the security groups limit who reaches RDS).
func AccountHosts(rt *agent.Runtime) []string {
	if !rt.Distro().EC2 {
		return []string{"localhost", "127.0.0.1"}
	}
	return []string{"%"}
}

// DBWaitTimeout bounds the wait for the database server.
const DBWaitTimeout = 3 * time.Minute

// adminDB opens one administrative connection pool per run, on first use.
type adminDB struct {
	mu sync.Mutex
	db *sql.DB
}

func (a *adminDB) get(ctx context.Context, rt *agent.Runtime) (*sql.DB, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.db != nil {
		return a.db, nil
	}
	pw, ok, err := rt.Secret(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("no database admin secret yet")
	}
	db, err := agent.OpenMySQL(rt.Database(), rt.MySQLAdminUser, pw, "")
	if err != nil {
		return nil, err
	}
	a.db = db
	return db, nil
}

func databaseTasks(rt *agent.Runtime) []agent.Task {
	a := &adminDB{}
	unreachable := func(err error) agent.Change {
		return agent.Change{Needed: true, Summary: fmt.Sprintf("bootstrap databases on %s (not reachable now: %v)", rt.MySQL, err)}
	}
	tasks := []agent.Task{agent.FuncTask{
		TaskName: "wait for database " + rt.MySQL,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			pw, ok, err := rt.Secret(ctx, agent.SecretMySQLAdmin)
			if err != nil {
				return agent.Change{}, err
			}
			if rt.DryRun {
				if !ok {
					return unreachable(errors.New("no admin secret")), nil
				}
				if err := agent.MySQLLogin(ctx, rt.Database(), rt.MySQLAdminUser, pw); err != nil {
					return unreachable(err), nil
				}
				return agent.NoChange, nil
			}
			return agent.NoChange, agent.WaitMySQL(ctx, rt, rt.Database(), rt.MySQLAdminUser, pw, DBWaitTimeout)
		},
		ApplyFunc: func(context.Context, *agent.Runtime) error { return nil },
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait(fmt.Sprintf("a login as %s to %s", rt.MySQLAdminUser, rt.MySQL), DBWaitTimeout)
			return nil
		},
	}}
	for _, u := range DBUsers {
		tasks = append(tasks, databaseTask(a, u))
		for _, h := range AccountHosts(rt) {
			tasks = append(tasks, accountTask(a, u, h))
		}
	}
	return tasks
}

func databaseTask(a *adminDB, u DBUser) agent.Task {
	return agent.FuncTask{
		TaskName: "database " + u.Database,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			db, err := a.get(ctx, rt)
			if err != nil {
				return agent.Change{Needed: true, Summary: "create database " + u.Database}, nil
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", u.Database).Scan(&n); err != nil {
				if rt.DryRun {
					return agent.Change{Needed: true, Summary: "create database " + u.Database}, nil
				}
				return agent.Change{}, err
			}
			if n == 0 {
				return agent.Change{Needed: true, Summary: "create database " + u.Database}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			db, err := a.get(ctx, rt)
			if err != nil {
				return err
			}
			_, err = db.ExecContext(ctx, createDatabaseSQL(u))
			return err
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			renderSQL(rt, r, createDatabaseSQL(u))
			return nil
		},
	}
}

func createDatabaseSQL(u DBUser) string {
	return "CREATE DATABASE IF NOT EXISTS " + agent.QuoteIdent(u.Database) + " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
}

func accountTask(a *adminDB, u DBUser, host string) agent.Task {
	acct := agent.QuoteAccount(u.User, host)
	grant := "GRANT ALL PRIVILEGES ON " + agent.QuoteIdent(u.Database) + ".* TO " + acct
	return agent.FuncTask{
		TaskName: "database user " + acct,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			want := agent.Change{Needed: true, Summary: "create database user " + acct + " with all privileges on " + u.Database}
			db, err := a.get(ctx, rt)
			if err != nil {
				return want, nil
			}
			var plugin, hash string
			err = db.QueryRowContext(ctx, "SELECT plugin, authentication_string FROM mysql.user WHERE User = ? AND Host = ?", u.User, host).Scan(&plugin, &hash)
			if errors.Is(err, sql.ErrNoRows) {
				return want, nil
			}
			if err != nil {
				if rt.DryRun {
					return want, nil
				}
				return agent.Change{}, err
			}
			if c, err := passwordChange(ctx, rt, u, host, acct, plugin, hash); err != nil || c.Needed {
				return c, err
			}
			found, err := hasGrant(ctx, db, acct, grant)
			if err != nil {
				return agent.Change{}, err
			}
			if !found {
				return agent.Change{Needed: true, Summary: "grant all privileges on " + u.Database + " to " + acct}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			db, err := a.get(ctx, rt)
			if err != nil {
				return err
			}
			pw, err := rt.Secrets.Get(ctx, u.Secret)
			if err != nil {
				return err
			}
			for _, stmt := range []struct {
				q    string
				args []any
			}{
				{"CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED BY ?", []any{pw}},
				{"ALTER USER " + acct + " IDENTIFIED BY ?", []any{pw}},
				{grant, nil},
			} {
				if _, err := db.ExecContext(ctx, stmt.q, stmt.args...); err != nil {
					// The driver's error does not contain the statement or the password.
					return fmt.Errorf("%s: %w", strings.SplitN(stmt.q, " IDENTIFIED", 2)[0], err)
				}
			}
			return nil
		},
		// The statements of Apply with the password as its placeholder (Apply passes it as
		// a query argument, never in the statement text).
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			pw := "'" + agent.SecretPlaceholder(u.Secret) + "'"
			renderSQL(rt, r, "CREATE USER IF NOT EXISTS "+acct+" IDENTIFIED BY "+pw)
			renderSQL(rt, r, "ALTER USER "+acct+" IDENTIFIED BY "+pw)
			renderSQL(rt, r, grant)
			return nil
		},
	}
}

// passwordChange says whether account acct's password (its plugin and stored hash) differs
// from its secret: compared by hash for mysql_native_password, proven by logging in for
// salted hashes (caching_sha2_password) where the agent can reach the account.
func passwordChange(ctx context.Context, rt *agent.Runtime, u DBUser, host, acct, plugin, hash string) (agent.Change, error) {
	pw, ok, err := rt.Secret(ctx, u.Secret)
	if err != nil {
		return agent.Change{}, err
	}
	if !ok {
		return agent.Change{Needed: true, Summary: "set password of " + acct + " (new secret)"}, nil
	}
	switch {
	case plugin == "mysql_native_password" || (plugin == "" && strings.HasPrefix(hash, "*")):
		if hash != agent.NativePasswordHash(pw) {
			return agent.Change{Needed: true, Summary: "set password of " + acct + " (differs from its secret)"}, nil
		}
	case host == "%" || host == "127.0.0.1":
		if err := agent.MySQLLogin(ctx, rt.Database(), u.User, pw); err != nil {
			return agent.Change{Needed: true, Summary: "set password of " + acct + " (login failed)"}, nil
		}
	}
	return agent.NoChange, nil
}

// hasGrant says whether SHOW GRANTS for acct holds grant (quoting aside).
func hasGrant(ctx context.Context, db *sql.DB, acct, grant string) (bool, error) {
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR "+acct)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return false, err
		}
		if strings.HasPrefix(unquote(g), unquote(grant)) {
			found = true
		}
	}
	return found, rows.Err()
}

// unquote drops identifier and string quotes: MySQL and MariaDB print grants with
// different quoting.
func unquote(s string) string { return strings.NewReplacer("`", "", "'", "", `"`, "").Replace(s) }
