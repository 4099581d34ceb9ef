package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// keystoneClient signs operators in against Keystone and checks their tokens.
type keystoneClient struct {
	urls    []string // base URLs of the Keystone nodes, tried in order when one is unreachable
	client  *http.Client
	project string
	domain  string
}

// identity is what a valid token says about its holder.
type identity struct {
	User    string
	Roles   []string
	Expires time.Time
}

// errDenied means Keystone refused the credentials or the token.
var errDenied = errors.New("denied by Keystone")

type tokenBody struct {
	Token struct {
		User struct {
			Name string `json:"name"`
		} `json:"user"`
		Roles []struct {
			Name string `json:"name"`
		} `json:"roles"`
		ExpiresAt string `json:"expires_at"`
	} `json:"token"`
}

func (b tokenBody) identity() identity {
	id := identity{User: b.Token.User.Name}
	for _, r := range b.Token.Roles {
		id.Roles = append(id.Roles, r.Name)
	}
	if t, err := time.Parse(time.RFC3339Nano, b.Token.ExpiresAt); err == nil {
		id.Expires = t
	}
	return id
}

// do sends a request to the first Keystone node that answers.
func (k *keystoneClient) do(ctx context.Context, method, path string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	var errs []error
	for _, base := range k.urls {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header = hdr.Clone()
		resp, err := k.client.Do(req)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp, b, err
	}
	return nil, nil, fmt.Errorf("no Keystone node answered: %w", errors.Join(errs...))
}

// signIn issues a token scoped to the admin project for user.
func (k *keystoneClient) signIn(ctx context.Context, user, password string) (string, identity, error) {
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": user, "domain": map[string]string{"name": k.domain}, "password": password}}},
		"scope": map[string]any{"project": map[string]any{"name": k.project, "domain": map[string]string{"name": k.domain}}},
	}})
	resp, b, err := k.do(ctx, http.MethodPost, "/v3/auth/tokens", http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return "", identity{}, err
	}
	switch {
	case resp.StatusCode == http.StatusCreated:
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound:
		return "", identity{}, errDenied
	default:
		return "", identity{}, fmt.Errorf("keystone answered HTTP %d to a sign-in", resp.StatusCode)
	}
	tok := resp.Header.Get("X-Subject-Token")
	var tb tokenBody
	if tok == "" || json.Unmarshal(b, &tb) != nil {
		return "", identity{}, errors.New("keystone answered 201 without a token")
	}
	return tok, tb.identity(), nil
}

// validate asks Keystone whether token is still valid (a token may validate itself).
func (k *keystoneClient) validate(ctx context.Context, token string) (identity, error) {
	resp, b, err := k.do(ctx, http.MethodGet, "/v3/auth/tokens", http.Header{"X-Auth-Token": {token}, "X-Subject-Token": {token}}, nil)
	if err != nil {
		return identity{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var tb tokenBody
		if err := json.Unmarshal(b, &tb); err != nil {
			return identity{}, fmt.Errorf("keystone token validation: %w", err)
		}
		return tb.identity(), nil
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusForbidden:
		return identity{}, errDenied
	}
	return identity{}, fmt.Errorf("keystone answered HTTP %d to a token validation", resp.StatusCode)
}

// revoke ends token in Keystone.
func (k *keystoneClient) revoke(ctx context.Context, token string) error {
	resp, _, err := k.do(ctx, http.MethodDelete, "/v3/auth/tokens", http.Header{"X-Auth-Token": {token}, "X-Subject-Token": {token}}, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("keystone answered HTTP %d to a token revocation", resp.StatusCode)
	}
	return nil
}

func hasRole(id identity, role string) bool { return role == "" || slices.Contains(id.Roles, role) }
