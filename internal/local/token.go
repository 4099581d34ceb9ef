package local

import (
	"context"
	"net/http"

	"github.com/cso-ssp/platform/internal/keystoneapi"
)

// The Keystone token requests of the local target's tests (test/e2e, internal/local), on
// the shared client internal/keystoneapi: the health of `cso local up` is internal/check's.

// IssueToken asks Keystone at base (https://host:port) for a project-scoped admin token.
func IssueToken(ctx context.Context, c *http.Client, base, password string) (string, error) {
	return IssueTokenAs(ctx, c, base, "admin", password)
}

// IssueTokenAs asks Keystone at base for a token of user (domain Default) scoped to project
// admin.
func IssueTokenAs(ctx context.Context, c *http.Client, base, user, password string) (string, error) {
	tok, _, err := keystoneapi.Client{HTTP: c, URLs: []string{base}}.Issue(ctx,
		keystoneapi.Credentials{User: user, Password: password, Domain: "Default", Project: "admin"})
	return tok, err
}

// ValidateToken validates subject on Keystone at base, authenticated with own (a token of
// that node): nil means the node's key set can read the subject token.
func ValidateToken(ctx context.Context, c *http.Client, base, own, subject string) error {
	_, err := keystoneapi.Client{HTTP: c, URLs: []string{base}}.Validate(ctx, own, subject)
	return err
}
