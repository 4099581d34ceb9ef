package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/target"
)

// TestBindingsProbe grades the bindings an application service reports at its health
// path: each failed binding is named with its reason.
func TestBindingsProbe(t *testing.T) {
	tests := []struct {
		body   string
		status Status
		detail string
	}{
		{`{"status":"UP","bindings":{"mysql":{"status":"ok","reason":""},"rabbitmq":{"status":"ok","reason":""},"keystone":{"status":"ok","reason":""}}}`,
			OK, "customers: keystone, mysql, rabbitmq ok"},
		{`{"status":"UP","bindings":{"mysql":{"status":"fail","reason":"SQLInvalidAuthorizationSpecException Access denied for user 'cso_user'"},"rabbitmq":{"status":"ok","reason":""}}}`,
			Fail, "customers: mysql fail (SQLInvalidAuthorizationSpecException Access denied for user 'cso_user')"},
		{`{"status":"UP","bindings":{"rabbitmq":{"status":"pending","reason":"not checked yet"},"mysql":{"status":"ok"}}}`,
			Warn, "customers: rabbitmq not checked yet (ok: mysql)"},
		{`OK`, Warn, "not the JSON document of the bindings contract"},
		{`{"status":"UP","bindings":{}}`, OK, "customers uses no binding"},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/customers/health" {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(tc.body))
		}))
		c := New(&target.Target{AppHealth: map[string]string{"customers": "/api/customers/health"}}, Options{Timeout: 5 * time.Second})
		out := c.httpProbe(http.MethodGet, srv.URL+"/api/customers/health", nil, expectBindings("customers"))(context.Background())
		srv.Close()
		if out.Status != tc.status || !strings.Contains(out.Detail, tc.detail) {
			t.Errorf("%s: got %s %q, want %s containing %q", tc.body, out.Status, out.Detail, tc.status, tc.detail)
		}
	}
}
