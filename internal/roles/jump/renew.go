package jump

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// renewSteps renew the host certificates on a schedule on AWS (issue #13): the jump
// server's agent timer runs every few minutes and re-issues, with the root CA of
// `<env>/cso-pki/root-ca`, each host's certificate that is inside its renewal window or
// names other names than the host needs; each host's own agent then installs its new pair
// (agent.OwnTLSTask) and its daemons reload. None locally, where the jump role is the CA
// and certTask renews in the shared store.
func renewSteps(rt *agent.Runtime) []agent.Step {
	src, ok := rt.Secrets.(agent.HostTLSRenewer)
	if !ok {
		return nil
	}
	return []agent.Step{{Name: "certificate-renewal", Tasks: []agent.Task{renewTask{src: src}}}}
}

// AWSCertSpec is what a host's certificate names on AWS, as Terraform's dns_names does
// (terraform/locals.tf): its FQDN (the common name), its short name, localhost and the
// service alias of its role on every host of that role (so the alias can move without new
// certificates). No address: instances are replaced, names stay.
func AWSCertSpec(h inventory.Host, hosts []inventory.Host) pki.ServerSpec {
	var aliases []string
	for _, o := range hosts {
		if o.Role == h.Role {
			aliases = append(aliases, o.Aliases...)
		}
	}
	aliases = append(aliases, h.Aliases...)
	return pki.HostSpec(h.Name, h.FQDN, aliases)
}

// renewTask re-issues the host certificates that are due, as new versions of the hosts'
// TLS secrets. It reads the CA key only in a run that issues; a dry run only checks.
type renewTask struct{ src agent.HostTLSRenewer }

func (renewTask) Name() string { return "host certificates renewed in their secrets" }

// renewal is one host whose certificate is due, and why.
type renewal struct {
	host   inventory.Host
	spec   pki.ServerSpec
	reason string
}

// due returns the hosts whose certificate must be re-issued: inside its renewal window
// (pki.RenewWindow) or expired, not matching its key, not signed by the root CA of its
// secret, or naming other names than AWSCertSpec. A host without a TLS secret is left to
// Terraform (its own agent reports it).
func (t renewTask) due(ctx context.Context, rt *agent.Runtime, now time.Time) ([]renewal, error) {
	var out []renewal
	for _, h := range rt.Hosts {
		cert, key, caPEM, ok, err := t.src.HostTLS(ctx, h.Name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		spec := AWSCertSpec(h, rt.Hosts)
		if reason := renewReason(rt.Env.Name, cert, key, caPEM, spec, now); reason != "" {
			out = append(out, renewal{host: h, spec: spec, reason: reason})
		}
	}
	return out, nil
}

// renewReason says why a host's pair must be re-issued, or "" when it is good.
func renewReason(env string, cert, key, caPEM []byte, spec pki.ServerSpec, now time.Time) string {
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return "ca_certificate: " + err.Error()
	}
	if want := pki.CASubject(env).CommonName; !ca.IsCA || ca.Subject.CommonName != want {
		return fmt.Sprintf("ca_certificate %q is not the root CA %q", ca.Subject.CommonName, want)
	}
	return pki.ServerProblem(cert, key, ca, spec, now)
}

func (t renewTask) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	due, err := t.due(ctx, rt, time.Now())
	if err != nil || len(due) == 0 {
		return agent.NoChange, err
	}
	var what []string
	for _, d := range due {
		what = append(what, fmt.Sprintf("%s (%s)", d.host.Name, d.reason))
	}
	return agent.Change{Needed: true, Summary: fmt.Sprintf("renew the certificate of %s in %s with the root CA of %s",
		strings.Join(what, ", "), agent.HostTLSSecretID(rt.Env.Name, "<host>"), agent.RootCASecretID(rt.Env.Name))}, nil
}

// Apply issues every due host's new pair. The root CA is read and checked before anything
// is written: a missing or malformed CA secret writes nothing.
func (t renewTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	now := time.Now()
	due, err := t.due(ctx, rt, now)
	if err != nil || len(due) == 0 {
		return err
	}
	ca, err := t.src.RootCA(ctx)
	if err != nil {
		return err
	}
	for _, d := range due {
		cert, key, err := ca.Issue(d.spec, now)
		if err != nil {
			return fmt.Errorf("renew the certificate of %s: %w", d.host.Name, err)
		}
		// What the host's agent will check before it installs the pair.
		if err := agent.VerifyHostPair(cert, key, ca.Cert, d.spec.CommonName, now); err != nil {
			return fmt.Errorf("renew the certificate of %s: %w", d.host.Name, err)
		}
		pair := agent.HostTLSPair{Cert: cert, Key: key, CA: ca.CertPEM, DNSNames: slices.Clone(d.spec.DNSNames)}
		if err := t.src.PutHostTLS(ctx, d.host.Name, pair); err != nil {
			return err
		}
		c, _ := pki.ParseCert(cert)
		rt.Progressf("  renewed the certificate of %s (%s): valid until %s", d.host.Name, d.reason, c.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}

// Render implements agent.Renderer: what a run decides and writes (the certificates are in
// Secrets Manager, so there is nothing to show but the rule).
func (t renewTask) Render(_ context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	var hosts []string
	for _, h := range rt.Hosts {
		hosts = append(hosts, h.Name)
	}
	r.Note("for each host (%s) read secret %s; when its certificate expires within %d days (pki.RenewWindow; a third of a shorter lifetime), has expired, does not match its key or root CA, or names other names than the host needs (FQDN, short name, localhost, its role's service alias), read the root CA from secret %s (in memory only), issue a new ECDSA P-256 pair valid %d days for those names and write it as the new current version of the host's secret (certificate, private_key, ca_certificate, dns_names: Terraform's layout); the host's own agent installs it and reloads its daemons on its next run. A dry run writes nothing.",
		strings.Join(hosts, ", "), agent.HostTLSSecretID(rt.Env.Name, "<host>"), days(pki.RenewBefore), agent.RootCASecretID(rt.Env.Name), days(pki.ServerValidity))
	return nil
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }
