package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cso-ssp/platform/internal/pki"
)

// TLSFiles are where a host's daemons find its certificate, private key and the project CA
// certificate.
type TLSFiles struct{ Cert, Key, CA string }

// OwnTLS returns host's TLS files. With Paths.HostTLS (AWS) they are the host's own copies
// that OwnTLSTask installs from its TLS secret: no host's private key is on the shared file
// system, which every role mounts. Without it (local target) they are in the shared store,
// where the jump role, the local CA, issues them.
func (p Paths) OwnTLS(host string) TLSFiles {
	if p.HostTLS != "" {
		return TLSFiles{
			Cert: filepath.Join(p.HostTLS, "server.crt"),
			Key:  filepath.Join(p.HostTLS, "server.key"),
			CA:   filepath.Join(p.HostTLS, "ca.crt"),
		}
	}
	s := pki.Store{Dir: p.SSLCerts}
	return TLSFiles{Cert: s.ServerCert(host), Key: s.ServerKey(host), CA: s.CACert()}
}

// OwnTLSWaitEC2 bounds how long a host waits for its own TLS secret to become readable: the
// grant names the host's instance, so Terraform applies it just after the instance starts,
// and IAM changes take a moment to reach every endpoint.
const OwnTLSWaitEC2 = 10 * time.Minute

// OwnTLSSteps is the step that installs the host's own certificate and key from its TLS
// secret; none without Paths.HostTLS (local target) or a secret store that holds TLS
// material.
func OwnTLSSteps(rt *Runtime) []Step {
	src, ok := rt.Secrets.(HostTLSSource)
	if !ok || rt.Paths.HostTLS == "" {
		return nil
	}
	return []Step{{Name: "own certificate", Tasks: []Task{OwnTLSTask{Src: src}}}}
}

// OwnTLSTask installs this host's certificate, private key (0600 root) and the CA
// certificate into Paths.HostTLS from its own TLS secret (`<env>/cso/tls/<host>`), after
// checking that the CA is the environment's root CA and the pair belongs together, chains
// to it, names the host and has not expired. Terraform writes the first pair; the jump
// server's agent timer renews it inside its renewal window as a new version of the secret
// (internal/roles/jump renew.go), and the next agent run here installs it.
type OwnTLSTask struct {
	Src HostTLSSource
	// Wait overrides how long the task waits for the secret to become readable (0: the
	// platform's default, OwnTLSWaitEC2 on Amazon Linux, none elsewhere).
	Wait time.Duration
}

func (t OwnTLSTask) Name() string { return "own certificate and key (from Terraform)" }

// material returns the certificate, key and CA certificate as they are written.
func (t OwnTLSTask) material(ctx context.Context, rt *Runtime) (cert, key, ca []byte, err error) {
	id := HostTLSSecretID(rt.Env.Name, rt.Host.Name)
	var ok bool
	read := func(ctx context.Context) error {
		cert, key, ca, ok, err = t.Src.HostTLS(ctx, rt.Host.Name)
		if err == nil && !ok {
			err = fmt.Errorf("%s not found: run cso deploy so Terraform creates it", id)
		}
		return err
	}
	wait := t.Wait
	if wait == 0 && rt.Distro().EC2 && !rt.DryRun {
		wait = OwnTLSWaitEC2
	}
	if wait > 0 {
		err = WaitFor(ctx, rt, "secret "+id+" (the host's grant follows its instance)", wait, read)
	} else {
		err = read(ctx)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, err := pki.ParseCert(ca)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("secret %s, field ca_certificate: %w", id, err)
	}
	if want := pki.CASubject(rt.Env.Name).CommonName; !caCert.IsCA || caCert.Subject.CommonName != want {
		return nil, nil, nil, fmt.Errorf("secret %s, field ca_certificate: %q is not the root CA %q", id, caCert.Subject.CommonName, want)
	}
	if time.Now().After(caCert.NotAfter) {
		return nil, nil, nil, fmt.Errorf("secret %s, field ca_certificate: the root CA expired on %s", id, caCert.NotAfter.Format(time.DateOnly))
	}
	name := rt.Host.FQDN
	if name == "" {
		name = rt.Host.Name
	}
	if err := VerifyHostPair(cert, key, caCert, name, time.Now()); err != nil {
		return nil, nil, nil, fmt.Errorf("host %s: refusing the certificate in %s: %w", rt.Host.Name, id, err)
	}
	return PEMText(cert), PEMText(key), PEMText(ca), nil
}

