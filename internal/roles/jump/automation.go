package jump

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/keystoneapi"
	"github.com/cso-ssp/platform/internal/pki"
)

// KeystoneWaitTimeout bounds the wait for Keystone before the automation identity is made
// (locally; on EC2 rt.PeerWait's bound applies).
const KeystoneWaitTimeout = 15 * time.Minute

// AutomationOptions are the Keystone user options of the automation identity: never locked
// out by failed authentications (anyone who reaches Keystone could otherwise lock the checks
// out), its generated password never expires and need not be changed on first use.
var AutomationOptions = map[string]bool{
	"ignore_lockout_failure_attempts":       true,
	"ignore_password_expiry":                true,
	"ignore_change_password_upon_first_use": true,
}

// AutomationRole is the automation identity's role on project admin: reading is enough for
// tokens and their cross-validation (policy identity:validate_token allows a token's own
// user).
const AutomationRole = "reader"

// identity is a Keystone user that the platform makes and keeps: its name, the secret
// holding its password, its role on project admin and its user options.
type identity struct {
	User, Secret, Role, Description string
	Options                         map[string]bool
	// CreateRole: the role is not one keystone-manage bootstrap makes (service), so the
	// jump role creates it.
	CreateRole bool
}

// automationIdentity is agent.KeystoneAutomationUser.
var automationIdentity = identity{
	User: agent.KeystoneAutomationUser, Secret: agent.SecretKeystoneAutomation, Role: AutomationRole,
	Options: AutomationOptions, Description: "cso automation: cso check and the dashboard's probes (never locked out)",
}

// ApplicationRole is the application's identity's role on project admin: Keystone's policy
// identity:validate_token (GET /v3/auth/tokens) is "rule:admin_required or (role:reader and
// system_scope:all) or rule:service_role or rule:token_subject", and rule:service_role is
// role:service: the only way short of admin (or a system-scoped token) to validate another
// user's token (keystone/common/policies/token.py and base.py, Keystone 22.0.2;
// docs/decisions/roles.md).
const ApplicationRole = "service"

// applicationIdentity is agent.KeystoneApplicationUser: the application's own account, which
// its services use to validate users' tokens. Not locked out by strangers' failures, for the
// same reason as the automation's.
var applicationIdentity = identity{
	User: agent.KeystoneApplicationUser, Secret: agent.SecretKeystoneApplication, Role: ApplicationRole,
	Options: AutomationOptions, CreateRole: true,
	Description: "cso application services: validate users' tokens (role service)",
}

// automationTask makes the Keystone identity of automation (agent.KeystoneAutomationUser):
// created with the admin credentials over Keystone's API, so that only the jump host needs
// its password (on AWS the secret <env>/cso/keystone/automation is readable by the jump
// role only).
func automationTask() agent.Task { return identityTask(automationIdentity) }

// applicationTask makes the application's identity (agent.KeystoneApplicationUser). Its
// password rotates as the secret does: a password that no longer signs in is set again.
func applicationTask() agent.Task { return identityTask(applicationIdentity) }

func identityTask(id identity) agent.Task {
	return agent.FuncTask{
		TaskName: "keystone identity " + id.User,
		CheckFunc: func(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
			need := agent.Change{Needed: true, Summary: fmt.Sprintf("make the Keystone user %s (role %s on project admin, options %s)", id.User, id.Role, optionNames())}
			k, err := newKeystoneAPI(ctx, rt, id)
			if err != nil {
				return need, nil
			}
			state, err := k.inspect(ctx)
			if err != nil {
				need.Summary += fmt.Sprintf(" (Keystone cannot tell now: %v)", err)
				return need, nil
			}
			if state != "" {
				need.Summary += " (" + state + ")"
				return need, nil
			}
			return agent.NoChange, nil
		},
		ApplyFunc: func(ctx context.Context, rt *agent.Runtime) error {
			var k *keystoneAPI
			err := agent.WaitFor(ctx, rt, "Keystone to create "+id.User, rt.PeerWait(KeystoneWaitTimeout), func(ctx context.Context) error {
				var err error
				if k, err = newKeystoneAPI(ctx, rt, id); err != nil {
					return err
				}
				_, err = k.adminToken(ctx)
				return err
			})
			if err != nil {
				return err
			}
			return k.ensure(ctx)
		},
		RenderFunc: func(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
			r.NoteWait("Keystone answering a token request as admin (the Keystone role bootstraps it)", rt.PeerWait(KeystoneWaitTimeout))
			create := ""
			if id.CreateRole {
				create = fmt.Sprintf("role %s created if missing; ", id.Role)
			}
			r.Note("Keystone API as admin (password %s): %suser %s in domain Default with password %s and options %s; role %s on project admin",
				agent.SecretPlaceholder(agent.SecretKeystoneAdmin), create, id.User,
				agent.SecretPlaceholder(id.Secret), optionNames(), id.Role)
			return nil
		},
	}
}

func optionNames() string {
	return "ignore_lockout_failure_attempts, ignore_password_expiry, ignore_change_password_upon_first_use"
}

// keystoneAPI talks to the first Keystone node as admin.
type keystoneAPI struct {
	base          string
	client        *http.Client
	adminPW, auPW string // the admin's password and the identity's
	id            identity
	tokens        keystoneapi.Client // the token requests, to the same node
	token         string
	projectID     string
}

func newKeystoneAPI(ctx context.Context, rt *agent.Runtime, id identity) (*keystoneAPI, error) {
	nodes := inventory.ByRole(rt.Hosts, envfile.RoleKeystone)
	if len(nodes) == 0 {
		return nil, errors.New("no Keystone host")
	}
	h := nodes[0]
	adminPW, ok, err := rt.Secret(ctx, agent.SecretKeystoneAdmin)
	if err != nil || !ok {
		return nil, errors.Join(errors.New("no Keystone admin secret yet"), err)
	}
	auPW, ok, err := rt.Secret(ctx, id.Secret)
	if err != nil || !ok {
		return nil, errors.Join(fmt.Errorf("no secret %s yet", id.Secret), err)
	}
	pool, err := pki.PoolFile(pki.Store{Dir: rt.Paths.SSLCerts}.CACert())
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(h.Ports[inventory.PortKeystone])
	addr := h.FQDN
	if h.Address != "" {
		addr = h.Address // the local target's names resolve only through its target file
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: h.FQDN, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(addr, port))
		},
		DisableKeepAlives: true,
	}
	base, client := "https://"+net.JoinHostPort(h.FQDN, port), &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &keystoneAPI{base: base, client: client, tokens: keystoneapi.Client{HTTP: client, URLs: []string{base}},
		adminPW: adminPW, auPW: auPW, id: id}, nil
}

// call sends a JSON request to the identity API (users, roles, grants) with the admin's
// token; token requests go through keystoneapi, the one client.
func (k *keystoneAPI) call(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// adminScope is project admin in domain Default, whose id is "default" (keystone-manage
// bootstrap makes both).
func adminScope(user, password string) keystoneapi.Credentials {
	return keystoneapi.Credentials{User: user, Password: password, Domain: "Default", Project: "admin"}
}

// adminToken signs in as admin once and keeps the token and project admin's id.
func (k *keystoneAPI) adminToken(ctx context.Context) (string, error) {
	if k.token != "" {
		return k.token, nil
	}
	tok, id, err := k.tokens.Issue(ctx, adminScope("admin", k.adminPW))
	if err != nil {
		return "", err
	}
	k.token, k.projectID = tok, id.ProjectID
	return tok, nil
}

// signsIn says whether the identity's password (the secret's) still issues a token; a
// refusal of the password (401) is false, any other failure an error.
func (k *keystoneAPI) signsIn(ctx context.Context) (bool, error) {
	_, _, err := k.tokens.Issue(ctx, adminScope(k.id.User, k.auPW))
	var se *keystoneapi.StatusError
	if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		return false, nil
	}
	return err == nil, err
}

type ksUser struct {
	ID      string         `json:"id"`
	Enabled bool           `json:"enabled"`
	Options map[string]any `json:"options"`
}

// findUser returns the identity's user, or nil.
func (k *keystoneAPI) findUser(ctx context.Context) (*ksUser, error) {
	tok, err := k.adminToken(ctx)
	if err != nil {
		return nil, err
	}
	code, b, err := k.call(ctx, http.MethodGet, "/v3/users?domain_id=default&name="+url.QueryEscape(k.id.User), tok, nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("list users: HTTP %d", code)
	}
	var doc struct {
		Users []ksUser `json:"users"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(doc.Users) == 0 {
		return nil, nil
	}
	return &doc.Users[0], nil
}

func (k *keystoneAPI) roleID(ctx context.Context) (string, error) {
	code, b, err := k.call(ctx, http.MethodGet, "/v3/roles?name="+url.QueryEscape(k.id.Role), k.token, nil)
	if err != nil {
		return "", err
	}
	var doc struct {
		Roles []struct {
			ID string `json:"id"`
		} `json:"roles"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &doc) != nil || len(doc.Roles) == 0 {
		return "", fmt.Errorf("role %s not found (HTTP %d): keystone-manage bootstrap creates it", k.id.Role, code)
	}
	return doc.Roles[0].ID, nil
}

