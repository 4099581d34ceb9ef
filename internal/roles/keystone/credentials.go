package keystone

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// pendingSQL counts the stored credentials not encrypted with the primary key whose hash
// is the argument: the rows keystone-manage credential_migrate re-encrypts and whose
// presence makes credential_rotate refuse (a NULL key_hash counts, as in Keystone).
const pendingSQL = "SELECT COUNT(*) FROM credential WHERE key_hash IS NULL OR key_hash <> ?"

// credentialsTask keeps every stored credential encrypted with the primary key of the
// installed credential key set (first node only, after the key sets and the schema).
// After a rotation (RotateCredential) it runs keystone-manage credential_migrate, but only
// once every Keystone node has installed the current set: until then it says which node
// it waits for and leaves the migration to a later run, without failing this one.
func credentialsTask(l Layout) agent.Task {
	return agent.FuncTask{
		TaskName: "credentials encrypted with the primary key",
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			keys, err := readKeys(l.CredentialKeys)
			if err != nil || len(keys) == 0 {
				return agent.NoChange, err // nothing can be encrypted before the set exists
			}
			n, err := keystoneQuery(ctx, rt, pendingSQL, PrimaryKeyHash(keys))
			if err != nil {
				return agent.Change{Needed: true, Summary: "re-encrypt the stored credentials not encrypted with the primary credential key, if any (the database is not readable yet)"}, nil
			}
			if n == 0 {
				return agent.NoChange, nil
			}
			what := fmt.Sprintf("re-encrypt %d credential(s) with the primary credential key (keystone-manage credential_migrate)", n)
			if behind, err := credentialsBehind(l, rt); err != nil || len(behind) > 0 {
				return agent.Change{Needed: true, Summary: what + ": waiting for " + waitingFor(behind, err) + ", left for a later run"}, nil
			}
			return agent.Change{Needed: true, Summary: what}, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			if behind, err := credentialsBehind(l, rt); err != nil || len(behind) > 0 {
				rt.Progressf("  waiting for %s: credential_migrate is left for the next agent run on %s", waitingFor(behind, err), rt.Host.Name)
				return nil
			}
			if err := manage(ctx, l, nil, "credential_migrate"); err != nil {
				return fmt.Errorf("%w (log: %s)", err, filepath.Join(l.LogDir, "keystone.log"))
			}
			keys, err := readKeys(l.CredentialKeys)
			if err != nil {
				return err
			}
			n, err := keystoneQuery(ctx, rt, pendingSQL, PrimaryKeyHash(keys))
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("credential_migrate left %d credential(s) not encrypted with the primary key of %s (log: %s)",
					n, l.CredentialKeys, filepath.Join(l.LogDir, "keystone.log"))
			}
			return nil
		},
		// A fresh database stores no credential: nothing to migrate.
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.Note("keystone-manage credential_migrate runs only when the database holds credentials not encrypted with the primary credential key (after a rotation, once every node has the set): none on a fresh environment")
			return nil
		},
	}
}

// credentialsBehind lists the Keystone nodes whose credential marker does not name the
// shared credential set (this node included).
func credentialsBehind(l Layout, rt *agent.Runtime) ([]string, error) {
	shared, err := readKeys(l.SharedCred)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, h := range inventory.ByRole(rt.Hosts, envfile.RoleKeystone) {
		hosts = append(hosts, h.Name)
	}
	return behindHosts(l, KindCredential, hosts, SetHash(shared)), nil
}

func waitingFor(behind []string, err error) string {
	if err != nil {
		return "the shared credential key set is readable (" + err.Error() + ")"
	}
	return strings.Join(behind, ", ") + " to install the current credential key set"
}

// pendingFromConf counts the credentials not encrypted with the key whose hash is hash, in
// the database that keystone.conf at conf connects to (what keystone-manage would use).
func pendingFromConf(conf, hash string) (int, error) {
	srv, user, pw, name, err := dbFromConf(conf)
	if err != nil {
		return 0, err
	}
	db, err := agent.OpenMySQL(srv, user, pw, name)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx, pendingSQL, hash).Scan(&n); err != nil {
		return 0, fmt.Errorf("database %s (from %s): %w", srv.Addr, conf, err)
	}
	return n, nil
}

// dbFromConf reads [database] connection of keystone.conf
// (mysql+pymysql://USER:PASSWORD@HOST:PORT/NAME?...; the password query-escaped, as
// renderConfig writes it).
func dbFromConf(conf string) (srv agent.MySQLServer, user, pw, name string, err error) {
	f, err := os.Open(conf)
	if err != nil {
		return srv, "", "", "", err
	}
	defer f.Close()
	var section, conn string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[database]" && strings.TrimSpace(k) == "connection" {
			conn = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return srv, "", "", "", err
	}
	bad := func(why string) (agent.MySQLServer, string, string, string, error) {
		return agent.MySQLServer{}, "", "", "", fmt.Errorf("%s: [database] connection: %s", conf, why)
	}
	rest, ok := strings.CutPrefix(conn, "mysql+pymysql://")
	if !ok {
		return bad("missing or not mysql+pymysql://")
	}
	rest, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return bad("query is not URL-encoded")
	}
	// The same CA bundle PyMySQL verifies the server with (ssl_ca).
	srv.CAFile = q.Get("ssl_ca")
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return bad("no user")
	}
	cred, hostDB := rest[:at], rest[at+1:]
	user, escaped, _ := strings.Cut(cred, ":")
	if pw, err = url.QueryUnescape(escaped); err != nil {
		return bad("password is not query-escaped")
	}
	addr, name, ok := strings.Cut(hostDB, "/")
	if !ok || addr == "" || name == "" {
		return bad("no host/database")
	}
	if !strings.Contains(addr, ":") {
		addr += ":3306"
	}
	srv.Addr = addr
	return srv, user, pw, name, nil
}