// VerifyHostPair checks a host's certificate and key before they are installed: they
// belong together, the certificate is signed by ca and verifies for name at now.
// Errors name the field, never the material.
func VerifyHostPair(certPEM, keyPEM []byte, ca *x509.Certificate, name string, now time.Time) error {
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return fmt.Errorf("field certificate: %w", err)
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("field private_key: %w", err)
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return errors.New("field private_key does not match the certificate")
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("the certificate (issuer %q) is not signed by the root CA %q", cert.Issuer.CommonName, ca.Subject.CommonName)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the certificate does not verify for %s: %w", name, err)
	}
	return nil
}

// PEMText is PEM material as it is written to a file: ending in one newline.
func PEMText(b []byte) []byte { return append(bytes.TrimRight(b, "\n"), '\n') }

// files are the task's files: the key first, so that a certificate never pairs with a
// stale key for long.
func (t OwnTLSTask) files(rt *Runtime, cert, key, ca []byte) []File {
	f := rt.Paths.OwnTLS(rt.Host.Name)
	return []File{
		{Path: f.Key, Content: key, Mode: 0o600, Secret: true},
		{Path: f.Cert, Content: cert, Mode: 0o644},
		{Path: f.CA, Content: ca, Mode: 0o644},
	}
}

func (t OwnTLSTask) Check(ctx context.Context, rt *Runtime) (Change, error) {
	cert, key, ca, err := t.material(ctx, rt)
	if err != nil {
		return Change{}, err
	}
	id := HostTLSSecretID(rt.Env.Name, rt.Host.Name)
	if st, err := os.Stat(rt.Paths.HostTLS); err != nil || st.Mode().Perm() != 0o700 {
		return Change{Needed: true, Summary: "install certificate and key of " + rt.Host.Name + " from " + id}, nil
	}
	for _, f := range t.files(rt, cert, key, ca) {
		have, err := os.ReadFile(f.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Change{}, err
		}
		if err != nil || !bytes.Equal(have, f.Content) {
			return Change{Needed: true, Summary: "install certificate and key of " + rt.Host.Name + " from " + id}, nil
		}
		if st, err := os.Stat(f.Path); err != nil {
			return Change{}, err
		} else if st.Mode().Perm() != f.Mode {
			return Change{Needed: true, Summary: fmt.Sprintf("chmod %04o %s", f.Mode, f.Path)}, nil
		}
	}
	return NoChange, nil
}

func (t OwnTLSTask) Apply(ctx context.Context, rt *Runtime) error {
	cert, key, ca, err := t.material(ctx, rt)
	if err != nil {
		return err
	}
	// 0700: only root reads the key; daemons that drop root get their own copy (RabbitMQ).
	if err := (Dir{Path: rt.Paths.HostTLS, Mode: 0o700}).Apply(ctx, rt); err != nil {
		return err
	}
	for _, f := range t.files(rt, cert, key, ca) {
		if err := f.Apply(ctx, rt); err != nil {
			return err
		}
	}
	return nil
}

// Render implements Renderer: the files with their modes, the PEM content being the secret
// store's (placeholders in a rendering).
func (t OwnTLSTask) Render(ctx context.Context, rt *Runtime, r *Rendering) error {
	cert, key, ca, ok, err := t.Src.HostTLS(ctx, rt.Host.Name)
	if err != nil || !ok {
		return fmt.Errorf("%w: the pair comes from %s", ErrNeedsLiveHost, HostTLSSecretID(rt.Env.Name, rt.Host.Name))
	}
	r.Note("read secret %s (waiting up to %s for the host's grant) and check that its certificate and key belong together, chain to the environment's root CA and name %s",
		HostTLSSecretID(rt.Env.Name, rt.Host.Name), OwnTLSWaitEC2, rt.Host.FQDN)
	r.AddDir(Dir{Path: rt.Paths.HostTLS, Mode: 0o700})
	for _, f := range t.files(rt, PEMText(cert), PEMText(key), PEMText(ca)) {
		r.AddFile(f)
	}
	return nil
}
