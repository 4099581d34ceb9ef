package jump

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// keyGroup is the group that must read a role's server key in the shared store: daemons
// that load their key after dropping root (RabbitMQ). Apache and nginx read keys as root.
var keyGroup = map[envfile.Role]string{envfile.RoleRabbitMQ: "rabbitmq"}

// pkiTasks keep the project CA certificate in the shared store. On AWS (the secret store is
// an agent.HostTLSSource) Terraform is the CA: the jump host installs the CA certificate
// of its own `<env>/cso/tls/<host>` secret and keeps no CA key on disk (it reads it into
// memory only to renew a host certificate: renewSteps); each host installs its own
// certificate and key from its own secret (agent.OwnTLSTask), which no other host may
// read, and no private key stays in the shared store. Locally the jump host is the
// CA: it generates one and issues every host's certificate and key into the shared store.
func pkiTasks(rt *agent.Runtime, store pki.Store) []agent.Task {
	if src, ok := rt.Secrets.(agent.HostTLSSource); ok {
		return []agent.Task{tfCATask{store: store, src: src}, sharedKeysTask{store: store}}
	}
	tasks := []agent.Task{caTask{store: store}}
	for _, h := range rt.Hosts {
		tasks = append(tasks, certTask{store: store, host: h})
	}
	if db, ok := DatabaseCertHost(rt); ok {
		tasks = append(tasks, certTask{store: store, host: db})
	}
	return tasks
}

// DatabaseCertName is the local MariaDB's directory in the certificate store.
const DatabaseCertName = "mysql"

// DatabaseCertHost is the local MariaDB as a certificate subject: on the local target the
// project CA signs the database's certificate too, for the address clients dial
// (rt.MySQL's host) and the LLD's mysql.<zone> name, so that every client verifies it as it
// verifies RDS on AWS (issue #10). ok is false when rt.MySQL names no host:port.
func DatabaseCertHost(rt *agent.Runtime) (inventory.Host, bool) {
	host, _, err := net.SplitHostPort(rt.MySQL)
	if err != nil || host == "" {
		return inventory.Host{}, false
	}
	h := inventory.Host{Name: DatabaseCertName, FQDN: rt.Env.FQDN("mysql")}
	if net.ParseIP(host) != nil {
		h.Address = host
	} else if host != h.FQDN {
		h.Aliases = []string{host}
	}
	return h, true
}

// caTask keeps the root CA of the local target: generated here once and kept for 30 years.
type caTask struct{ store pki.Store }

func (t caTask) Name() string { return "root CA " + t.store.CACert() }

