package rabbitmq

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/pki"
)

// Access control is cluster-wide in RabbitMQ (users, vhosts and permissions are
// replicated to every node), so the agent of the first RabbitMQ host sets it up and the
// others wait until ssp_user can log in to ssp through their own node.

// definitions is the part of `rabbitmqctl export_definitions` the agent reads and the
// document it gives `import_definitions` (one CLI call instead of five, and the password
// travels only as a salted hash, on stdin).
type definitions struct {
	Users []struct {
		Name          string   `json:"name"`
		PasswordHash  string   `json:"password_hash"`
		HashAlgorithm string   `json:"hashing_algorithm"`
		Tags          []string `json:"tags"`
	} `json:"users"`
	VHosts []struct {
		Name     string `json:"name"`
		Metadata struct {
			DefaultQueueType string `json:"default_queue_type"`
		} `json:"metadata"`
	} `json:"vhosts"`
	Permissions []struct {
		User      string `json:"user"`
		VHost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	} `json:"permissions"`
}

// readDefinitions reads a node's definitions (a variable for the unit tests).
var readDefinitions = exportDefinitions

func exportDefinitions(ctx context.Context, n Node) (*definitions, error) {
	out, err := Ctl(ctx, n, nil, "export_definitions", "-", "--format", "json", "--silent")
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var d definitions
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("rabbitmqctl export_definitions on %s: unexpected output: %w", n.Name, err)
	}
	return &d, nil
}

// differences lists what differs from the wanted access set-up, in words; pass is the
// generated password of ssp_user.
func (d *definitions) differences(pass string) (importNeeded []string, guest bool, otherVHosts []string) {
	vhostOK := false
	for _, v := range d.VHosts {
		if v.Name == VHost {
			vhostOK = true
			if v.Metadata.DefaultQueueType != "quorum" {
				importNeeded = append(importNeeded, fmt.Sprintf("set default queue type of vhost %s to quorum (was %q)", VHost, v.Metadata.DefaultQueueType))
			}
		}
	}
	if !vhostOK {
		importNeeded = append(importNeeded, "create vhost "+VHost+" with default queue type quorum")
	}
	userOK := false
	for _, u := range d.Users {
		switch u.Name {
		case "guest":
			guest = true
		case User:
			userOK = true
			if !passwordMatches(u.PasswordHash, u.HashAlgorithm, pass) {
				importNeeded = append(importNeeded, "set the generated password of "+User)
			}
			tags := slices.Clone(u.Tags)
			sort.Strings(tags)
			if !slices.Equal(tags, UserTags) {
				importNeeded = append(importNeeded, fmt.Sprintf("set tags of %s to %s (were %v)", User, UserTags, tags))
			}
		}
	}
	if !userOK {
		importNeeded = append(importNeeded, "create user "+User+" with the generated password")
	}
	permOK := false
	for _, p := range d.Permissions {
		if p.User != User {
			continue
		}
		if p.VHost != VHost {
			otherVHosts = append(otherVHosts, p.VHost)
			continue
		}
		permOK = p.Configure == ".*" && p.Write == ".*" && p.Read == ".*"
	}
	if !permOK {
		importNeeded = append(importNeeded, fmt.Sprintf("grant %s configure/write/read on vhost %s", User, VHost))
	}
	sort.Strings(otherVHosts)
	return importNeeded, guest, otherVHosts
}

// passwordMatches checks pass against a RabbitMQ password hash: base64 of a 4-byte salt
// followed by hash(salt + password).
func passwordMatches(hash, alg, pass string) bool {
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil || len(raw) < 5 {
		return false
	}
	salt, sum := raw[:4], raw[4:]
	var want []byte
	switch alg {
	case "rabbit_password_hashing_sha256", "":
		s := sha256.Sum256(append(slices.Clone(salt), pass...))
		want = s[:]
	case "rabbit_password_hashing_sha512":
		s := sha512.Sum512(append(slices.Clone(salt), pass...))
		want = s[:]
	default:
		return false
	}
	return subtle.ConstantTimeCompare(sum, want) == 1
}

// passwordHash makes a RabbitMQ sha256 password hash with a random salt.
func passwordHash(pass string) (string, error) {
	salt := make([]byte, 4)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(slices.Clone(salt), pass...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...)), nil
}

// wantedDefinitions is the import document: vhost ssp (quorum by default), ssp_user with
// the hash of its password and its tags, and its permissions on ssp.
func wantedDefinitions(pass string) ([]byte, error) {
	h, err := passwordHash(pass)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{
		"vhosts": []any{map[string]any{"name": VHost, "metadata": map[string]any{
			"default_queue_type": "quorum", "description": "CSO shared services portal", "tags": []string{}}}},
		"users": []any{map[string]any{"name": User, "password_hash": h,
			"hashing_algorithm": "rabbit_password_hashing_sha256", "tags": UserTags, "limits": map[string]any{}}},
		"permissions": []any{map[string]any{"user": User, "vhost": VHost, "configure": ".*", "write": ".*", "read": ".*"}},
	}
	return json.Marshal(doc)
}

// accessState caches one export of the definitions per run (a CLI call costs about a
// second of Erlang start-up); any change clears it.
type accessState struct {
	self Node
	defs *definitions
}

func (s *accessState) invalidate() { s.defs = nil }

func (s *accessState) get(ctx context.Context) (*definitions, error) {
	if s.defs != nil {
		return s.defs, nil
	}
	d, err := readDefinitions(ctx, s.self)
	if err != nil {
		return nil, err
	}
	s.defs = d
	return d, nil
}

// checkAttempts bounds the export_definitions calls of a check that time out: right after
// the other nodes join, a node can leave its CLI unanswered for a minute or two on a loaded
// host (seen in CI: export_definitions on the first node and cluster_status on the second
// both timed out at 60 s, and the second's answered 47 s later). A read is safe to repeat.
const checkAttempts = 3

// getPatient is get, asked again (visibly) while the node's CLI times out, at most
// checkAttempts times in all.
func (st *accessState) getPatient(ctx context.Context, rt *agent.Runtime) (*definitions, error) {
	for attempt := 1; ; attempt++ {
		d, err := st.get(ctx)
		var ce *CtlError
		if err == nil || attempt == checkAttempts || ctx.Err() != nil || !errors.As(err, &ce) || !ce.TimedOut() {
			return d, err
		}
		rt.Progressf("  %s's CLI did not answer within %s (attempt %d of %d): asking again", st.self.Name, CtlTimeout, attempt, checkAttempts)
	}
}

// accessTasks are the first node's: definitions, then guest and stray permissions.
func accessTasks(st *accessState) []agent.Task {
	return []agent.Task{st.definitionsTask(), st.strayPermissionsTask(), st.guestTask()}
}

// accessDifferences reads what differs from the wanted access: the definitions to import,
// whether user guest exists, the other vhosts ssp_user has permissions on.
type accessDifferences func(imp []string, guest bool, other []string) string

// checkWith is a task's check: the change that pick says is needed ("" when none).
func (st *accessState) checkWith(pick accessDifferences) func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	return func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
		pass, ok, err := rt.Secret(ctx, agent.SecretRabbitMQ)
		if err != nil {
			return agent.Change{}, err
		}
		d, err := st.getPatient(ctx, rt)
		if err != nil || !ok {
			if rt.DryRun {
				return agent.Change{Needed: true, Summary: "configure vhost " + VHost + ", user " + User + " and its permissions (node not answering yet)"}, nil
			}
			return agent.Change{}, err
		}
		if s := pick(d.differences(pass)); s != "" {
			return agent.Change{Needed: true, Summary: s}, nil
		}
		return agent.NoChange, nil
	}
}

// settle waits until the node reports the change: import_definitions is asynchronous.
func (st *accessState) settle(ctx context.Context, rt *agent.Runtime, what string, done func(imp []string, guest bool, other []string) bool) error {
	pass, err := rt.Secrets.Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return err
	}
	return agent.WaitFor(ctx, rt, what, time.Minute, func(ctx context.Context) error {
		st.invalidate()
		d, err := st.get(cliAttempt(ctx))
		if err != nil {
			return err
		}
		if imp, g, o := d.differences(pass); !done(imp, g, o) {
			return fmt.Errorf("not yet: %s", strings.Join(imp, "; "))
		}
		return nil
	})
}

// definitionsTask imports vhost ssp, user ssp_user and its permissions.
func (st *accessState) definitionsTask() agent.Task {
	n := st.self
	return agent.FuncTask{
		TaskName:  "vhost " + VHost + ", user " + User + " and its permissions",
		CheckFunc: st.checkWith(func(imp []string, _ bool, _ []string) string { return strings.Join(imp, "; ") }),
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			pass, err := rt.Secrets.Get(ctx, agent.SecretRabbitMQ)
			if err != nil {
				return err
			}
			doc, err := wantedDefinitions(pass)
			if err != nil {
				return err
			}
			if _, err := Ctl(ctx, n, doc, "import_definitions", "--format", "json"); err != nil {
				return err
			}
			return st.settle(ctx, rt, "definitions imported on "+n.Name, func(imp []string, _ bool, _ []string) bool { return len(imp) == 0 })
		},
		RenderFunc: func(ctx context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			return renderImport(ctx, rt, r, n)
		},
	}
}

// strayPermissionsTask revokes ssp_user's permissions on any vhost but ssp.
func (st *accessState) strayPermissionsTask() agent.Task {
	n := st.self
	return agent.FuncTask{
		TaskName: "no permissions of " + User + " outside " + VHost,
		CheckFunc: st.checkWith(func(_ []string, _ bool, other []string) string {
			if len(other) == 0 {
				return ""
			}
			return fmt.Sprintf("revoke %s's permissions on vhosts %s", User, strings.Join(other, ", "))
		}),
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			defer st.invalidate()
			pass, err := rt.Secrets.Get(ctx, agent.SecretRabbitMQ)
			if err != nil {
				return err
			}
			d, err := st.get(ctx)
			if err != nil {
				return err
			}
			_, _, other := d.differences(pass)
			for _, v := range other {
				if _, err := Ctl(ctx, n, nil, "clear_permissions", "-p", v, User); err != nil {
					return err
				}
			}
			return nil
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.Note("%s has permissions on no other vhost of a fresh node: nothing to revoke (the vhosts the node lists decide; each would get rabbitmqctl clear_permissions -p VHOST %s)", User, User)
			return nil
		},
	}
}

// guestTask deletes the default user guest.
func (st *accessState) guestTask() agent.Task {
	n := st.self
	return agent.FuncTask{
		TaskName: "no guest user",
		CheckFunc: st.checkWith(func(_ []string, guest bool, _ []string) string {
			if guest {
				return "delete the default guest user"
			}
			return ""
		}),
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			defer st.invalidate()
			_, err := Ctl(ctx, n, nil, "delete_user", "guest")
			return err
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.Note("when the node lists the default user guest (the users it exports decide):")
			r.AddCommand(ctlCommand(n, nil, "delete_user", "guest"))
			return nil
		},
	}
}

// LoginTask waits until ssp_user logs in to vhost ssp through node n over AMQPS: on the
// other nodes, proof that the first node's set-up reached them.
func loginTask(n, first Node, wait time.Duration) agent.Task {
	return agent.FuncTask{
		TaskName: User + " logs in to " + VHost + " on " + n.Name,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			if err := Login(ctx, rt, n); err != nil {
				return agent.Change{Needed: true, Summary: fmt.Sprintf("wait for %s to set up %s on %s (%v)", first.Host.Name, User, VHost, err)}, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			restarted := false
			return agent.WaitFor(ctx, rt, User+" set up by "+first.Host.Name, wait, func(ctx context.Context) error {
				err := Login(ctx, rt, n)
				// A vhost whose message stores failed to start on this node (seen when
				// the node joined under heavy load) stays down until restarted; the
				// broker does not retry by itself. Restart it once and keep waiting.
				if err != nil && !restarted && vhostDown(err) {
					restarted = true
					rt.Progressf("  vhost %s is down on %s: rabbitmqctl restart_vhost %s", VHost, n.Name, VHost)
					if _, rerr := Ctl(cliAttempt(ctx), n, nil, "restart_vhost", "--vhost", VHost); rerr != nil {
						return fmt.Errorf("%w; restart_vhost failed: %v", err, rerr)
					}
				}
				return err
			})
		},
		RenderFunc: func(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait(fmt.Sprintf("an AMQPS login of %s to vhost %s on %s (set up by %s); a vhost down on this node gets rabbitmqctl restart_vhost once", User, VHost, n.Name, first.Host.Name), wait)
			return nil
		},
	}
}

// vhostDown reports whether a login failed because the vhost is down on that node.
func vhostDown(err error) bool {
	return strings.Contains(err.Error(), "vhost '"+VHost+"' is down")
}

// Login opens and closes an AMQPS connection to n as ssp_user on vhost ssp.
func Login(ctx context.Context, rt *agent.Runtime, n Node) error {
	pass, ok, err := rt.Secret(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return err
	}
	if !ok {
		return errNoSecret
	}
	roots, err := pki.PoolFile(n.CACert())
	if err != nil {
		return err
	}
	conn, err := amqp.DialConfig("amqps://"+n.Addr(n.AMQPS)+"/", amqp.Config{
		SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: User, Password: pass}},
		Vhost:           VHost,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: n.ServerName(), MinVersion: tls.VersionTLS12},
		Dial:            amqp.DefaultDial(5 * time.Second),
	})
	if err != nil {
		return err
	}
	return conn.Close()
}

// DefinitionsFile writes the definitions the node imports at boot (0600, owner rabbitmq:
// it holds the salted hash of ssp_user's password). A file whose hash already matches the
// password is left alone, so the random salt does not make every run a change.
type DefinitionsFile struct {
	Path  string
	Owner string
}

func (d DefinitionsFile) Name() string { return "definitions " + d.Path }

func (d DefinitionsFile) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	pass, ok, err := rt.Secret(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return agent.Change{}, err
	}
	if !ok {
		return agent.Change{Needed: true, Summary: "write " + d.Path + " (vhost " + VHost + ", user " + User + ")"}, nil
	}
	cur, err := os.ReadFile(d.Path)
	if err == nil {
		var have definitions
		if json.Unmarshal(cur, &have) == nil {
			if imp, _, other := have.differences(pass); len(imp) == 0 && len(other) == 0 {
				// Content is right: leave it, but keep mode and owner right.
				return agent.File{Path: d.Path, Content: cur, Mode: 0o600, Owner: d.Owner, Secret: true}.Check(ctx, rt)
			}
		}
	}
	return agent.Change{Needed: true, Summary: "write " + d.Path + " (vhost " + VHost + ", user " + User + ")"}, nil
}

func (d DefinitionsFile) Apply(ctx context.Context, rt *agent.Runtime) error {
	pass, err := rt.Secrets.Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return err
	}
	if cur, err := os.ReadFile(d.Path); err == nil {
		var have definitions
		if json.Unmarshal(cur, &have) == nil {
			if imp, _, other := have.differences(pass); len(imp) == 0 && len(other) == 0 {
				return agent.File{Path: d.Path, Content: cur, Mode: 0o600, Owner: d.Owner, Secret: true}.Apply(ctx, rt)
			}
		}
	}
	doc, err := wantedDefinitions(pass)
	if err != nil {
		return err
	}
	return agent.File{Path: d.Path, Content: doc, Mode: 0o600, Owner: d.Owner, Secret: true}.Apply(ctx, rt)
}
