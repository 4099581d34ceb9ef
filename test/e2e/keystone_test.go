package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/pki"
)

// keystoneNode is a Keystone host of the stack with a client that dials it and verifies
// its certificate against the project CA for its name.
type keystoneNode struct {
	h    inventory.Host
	c    *http.Client
	base string
}

func keystoneNodes(t *testing.T, s *Stack) []keystoneNode {
	t.Helper()
	caPEM, err := os.ReadFile(s.Target.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.Pool(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	var out []keystoneNode
	for _, h := range s.Target.Hosts {
		if h.Role != "keystone" {
			continue
		}
		addr := net.JoinHostPort(h.Address, strconv.Itoa(h.Ports[inventory.PortKeystone]))
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: h.FQDN, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}
		out = append(out, keystoneNode{h: h, c: &http.Client{Transport: tr, Timeout: 30 * time.Second},
			base: "https://" + h.FQDN + ":" + strconv.Itoa(h.Ports[inventory.PortKeystone])})
	}
	if len(out) < 2 {
		t.Fatalf("the HA stack has %d Keystone nodes, want 2", len(out))
	}
	return out
}

// TestFernetRotationLockStep rotates the shared key set on keystone01, proves a second
// rotation is refused until keystone02 installed the set, distributes it, and checks that
// tokens issued before and after validate on both nodes. The stack ends converged.
func TestFernetRotationLockStep(t *testing.T) {
	s := requireStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ks := keystoneNodes(t, s)
	pw, err := os.ReadFile(filepath.Join(s.Target.SecretsDir, agent.SecretKeystoneAdmin))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))
	before, err := local.IssueToken(ctx, ks[0].c, ks[0].base, password)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code, err := s.Run(ctx, "agent", "--local-dir", s.Dir, "--host", ks[0].h.Name, "--rotate-fernet")
	if err != nil || code != 0 || !strings.Contains(out, "rotated the shared fernet key set") {
		t.Fatalf("rotate on %s: exit %d %v\n%s%s", ks[0].h.Name, code, err, out, errOut)
	}
	out, errOut, code, _ = s.Run(ctx, "agent", "--local-dir", s.Dir, "--host", ks[0].h.Name, "--rotate-fernet")
	if code == 0 || !strings.Contains(out+errOut, "refusing to rotate: "+ks[1].h.Name+" has not installed") {
		t.Errorf("second rotation before distribution: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code, err = s.Run(ctx, "agent", "--local-dir", s.Dir, "--host", ks[1].h.Name)
	if err != nil || code != 0 || !strings.Contains(out, "install the fernet key set") {
		t.Fatalf("distribute to %s: exit %d %v\n%s%s", ks[1].h.Name, code, err, out, errOut)
	}
	a, _ := os.ReadDir(s.Target.FernetKeyDirs[ks[0].h.Name])
	b, _ := os.ReadDir(s.Target.FernetKeyDirs[ks[1].h.Name])
	if len(a) != 3 || len(b) != 3 {
		t.Errorf("after one rotation the nodes hold %d and %d keys, want 3 each", len(a), len(b))
	}
	after, err := local.IssueToken(ctx, ks[1].c, ks[1].base, password)
	if err != nil {
		t.Fatal(err)
	}
	own0, err := local.IssueToken(ctx, ks[0].c, ks[0].base, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := local.ValidateToken(ctx, ks[1].c, ks[1].base, after, before); err != nil {
		t.Errorf("a token issued before the rotation on %s does not validate on %s: %v", ks[0].h.Name, ks[1].h.Name, err)
	}
	if err := local.ValidateToken(ctx, ks[0].c, ks[0].base, own0, after); err != nil {
		t.Errorf("a token issued after the rotation on %s does not validate on %s: %v", ks[1].h.Name, ks[0].h.Name, err)
	}
	// Both nodes converged again: nothing left to do.
	for _, k := range ks {
		out, errOut, code, _ := s.Run(ctx, "agent", "--local-dir", s.Dir, "--host", k.h.Name, "--dry-run")
		if code != 0 {
			t.Errorf("%s not converged after the rotation: exit %d\n%s%s", k.h.Name, code, out, errOut)
		}
	}
}
