// Package stacktest builds a local stack for the role tests: a directory tree per host, a
// shared certificate store with a project CA and server certificates, generated secrets in
// 0600 files, a status directory and E1's local platform (the supervisor). Its cleanup
// stops every service the stack started, then removes the tree.
package stacktest

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/status"
)

// Stack is one local environment for a test.
type Stack struct {
	T        testing.TB
	Dir      string
	Env      *envfile.Env
	Hosts    []inventory.Host
	Secrets  *agent.LocalSecrets
	Platform *agent.Local
	Store    status.Dir
	Certs    pki.Store
	Pool     *x509.CertPool
	ca       *pki.CA
}

// RequireTools skips the test (or fails it when CI=true) when a tool is missing.
func RequireTools(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			msg := p + " is missing: run scripts/install-deps.sh"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// New creates a stack in a fresh directory /tmp/cso-e2-<name>-*. Daemons that drop to their
// own user (rabbitmq, www-data) must traverse it, hence 0755 and not t.TempDir's 0700.
func New(t testing.TB, name string, o inventory.LocalOptions) *Stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "cso-e2-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := &envfile.Env{Name: "e2test", DomainSuffix: "cso.test", HA: o.HA}
	s := &Stack{
		T: t, Dir: dir, Env: env, Hosts: inventory.Local(env, o),
		Secrets:  &agent.LocalSecrets{Dir: filepath.Join(dir, "secrets")},
		Platform: agent.NewLocal(filepath.Join(dir, "supervise"), filepath.Join(dir, "supervise-logs")),
		Store:    status.Dir{Path: filepath.Join(dir, "status")},
		Certs:    pki.Store{Dir: filepath.Join(dir, "shared", "ssl-certs")},
	}
	t.Cleanup(s.cleanup)
	certPEM, keyPEM, err := pki.NewCA(env.Name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.ca, err = pki.LoadCA(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if s.Pool, err = pki.Pool(certPEM); err != nil {
		t.Fatal(err)
	}
	s.write(s.Certs.CACert(), certPEM, 0o644)
	for _, h := range s.Hosts {
		spec := pki.HostSpec(h.Name, h.FQDN, h.Aliases, h.Address)
		crt, key, err := s.ca.Issue(spec, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.write(s.Certs.ServerCert(h.Name), crt, 0o644)
		s.write(s.Certs.ServerKey(h.Name), key, 0o600)
	}
	return s
}

func (s *Stack) write(path string, data []byte, mode os.FileMode) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.T.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		s.T.Fatal(err)
	}
}

// Host returns the host called name.
func (s *Stack) Host(name string) inventory.Host {
	h, ok := inventory.Find(s.Hosts, name)
	if !ok {
		s.T.Fatalf("no host %s in the stack", name)
	}
	return h
}

// Paths is host's tree in the stack.
func (s *Stack) Paths(host string) agent.Paths {
	root := filepath.Join(s.Dir, "hosts", host)
	return agent.Paths{
		Root: root, SSLCerts: s.Certs.Dir, Scripts: filepath.Join(s.Dir, "shared", "scripts"),
		Etc: filepath.Join(root, "etc"), Data: filepath.Join(root, "var", "lib"),
		Log: filepath.Join(root, "var", "log"), Run: filepath.Join(root, "run"),
		Status: s.Store.Path, Bucket: filepath.Join(s.Dir, "bucket"), SecretDir: s.Secrets.Dir,
	}
}

// Runtime is the runtime of host; progress goes to the test log.
func (s *Stack) Runtime(host inventory.Host) *agent.Runtime {
	return &agent.Runtime{
		Env: s.Env, Host: host, Hosts: s.Hosts, Paths: s.Paths(host.Name), Platform: s.Platform,
		Secrets: s.Secrets, Progress: testWriter{s.T}, MySQL: "", Bucket: agent.DirBucket{Dir: filepath.Join(s.Dir, "bucket")},
	}
}

// Run converges host with role and publishes status.
func (s *Stack) Run(ctx context.Context, host inventory.Host, role agent.Role, mutate ...func(*agent.Runtime)) (agent.Result, error) {
	rt := s.Runtime(host)
	for _, m := range mutate {
		m(rt)
	}
	return agent.Run(ctx, rt, role, s.Store)
}

// Secret returns a generated secret of the stack.
func (s *Stack) Secret(name string) string {
	v, err := s.Secrets.Get(context.Background(), name)
	if err != nil {
		s.T.Fatal(err)
	}
	return v
}

// cleanup stops every service the stack's supervisor started (in parallel: a RabbitMQ
// shutdown takes seconds), then removes the tree unless the test failed and
// CSO_KEEP_TEST_DIRS is set ("always" keeps it after a pass too).
func (s *Stack) cleanup() {
	names, _ := s.Platform.Supervisor.Services()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := s.Platform.Stop(ctx, n); err != nil {
				s.T.Logf("stop %s: %v", n, err)
			}
		}()
	}
	wg.Wait()
	if keep := os.Getenv("CSO_KEEP_TEST_DIRS"); keep == "always" || (s.T.Failed() && keep != "") {
		s.T.Logf("kept %s", s.Dir)
		return
	}
	_ = os.RemoveAll(s.Dir)
}

// AssertNoSecretLeak fails when a generated secret of names appears in a process argument
// list, or in any file of the stack other than the secret files and the files listed in
// allowed (e.g. a cookie file meant to hold it).
func (s *Stack) AssertNoSecretLeak(allowed []string, names ...string) {
	s.T.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, n := range names {
		v := []byte(s.Secret(n))
		for _, p := range procs {
			if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, v) {
				s.T.Errorf("secret %s appears in the argument list %s", n, p)
			}
		}
		_ = filepath.Walk(s.Dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !info.Mode().IsRegular() || info.Size() > 64<<20 {
				return nil
			}
			if strings.HasPrefix(path, s.Secrets.Dir+string(filepath.Separator)) {
				return nil
			}
			for _, a := range allowed {
				if path == a {
					if info.Mode().Perm()&0o077 != 0 {
						s.T.Errorf("%s holds secret %s with mode %o", path, n, info.Mode().Perm())
					}
					return nil
				}
			}
			if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, v) {
				s.T.Errorf("secret %s appears in %s", n, path)
			}
			return nil
		})
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// AppHostsOnly drops the Keystone and RabbitMQ hosts from the runtime's inventory, for tests
// about the frontend and backend roles alone; the dependency wait is tested on its own
// (apppkg) and against a real RabbitMQ cluster (rabbitmq).
func AppHostsOnly(rt *agent.Runtime) {
	var hs []inventory.Host
	for _, h := range rt.Hosts {
		if h.Role != envfile.RoleKeystone && h.Role != envfile.RoleRabbitMQ {
			hs = append(hs, h)
		}
	}
	rt.Hosts = hs
}
