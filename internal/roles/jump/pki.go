package jump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// keyGroup is the group that must read a role's server key in the shared store: daemons
// that load their key after dropping root (RabbitMQ). Apache and nginx read keys as root.
var keyGroup = map[envfile.Role]string{envfile.RoleRabbitMQ: "rabbitmq"}

func pkiTasks(rt *agent.Runtime, store pki.Store) []agent.Task {
	tasks := []agent.Task{caTask{store: store}}
	for _, h := range rt.Hosts {
		tasks = append(tasks, certTask{store: store, host: h})
	}
	return tasks
}

// caTask keeps the root CA: the one Terraform stored in Secrets Manager when there is one
// (AWS), else one generated here once and kept for 30 years.
type caTask struct{ store pki.Store }

func (t caTask) Name() string { return "root CA " + t.store.CACert() }

func storedCA(ctx context.Context, rt *agent.Runtime) (certPEM, keyPEM []byte, ok bool, err error) {
	l, isLookup := rt.Secrets.(agent.SecretLookup)
	if !isLookup {
		return nil, nil, false, nil
	}
	c, okc, err := l.Lookup(ctx, agent.SecretRootCACert)
	if err != nil {
		return nil, nil, false, err
	}
	k, okk, err := l.Lookup(ctx, agent.SecretRootCAKey)
	if err != nil {
		return nil, nil, false, err
	}
	if !okc || !okk {
		return nil, nil, false, nil
	}
	return []byte(c + "\n"), []byte(k + "\n"), true, nil
}

func (t caTask) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	cert, errc := os.ReadFile(t.store.CACert())
	key, errk := os.ReadFile(CAKeyPath(rt.Paths))
	if errc != nil || errk != nil {
		return agent.Change{Needed: true, Summary: "create root CA (" + rt.Env.Name + " DXC SSP Root CA)"}, nil
	}
	if c, k, ok, err := storedCA(ctx, rt); err != nil {
		return agent.Change{}, err
	} else if ok && (!bytes.Equal(bytes.TrimSpace(c), bytes.TrimSpace(cert)) || !bytes.Equal(bytes.TrimSpace(k), bytes.TrimSpace(key))) {
		return agent.Change{Needed: true, Summary: "install the root CA stored in Secrets Manager"}, nil
	}
	if p := pki.CAProblem(cert, key, rt.Env.Name, time.Now()); p != "" {
		return agent.Change{Needed: true, Summary: "replace root CA: " + p}, nil
	}
	if st, err := os.Stat(CAKeyPath(rt.Paths)); err == nil && st.Mode().Perm() != 0o600 {
		return agent.Change{Needed: true, Summary: "chmod 0600 " + CAKeyPath(rt.Paths)}, nil
	}
	return agent.NoChange, nil
}

func (t caTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	cert, key, ok, err := storedCA(ctx, rt)
	if err != nil {
		return err
	}
	if !ok {
		// Keep a valid pair that only lost its copy in the store or its mode.
		oldKey, errk := os.ReadFile(CAKeyPath(rt.Paths))
		oldCert, errc := os.ReadFile(filepath.Join(filepath.Dir(CAKeyPath(rt.Paths)), "ca.crt"))
		if errk == nil && errc == nil && pki.CAProblem(oldCert, oldKey, rt.Env.Name, time.Now()) == "" {
			cert, key = oldCert, oldKey
		} else {
			rt.Progressf("  generating the root CA (RSA %d)", pki.CARSABits)
			if cert, key, err = pki.NewCA(rt.Env.Name, time.Now()); err != nil {
				return err
			}
		}
	} else if p := pki.CAProblem(cert, key, rt.Env.Name, time.Now()); p != "" {
		return fmt.Errorf("root CA in Secrets Manager is unusable: %s", p)
	}
	files := []agent.File{
		{Path: CAKeyPath(rt.Paths), Content: key, Mode: 0o600, Secret: true},
		{Path: filepath.Join(filepath.Dir(CAKeyPath(rt.Paths)), "ca.crt"), Content: cert, Mode: 0o644},
		{Path: t.store.CACert(), Content: cert, Mode: 0o644},
	}
	for _, f := range files {
		if err := f.Apply(ctx, rt); err != nil {
			return err
		}
	}
	return nil
}

