package jump

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check/checktest"
	"github.com/cso-ssp/platform/internal/keystoneapi"
)

// The identity tasks' token requests go through keystoneapi: admin's token carries project
// admin's id (the identity API's role paths need it), and a refused password of the
// identity reads as "does not sign in", not as an error.
func TestIdentityTokenRequests(t *testing.T) {
	ca := checktest.ValidCA(t)
	ks := checktest.NewKeystoneCluster(map[string]checktest.KeystoneUser{
		"admin":                 {Password: "admin-pw", Roles: []string{"admin"}},
		automationIdentity.User: {Password: "current", Roles: []string{AutomationRole}},
	}).NewKeystone(t, ca.ValidLeaf("127.0.0.1"))
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	api := func(adminPW, auPW string) *keystoneAPI {
		return &keystoneAPI{base: ks.Server.URL, client: hc, adminPW: adminPW, auPW: auPW, id: automationIdentity,
			tokens: keystoneapi.Client{HTTP: hc, URLs: []string{ks.Server.URL}}}
	}
	ctx := context.Background()

	k := api("admin-pw", "current")
	tok, err := k.adminToken(ctx)
	if err != nil || tok == "" || k.projectID != checktest.AdminProjectID {
		t.Fatalf("admin token %q, project id %q, %v", tok, k.projectID, err)
	}
	if ok, err := k.signsIn(ctx); !ok || err != nil {
		t.Fatalf("the secret's password signs in: %v, %v", ok, err)
	}
	if ok, err := api("admin-pw", "rotated").signsIn(ctx); ok || err != nil {
		t.Fatalf("a password Keystone refuses: want false and no error, got %v, %v", ok, err)
	}
	if _, err := api("wrong", "current").adminToken(ctx); err == nil {
		t.Fatal("a wrong admin password must fail the admin token")
	}
}