func (t caTask) Check(_ context.Context, rt *agent.Runtime) (agent.Change, error) {
	cert, errc := os.ReadFile(t.store.CACert())
	key, errk := os.ReadFile(CAKeyPath(rt.Paths))
	if errc != nil || errk != nil {
		return agent.Change{Needed: true, Summary: "create root CA (" + rt.Env.Name + " DXC SSP Root CA)"}, nil
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
	var cert, key []byte
	// Keep a valid pair that only lost its copy in the store or its mode.
	oldKey, errk := os.ReadFile(CAKeyPath(rt.Paths))
	oldCert, errc := os.ReadFile(localCACertPath(rt.Paths))
	if errk == nil && errc == nil && pki.CAProblem(oldCert, oldKey, rt.Env.Name, time.Now()) == "" {
		cert, key = oldCert, oldKey
	} else {
		rt.Progressf("  generating the root CA (RSA %d)", pki.CARSABits)
		var err error
		if cert, key, err = pki.NewCA(rt.Env.Name, time.Now()); err != nil {
			return err
		}
	}
	files := []agent.File{
		{Path: CAKeyPath(rt.Paths), Content: key, Mode: 0o600, Secret: true},
		{Path: localCACertPath(rt.Paths), Content: cert, Mode: 0o644},
		{Path: t.store.CACert(), Content: cert, Mode: 0o644},
	}
	for _, f := range files {
		if err := f.Apply(ctx, rt); err != nil {
			return err
		}
	}
	return nil
}

// localCACertPath is the jump host's own copy of the CA certificate, next to its key.
func localCACertPath(p agent.Paths) string {
	return filepath.Join(filepath.Dir(CAKeyPath(p)), "ca.crt")
}

// certTask keeps one host's server certificate on the local target: issued when missing,
// when it does not chain to the CA, names other hosts' names or expires within 30 days;
// kept otherwise.
type certTask struct {
	store pki.Store
	host  inventory.Host
}

func (t certTask) Name() string { return "server certificate " + t.host.Name }

func (t certTask) spec() pki.ServerSpec { return HostCertSpec(t.host) }

// HostCertSpec is what a host's server certificate names: its FQDN, short name, aliases,
// localhost and its address when known.
func HostCertSpec(h inventory.Host) pki.ServerSpec {
	var addrs []string
	if h.Address != "" {
		addrs = append(addrs, h.Address)
	}
	return pki.HostSpec(h.Name, h.FQDN, h.Aliases, addrs...)
}

// WriteHostPair installs a host's new key and certificate in the shared store as the jump
// role does (`cso certs renew` on the local target): each host's agent then installs and
// reloads them on its next run.
func WriteHostPair(ctx context.Context, store pki.Store, h inventory.Host, cert, key []byte) error {
	return writePair(ctx, nil, store, h, cert, key)
}

// keyGID is the group of a host's key: its daemon's group when that exists here, else root.
func keyGID(h inventory.Host) int {
	if g, ok := keyGroup[h.Role]; ok {
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
	return pairModeChange(t.store, t.host)
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
	cert, key := []byte(nil), []byte(nil)
	oldCert, errc := os.ReadFile(t.store.ServerCert(t.host.Name))
	oldKey, errk := os.ReadFile(t.store.ServerKey(t.host.Name))
	if errc == nil && errk == nil && pki.ServerProblem(oldCert, oldKey, ca.Cert, t.spec(), time.Now()) == "" {
		cert, key = oldCert, oldKey // only the mode or group was wrong
	} else if cert, key, err = ca.Issue(t.spec(), time.Now()); err != nil {
		return err
	}
	return writePair(ctx, rt, t.store, t.host, cert, key)
}

// pairModeChange says whether a host's key in the store lacks its mode (0640) or group.
func pairModeChange(store pki.Store, h inventory.Host) (agent.Change, error) {
	st, err := os.Stat(store.ServerKey(h.Name))
	if err != nil {
		return agent.Change{}, err
	}
	if st.Mode().Perm() != 0o640 {
		return agent.Change{Needed: true, Summary: "chmod 0640 " + store.ServerKey(h.Name)}, nil
	}
	if _, gid, ok := agent.FileOwner(st); ok && gid != keyGID(h) && keyGID(h) != 0 {
		return agent.Change{Needed: true, Summary: "chgrp " + store.ServerKey(h.Name)}, nil
	}
	return agent.NoChange, nil
}

// writePair installs a host's key (0640 root:<daemon group>) and certificate (0644) in the
// shared store, the key first so that a certificate never pairs with a stale key for long.
func writePair(ctx context.Context, rt *agent.Runtime, store pki.Store, h inventory.Host, cert, key []byte) error {
	keyPath, certPath := store.ServerKey(h.Name), store.ServerCert(h.Name)
	if err := os.MkdirAll(store.HostDir(h.Name), 0o755); err != nil {
		return err
	}
	kf := agent.File{Path: keyPath, Content: key, Mode: 0o640, Secret: true}
	if err := kf.Apply(ctx, rt); err != nil {
		return err
	}
	if err := os.Chown(keyPath, 0, keyGID(h)); err != nil {
		return err
	}
	return agent.File{Path: certPath, Content: cert, Mode: 0o644}.Apply(ctx, rt)
}

// tfCA returns the root CA Terraform made (aws): the ca_certificate of the jump host's own
// TLS secret, checked to be env's CA and not expired.
func tfCA(ctx context.Context, rt *agent.Runtime, src agent.HostTLSSource) ([]byte, *x509.Certificate, error) {
	id := agent.HostTLSSecretID(rt.Env.Name, rt.Host.Name)
	_, _, caPEM, ok, err := src.HostTLS(ctx, rt.Host.Name)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, notFound(id)
	}
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("secret %s, field ca_certificate: %w", id, err)
	}
	if want := pki.CASubject(rt.Env.Name).CommonName; !ca.IsCA || ca.Subject.CommonName != want {
		return nil, nil, fmt.Errorf("secret %s, field ca_certificate: %q is not the root CA %q", id, ca.Subject.CommonName, want)
	}
	if time.Now().After(ca.NotAfter) {
		return nil, nil, fmt.Errorf("secret %s, field ca_certificate: the root CA expired on %s", id, ca.NotAfter.Format(time.DateOnly))
	}
	return pemText(caPEM), ca, nil
}

func notFound(id string) error {
	return fmt.Errorf("%s not found: run cso deploy so Terraform creates it", id)
}

// pemText is PEM material as it is written to the store: ending in one newline.
func pemText(b []byte) []byte { return append(bytes.TrimRight(b, "\n"), '\n') }

// tfCATask installs Terraform's root CA certificate in the shared store (AWS). The CA key
// stays in `<env>/cso-pki/root-ca`, which no host may read; a CA key or certificate left in
// `<data>/cso-pki` by an agent that generated its own CA is removed.
type tfCATask struct {
	store pki.Store
	src   agent.HostTLSSource
}

func (t tfCATask) Name() string { return "root CA " + t.store.CACert() + " (from Terraform)" }

// staleCAFiles are the jump host's files of a CA it generated itself.
func staleCAFiles(p agent.Paths) []string { return []string{CAKeyPath(p), localCACertPath(p)} }

func (t tfCATask) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	want, _, err := tfCA(ctx, rt, t.src)
	if err != nil {
		return agent.Change{}, err
	}
	id := agent.HostTLSSecretID(rt.Env.Name, rt.Host.Name)
	have, err := os.ReadFile(t.store.CACert())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return agent.Change{}, err
	}
	if err != nil || !bytes.Equal(have, want) {
		return agent.Change{Needed: true, Summary: "install the root CA certificate from " + id}, nil
	}
	if st, err := os.Stat(t.store.CACert()); err != nil {
		return agent.Change{}, err
	} else if st.Mode().Perm() != 0o644 {
		return agent.Change{Needed: true, Summary: "chmod 0644 " + t.store.CACert()}, nil
	}
	for _, f := range staleCAFiles(rt.Paths) {
		if _, err := os.Lstat(f); err == nil {
			return agent.Change{Needed: true, Summary: "remove " + f + " (the CA is Terraform's; no CA key on hosts)"}, nil
		}
	}
	return agent.NoChange, nil
}

func (t tfCATask) Apply(ctx context.Context, rt *agent.Runtime) error {
	want, _, err := tfCA(ctx, rt, t.src)
	if err != nil {
		return err
	}
	if err := (agent.File{Path: t.store.CACert(), Content: want, Mode: 0o644}).Apply(ctx, rt); err != nil {
		return err
	}
	for _, f := range staleCAFiles(rt.Paths) {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f, err)
		}
	}
	return nil
}

// sharedKeysTask removes host private keys from the shared store (AWS), where the jump
// agent of earlier versions copied every host's key: every role mounts the store, and a
// host's key is now installed on that host only, from its own secret.
type sharedKeysTask struct{ store pki.Store }

func (t sharedKeysTask) Name() string { return "no private key in " + t.store.Dir }

func (t sharedKeysTask) keys() ([]string, error) {
	return filepath.Glob(filepath.Join(t.store.Dir, "*", "server.key"))
}

func (t sharedKeysTask) Check(context.Context, *agent.Runtime) (agent.Change, error) {
	keys, err := t.keys()
	if err != nil || len(keys) == 0 {
		return agent.NoChange, err
	}
	return agent.Change{Needed: true, Summary: fmt.Sprintf("remove %d host private key(s) from the shared store (%s): each host installs its own from its secret", len(keys), keys[0])}, nil
}

func (t sharedKeysTask) Apply(context.Context, *agent.Runtime) error {
	keys, err := t.keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := os.Remove(k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", k, err)
		}
	}
	return nil
}