// ensureRole creates the identity's role when Keystone has none of that name.
func (k *keystoneAPI) ensureRole(ctx context.Context) (string, error) {
	if id, err := k.roleID(ctx); err == nil || !k.id.CreateRole {
		return id, err
	}
	code, b, err := k.call(ctx, http.MethodPost, "/v3/roles", k.token, map[string]any{"role": map[string]any{"name": k.id.Role}})
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		return "", fmt.Errorf("create role %s: HTTP %d %s", k.id.Role, code, keystoneapi.Message(b))
	}
	return k.roleID(ctx)
}

func (k *keystoneAPI) optionsSet(u *ksUser) bool {
	for name := range k.id.Options {
		if v, _ := u.Options[name].(bool); !v {
			return false
		}
	}
	return true
}

// inspect says what is missing ("" when the identity is complete).
func (k *keystoneAPI) inspect(ctx context.Context) (string, error) {
	u, err := k.findUser(ctx)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "no such user", nil
	}
	if !u.Enabled || !k.optionsSet(u) {
		return "user disabled or options missing", nil
	}
	rid, err := k.roleID(ctx)
	if err != nil && k.id.CreateRole {
		return "role " + k.id.Role + " missing", nil
	}
	if err != nil {
		return "", err
	}
	code, _, err := k.call(ctx, http.MethodHead, "/v3/projects/"+k.projectID+"/users/"+u.ID+"/roles/"+rid, k.token, nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusNoContent {
		return "role " + k.id.Role + " not assigned", nil
	}
	ok, err := k.signsIn(ctx)
	if err != nil {
		return "", err
	}
	if !ok {
		return "password differs from the secret", nil
	}
	return "", nil
}

// ensure creates or repairs the identity, then proves it by issuing its token.
func (k *keystoneAPI) ensure(ctx context.Context) error {
	u, err := k.findUser(ctx)
	if err != nil {
		return err
	}
	if u == nil {
		body := map[string]any{"user": map[string]any{"name": k.id.User, "domain_id": "default",
			"password": k.auPW, "enabled": true, "options": k.id.Options,
			"description": k.id.Description}}
		code, b, err := k.call(ctx, http.MethodPost, "/v3/users", k.token, body)
		if err != nil {
			return err
		}
		if code != http.StatusCreated {
			return fmt.Errorf("create user %s: HTTP %d %s", k.id.User, code, keystoneapi.Message(b))
		}
		if u, err = k.findUser(ctx); err != nil || u == nil {
			return errors.Join(fmt.Errorf("user %s not found after its creation", k.id.User), err)
		}
	} else {
		patch := map[string]any{"enabled": true, "options": k.id.Options}
		// Only a password that does not work is set again: Keystone's password history
		// (unique_last_password_count) refuses the current one.
		if ok, _ := k.signsIn(ctx); !ok {
			patch["password"] = k.auPW
		}
		code, b, err := k.call(ctx, http.MethodPatch, "/v3/users/"+u.ID, k.token, map[string]any{"user": patch})
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("update user %s: HTTP %d %s", k.id.User, code, keystoneapi.Message(b))
		}
	}
	rid, err := k.ensureRole(ctx)
	if err != nil {
		return err
	}
	code, b, err := k.call(ctx, http.MethodPut, "/v3/projects/"+k.projectID+"/users/"+u.ID+"/roles/"+rid, k.token, nil)
	if err != nil {
		return err
	}
	if code != http.StatusNoContent {
		return fmt.Errorf("grant %s on project admin to %s: HTTP %d %s", k.id.Role, k.id.User, code, keystoneapi.Message(b))
	}
	if _, _, err := k.tokens.Issue(ctx, adminScope(k.id.User, k.auPW)); err != nil {
		return fmt.Errorf("the new identity cannot sign in: %w", err)
	}
	return nil
}
