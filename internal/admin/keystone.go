package admin

import (
	"context"
	"net/http"
	"slices"

	"github.com/cso-ssp/platform/internal/keystoneapi"
)

// keystoneClient signs operators in against Keystone and checks their tokens.
type keystoneClient struct {
	urls    []string // base URLs of the Keystone nodes, tried in order when one is unreachable
	client  *http.Client
	project string
	domain  string
}

// identity is what a valid token says about its holder.
type identity = keystoneapi.Identity

// errDenied means Keystone refused the credentials or the token.
var errDenied = keystoneapi.ErrDenied

func (k *keystoneClient) api() keystoneapi.Client {
	return keystoneapi.Client{HTTP: k.client, URLs: k.urls}
}

// signIn issues a token scoped to the admin project for user.
func (k *keystoneClient) signIn(ctx context.Context, user, password string) (string, identity, error) {
	return k.api().Issue(ctx, keystoneapi.Credentials{User: user, Password: password, Domain: k.domain, Project: k.project})
}

// validate asks Keystone whether token is still valid (a token may validate itself).
func (k *keystoneClient) validate(ctx context.Context, token string) (identity, error) {
	return k.api().Validate(ctx, token, token)
}

// revoke ends token in Keystone.
func (k *keystoneClient) revoke(ctx context.Context, token string) error {
	return k.api().Revoke(ctx, token)
}

func hasRole(id identity, role string) bool { return role == "" || slices.Contains(id.Roles, role) }
