// Package keystoneapi is the one client of Keystone's v3 token API that the admin
// dashboard, `cso check`, `cso bench`, the jump role's identity tasks and the local
// target's tests share: password authentication, token validation and revocation, with
// Keystone's HTTP status and message kept in the errors (the check and the load tool report
// them). See docs/decisions/check-admin.md for why it is not gophercloud.
package keystoneapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// TokensPath is the v3 token resource, relative to a node's base URL.
const TokensPath = "/v3/auth/tokens"

// maxAnswer bounds how much of an answer is read: a token document with its catalog is a
// few kilobytes.
const maxAnswer = 1 << 20

// Credentials name a user for password authentication. Project "" asks for an unscoped
// token; the project, when named, is in the user's domain.
type Credentials struct {
	User, Password, Domain, Project string
}

// Identity is what a token says about its holder.
type Identity struct {
	User      string
	Project   string // "" for an unscoped token
	ProjectID string // the scope's id, for the identity API's paths (/v3/projects/<id>/...)
	Roles     []string
	Expires   time.Time
}

// ErrDenied matches (errors.Is) a StatusError whose status means Keystone refused the
// credentials or the token: 401, 403 or 404.
var ErrDenied = errors.New("denied by Keystone")

// StatusError is an answer other than the one the operation expects.
type StatusError struct {
	Op      string // "token request", "token validation", "token revocation"
	Status  int
	Message string // Keystone's error message, else the start of the body; may be ""
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("keystone answered HTTP %d to a %s", e.Status, e.Op)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is(err, ErrDenied) true for the statuses of a refusal.
func (e *StatusError) Is(target error) bool {
	return target == ErrDenied && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusNotFound)
}

// Client sends token requests to Keystone nodes.
type Client struct {
	HTTP *http.Client
	// URLs are the base URLs (https://host:port) of the nodes, tried in order while a node
	// does not answer at all; an HTTP answer, whatever its status, ends the attempt.
	URLs []string
}

// Issue authenticates c with its password and returns the token and what it says.
func (k Client) Issue(ctx context.Context, c Credentials) (string, Identity, error) {
	resp, body, err := k.do(ctx, http.MethodPost, http.Header{"Content-Type": {"application/json"}}, PasswordAuthBody(c))
	if err != nil {
		return "", Identity{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", Identity{}, statusError("token request", resp.StatusCode, body)
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", Identity{}, errors.New("keystone answered 201 without an X-Subject-Token header")
	}
	id, err := ParseIdentity(body)
	if err != nil {
		return "", Identity{}, fmt.Errorf("keystone token request: %w", err)
	}
	return tok, id, nil
}

// Validate asks Keystone what subject says, authenticated with own (a token may validate
// itself).
func (k Client) Validate(ctx context.Context, own, subject string) (Identity, error) {
	resp, body, err := k.do(ctx, http.MethodGet, http.Header{"X-Auth-Token": {own}, "X-Subject-Token": {subject}}, nil)
	if err != nil {
		return Identity{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Identity{}, statusError("token validation", resp.StatusCode, body)
	}
	id, err := ParseIdentity(body)
	if err != nil {
		return Identity{}, fmt.Errorf("keystone token validation: %w", err)
	}
	return id, nil
}

// Revoke ends token; a token Keystone no longer knows (404) is already ended.
func (k Client) Revoke(ctx context.Context, token string) error {
	resp, body, err := k.do(ctx, http.MethodDelete, http.Header{"X-Auth-Token": {token}, "X-Subject-Token": {token}}, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
		return statusError("token revocation", resp.StatusCode, body)
	}
	return nil
}

// do sends one request to the first node that answers and reads its answer. A transport
// error is returned as the HTTP client gave it (one node) or joined (several), so callers
// can still inspect it with errors.As.
func (k Client) do(ctx context.Context, method string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	if len(k.URLs) == 0 {
		return nil, nil, errors.New("no Keystone URL to send to")
	}
	var errs []error
	for _, base := range k.URLs {
		req, err := NewRequest(ctx, method, base, body)
		if err != nil {
			return nil, nil, err
		}
		for name, v := range hdr {
			req.Header[name] = v
		}
		resp, err := k.HTTP.Do(req)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: read answer: %w", method, base+TokensPath, err)
		}
		return resp, b, nil
	}
	if len(errs) == 1 {
		return nil, nil, errs[0]
	}
	return nil, nil, fmt.Errorf("no Keystone node answered: %w", errors.Join(errs...))
}

// NewRequest is a request to the token resource of the node at base; body, when not nil,
// is sent as is (the load tool builds it once with PasswordAuthBody).
func NewRequest(ctx context.Context, method, base string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+TokensPath, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// PasswordAuthBody is the JSON body of a v3 password authentication of c.
func PasswordAuthBody(c Credentials) []byte {
	auth := map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": c.User, "domain": map[string]string{"name": c.Domain}, "password": c.Password,
			}},
		},
	}
	if c.Project != "" {
		auth["scope"] = map[string]any{"project": map[string]any{"name": c.Project, "domain": map[string]string{"name": c.Domain}}}
	}
	b, _ := json.Marshal(map[string]any{"auth": auth}) // strings and maps only: cannot fail
	return b
}

// ParseIdentity reads a token document (the body of an issue or a validation).
func ParseIdentity(body []byte) (Identity, error) {
	var doc struct {
		Token struct {
			User struct {
				Name string `json:"name"`
			} `json:"user"`
			Project struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"project"`
			Roles []struct {
				Name string `json:"name"`
			} `json:"roles"`
			ExpiresAt string `json:"expires_at"`
		} `json:"token"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Identity{}, fmt.Errorf("token document: %w", err)
	}
	id := Identity{User: doc.Token.User.Name, Project: doc.Token.Project.Name, ProjectID: doc.Token.Project.ID}
	for _, r := range doc.Token.Roles {
		id.Roles = append(id.Roles, r.Name)
	}
	if doc.Token.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, doc.Token.ExpiresAt)
		if err != nil {
			return Identity{}, fmt.Errorf("token document: expires_at: %w", err)
		}
		id.Expires = t
	}
	return id, nil
}

func statusError(op string, status int, body []byte) *StatusError {
	return &StatusError{Op: op, Status: status, Message: Message(body)}
}

// Message is Keystone's error message in an answer body ({"error": {"message": ...}}),
// else the start of the body on one line, else "".
func Message(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
