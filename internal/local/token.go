package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The Keystone token requests of the local target's tests (test/e2e, internal/local): the
// health of `cso local up` is internal/check's.

// IssueToken asks Keystone at base (https://host:port) for a project-scoped admin token.
func IssueToken(ctx context.Context, c *http.Client, base, password string) (string, error) {
	return IssueTokenAs(ctx, c, base, "admin", password)
}

// IssueTokenAs asks Keystone at base for a token of user (domain Default) scoped to project
// admin.
func IssueTokenAs(ctx context.Context, c *http.Client, base, user, password string) (string, error) {
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": user, "domain": map[string]string{"id": "default"}, "password": password}}},
		"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]string{"id": "default"}}},
	}}
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/auth/tokens", bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s/v3/auth/tokens: %s", base, resp.Status)
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", errors.New("no X-Subject-Token in the answer")
	}
	return tok, nil
}

// ValidateToken validates subject on Keystone at base, authenticated with own (a token of
// that node): 200 means the node's key set can read the subject token.
func ValidateToken(ctx context.Context, c *http.Client, base, own, subject string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v3/auth/tokens", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", own)
	req.Header.Set("X-Subject-Token", subject)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/v3/auth/tokens: %s", base, resp.Status)
	}
	return nil
}