// certTask keeps one host's server certificate: issued when missing, when it does not
// chain to the CA, names other hosts' names or expires within 30 days; kept otherwise.
type certTask struct {
	store pki.Store
	host  inventory.Host
}

func (t certTask) Name() string { return "server certificate " + t.host.Name }

func (t certTask) spec() pki.ServerSpec {
	var addrs []string
	if t.host.Address != "" {
		addrs = append(addrs, t.host.Address)
	}
	return pki.HostSpec(t.host.Name, t.host.FQDN, t.host.Aliases, addrs...)
}

// keyGID is the group of the host's key: its daemon's group when that exists here, else root.
func (t certTask) keyGID() int {
	if g, ok := keyGroup[t.host.Role]; ok {
		if gr, err := user.LookupGroup(g); err == nil {
			if n, err := strconv.Atoi(gr.Gid); err == nil {
				return n
			}
		}
	}
	return 0
}

func (t certTask) Check(_ context.Context, _ *agent.Runtime) (agent.Change, error) {
	caPEM, err := os.ReadFile(t.store.CACert())
	if err != nil {
		return agent.Change{Needed: true, Summary: "issue certificate for " + t.host.Name}, nil
	}
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return agent.Change{Needed: true, Summary: "issue certificate for " + t.host.Name}, nil
	}
	cert, errc := os.ReadFile(t.store.ServerCert(t.host.Name))
	key, errk := os.ReadFile(t.store.ServerKey(t.host.Name))
	if errors.Is(errc, fs.ErrNotExist) || errors.Is(errk, fs.ErrNotExist) {
		return agent.Change{Needed: true, Summary: "issue certificate for " + t.host.Name}, nil
	}
	if errc != nil || errk != nil {
		return agent.Change{}, errors.Join(errc, errk)
	}
	if p := pki.ServerProblem(cert, key, ca, t.spec(), time.Now()); p != "" {
		return agent.Change{Needed: true, Summary: fmt.Sprintf("reissue certificate for %s (%s)", t.host.Name, p)}, nil
	}
	st, err := os.Stat(t.store.ServerKey(t.host.Name))
	if err != nil {
		return agent.Change{}, err
	}
	if st.Mode().Perm() != 0o640 {
		return agent.Change{Needed: true, Summary: "chmod 0640 " + t.store.ServerKey(t.host.Name)}, nil
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && int(s.Gid) != t.keyGID() && t.keyGID() != 0 {
		return agent.Change{Needed: true, Summary: "chgrp " + t.store.ServerKey(t.host.Name)}, nil
	}
	return agent.NoChange, nil
}

func (t certTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	caCert, err := os.ReadFile(t.store.CACert())
	if err != nil {
		return err
	}
	caKey, err := os.ReadFile(CAKeyPath(rt.Paths))
	if err != nil {
		return fmt.Errorf("the CA key is needed to issue certificates: %w", err)
	}
	ca, err := pki.LoadCA(caCert, caKey)
	if err != nil {
		return err
	}
	keyPath, certPath := t.store.ServerKey(t.host.Name), t.store.ServerCert(t.host.Name)
	cert, key := []byte(nil), []byte(nil)
	oldCert, errc := os.ReadFile(certPath)
	oldKey, errk := os.ReadFile(keyPath)
	if errc == nil && errk == nil && pki.ServerProblem(oldCert, oldKey, ca.Cert, t.spec(), time.Now()) == "" {
		cert, key = oldCert, oldKey // only the mode or group was wrong
	} else if cert, key, err = ca.Issue(t.spec(), time.Now()); err != nil {
		return err
	}
	if err := os.MkdirAll(t.store.HostDir(t.host.Name), 0o755); err != nil {
		return err
	}
	kf := agent.File{Path: keyPath, Content: key, Mode: 0o640, Secret: true}
	if err := kf.Apply(ctx, rt); err != nil {
		return err
	}
	if err := os.Chown(keyPath, 0, t.keyGID()); err != nil {
		return err
	}
	return agent.File{Path: certPath, Content: cert, Mode: 0o644}.Apply(ctx, rt)
}
