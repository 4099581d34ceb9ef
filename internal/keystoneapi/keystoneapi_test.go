package keystoneapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/keystoneapi"
)

// cluster starts two nodes of the Keystone double that share a key set, and a client that
// trusts their CA.
func cluster(t *testing.T) (*http.Client, *checktest.Keystone, *checktest.Keystone) {
	t.Helper()
	ca := checktest.ValidCA(t)
	kc := checktest.NewKeystoneCluster(map[string]checktest.KeystoneUser{
		"admin": {Password: "s3cret", Roles: []string{"admin", "reader"}},
	})
	a, b := kc.NewKeystone(t, ca.ValidLeaf("127.0.0.1")), kc.NewKeystone(t, ca.ValidLeaf("127.0.0.1"))
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, a, b
}

var admin = keystoneapi.Credentials{User: "admin", Password: "s3cret", Domain: "Default", Project: "admin"}

func TestIssueValidateRevoke(t *testing.T) {
	hc, a, b := cluster(t)
	ctx := context.Background()
	ka := keystoneapi.Client{HTTP: hc, URLs: []string{a.Server.URL}}
	kb := keystoneapi.Client{HTTP: hc, URLs: []string{b.Server.URL}}

	tok, id, err := ka.Issue(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || id.User != "admin" || id.Project != "admin" || id.ProjectID != checktest.AdminProjectID || !slices.Equal(id.Roles, []string{"admin", "reader"}) || id.Expires.Year() != 2099 {
		t.Fatalf("issue: token %q, identity %+v", tok, id)
	}
	// Cross-validation: b's own token authenticates the validation of a's token on b.
	own, _, err := kb.Issue(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kb.Validate(ctx, own, tok); err != nil || got.User != "admin" {
		t.Fatalf("validate on the other node: %+v, %v", got, err)
	}
	if err := ka.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err = kb.Validate(ctx, own, tok)
	var se *keystoneapi.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || se.Message != "Could not recognize Fernet token" || !errors.Is(err, keystoneapi.ErrDenied) {
		t.Fatalf("validating a revoked token: %v", err)
	}
	// A revoked token cannot authenticate its own second revocation.
	if err := ka.Revoke(ctx, tok); err == nil {
		t.Fatal("revoking with a revoked token as X-Auth-Token must be refused (401)")
	} else if !errors.Is(err, keystoneapi.ErrDenied) {
		t.Fatalf("revoke: %v", err)
	}
}

func TestIssueRefused(t *testing.T) {
	hc, a, _ := cluster(t)
	k := keystoneapi.Client{HTTP: hc, URLs: []string{a.Server.URL}}
	bad := admin
	bad.Password = "wrong"
	_, _, err := k.Issue(context.Background(), bad)
	var se *keystoneapi.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || !errors.Is(err, keystoneapi.ErrDenied) {
		t.Fatalf("wrong password: %v", err)
	}
	if want := "keystone answered HTTP 401 to a token request: The request you have made requires authentication."; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestStatusOtherThanRefusalIsNotDenied(t *testing.T) {
	err := error(&keystoneapi.StatusError{Op: "token request", Status: http.StatusInternalServerError})
	if errors.Is(err, keystoneapi.ErrDenied) {
		t.Fatal("a 500 is not a refusal of the credentials")
	}
}

// A node that does not answer is skipped for the next; the transport error stays
// inspectable when none answers.
func TestFallbackToTheNextNode(t *testing.T) {
	hc, a, _ := cluster(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close()
	k := keystoneapi.Client{HTTP: hc, URLs: []string{dead, a.Server.URL}}
	if _, _, err := k.Issue(context.Background(), admin); err != nil {
		t.Fatalf("with the second node up: %v", err)
	}
	_, _, err = keystoneapi.Client{HTTP: hc, URLs: []string{dead, dead}}.Issue(context.Background(), admin)
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || !strings.Contains(err.Error(), "no Keystone node answered") {
		t.Fatalf("no node up: %v", err)
	}
}

func TestPasswordAuthBody(t *testing.T) {
	var doc map[string]map[string]any
	if err := json.Unmarshal(keystoneapi.PasswordAuthBody(keystoneapi.Credentials{User: "u", Password: "p", Domain: "D"}), &doc); err != nil {
		t.Fatal(err)
	}
	if _, scoped := doc["auth"]["scope"]; scoped {
		t.Fatal("no project: the token must be unscoped")
	}
	b := string(keystoneapi.PasswordAuthBody(admin))
	for _, want := range []string{`"scope":{"project":{"domain":{"name":"Default"},"name":"admin"}}`, `"password":"s3cret"`, `"methods":["password"]`} {
		if !strings.Contains(b, want) {
			t.Errorf("body %s lacks %s", b, want)
		}
	}
}

func TestMessage(t *testing.T) {
	if got := keystoneapi.Message([]byte(`{"error":{"code":404,"message":"Could not find token"}}`)); got != "Could not find token" {
		t.Errorf("keystone error: %q", got)
	}
	if got := keystoneapi.Message([]byte("<html>\n  Bad   Gateway\n</html>")); got != "<html> Bad Gateway </html>" {
		t.Errorf("other body: %q", got)
	}
}
