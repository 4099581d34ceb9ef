package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/roles/jump"
)

// RenewOptions shape one `cso certs renew` on the local target.
type RenewOptions struct {
	Options
	// Hosts are the hosts whose certificates are renewed (default: every host).
	Hosts []string
	// Within renews only the certificates that expire within this long (0: all of Hosts).
	Within time.Duration
	// Lifetime is the validity of the new certificates (default pki.ServerValidity).
	Lifetime time.Duration
}

// RenewedCert is one re-issued certificate.
type RenewedCert struct {
	Host        string    `json:"host"`
	OldNotAfter time.Time `json:"old_not_after,omitzero"`
	NotAfter    time.Time `json:"not_after"`
	Serial      string    `json:"serial"`
}

// RenewResult is what `cso certs renew` did: the certificates it re-issued, then the
// agents' run that installed and reloaded them (with the closing checks).
type RenewResult struct {
	Renewed []RenewedCert `json:"renewed"`
	Kept    []string      `json:"kept,omitempty"` // hosts whose certificate is outside Within
	Up      *UpResult     `json:"agents,omitempty"`
}

// UsageError is bad input to RenewCerts (an unknown host, no local target): nothing changed.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// RenewCerts re-issues host certificates with the local CA (the jump host's, the same one
// its agent uses), writes them to the shared store, then runs every host's agent as its
// timer would: each installs its new certificate and reloads its daemon gracefully
// (Apache graceful, RabbitMQ's PEM cache cleared, the dashboard re-reading its files,
// MariaDB's FLUSH SSL).
// Every host name is checked before anything is written.
func RenewCerts(ctx context.Context, o RenewOptions) (*RenewResult, error) {
	if o.Env == nil {
		return nil, errors.New("certs renew: no environment")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Lifetime == 0 {
		o.Lifetime = pki.ServerValidity
	}
	if o.Lifetime < 0 || o.Within < 0 {
		return nil, &UsageError{fmt.Errorf("certs renew: lifetime %s and window %s must not be negative", o.Lifetime, o.Within)}
	}
	l, err := NewLayout(o.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(l.TargetFile()); errors.Is(err, os.ErrNotExist) {
		return nil, &UsageError{fmt.Errorf("%w in %s (no %s): run `cso local up` first", ErrNoTarget, l.Dir, l.TargetFile())}
	}
	hosts := o.certHosts()
	selected, err := selectHosts(hosts, o.Hosts)
	if err != nil {
		return nil, &UsageError{err}
	}
	store := pki.Store{Dir: l.SSLCerts()}
	ca, err := localCA(l, store, hosts)
	if err != nil {
		return nil, err
	}
	res, err := reissue(ctx, o, store, ca, selected)
	if err != nil {
		return res, err
	}
	if len(res.Renewed) == 0 {
		fmt.Fprintf(o.Out, "no certificate expires within %s: nothing renewed\n", o.Within)
		return res, nil
	}
	// The agents' run: each host installs what changed and reloads, never restarts, for a
	// certificate.
	up, err := Up(ctx, o.Options)
	res.Up = up
	return res, err
}

// certHosts are the hosts with a server certificate: the target's, and the local MariaDB
// (RDS's stand-in), whose certificate of the same CA is named "mysql", renewed with the
// hosts' and reloaded by FLUSH SSL (mariadb.go).
func (o RenewOptions) certHosts() []inventory.Host {
	hosts := o.Options.Hosts()
	if db, ok := jump.DatabaseCertHost(&agent.Runtime{Env: o.Env, MySQL: MySQLAddr(o.PortBase)}); ok {
		hosts = append(hosts, db)
	}
	return hosts
}

// localCA is the project CA of the local target: its certificate in the shared store, its
// key the jump host's.
func localCA(l Layout, store pki.Store, hosts []inventory.Host) (*pki.CA, error) {
	jumps := inventory.ByRole(hosts, envfile.RoleJump)
	if len(jumps) == 0 {
		return nil, errors.New("the local target has no jump host: no CA to issue with")
	}
	caCert, err := os.ReadFile(store.CACert())
	if err != nil {
		return nil, fmt.Errorf("the project CA certificate: %w", err)
	}
	caKey, err := os.ReadFile(jump.CAKeyPath(l.Paths(jumps[0].Name)))
	if err != nil {
		return nil, fmt.Errorf("the project CA key (the jump host's): %w", err)
	}
	return pki.LoadCA(caCert, caKey)
}

// reissue issues a new certificate for each selected host (but those outside o.Within) and
// writes it with its key to the store.
func reissue(ctx context.Context, o RenewOptions, store pki.Store, ca *pki.CA, selected []inventory.Host) (*RenewResult, error) {
	now := time.Now()
	res := &RenewResult{}
	for _, h := range selected {
		var old time.Time
		if data, err := os.ReadFile(store.ServerCert(h.Name)); err == nil {
			if c, err := pki.ParseCert(data); err == nil {
				old = c.NotAfter
			}
		}
		if o.Within > 0 && !old.IsZero() && old.After(now.Add(o.Within)) {
			res.Kept = append(res.Kept, h.Name)
			continue
		}
		cert, key, err := ca.IssueFor(jump.HostCertSpec(h), now, o.Lifetime)
		if err != nil {
			return res, err
		}
		if err := jump.WriteHostPair(ctx, store, h, cert, key); err != nil {
			return res, fmt.Errorf("host %s: %w", h.Name, err)
		}
		c, _ := pki.ParseCert(cert)
		res.Renewed = append(res.Renewed, RenewedCert{Host: h.Name, OldNotAfter: old, NotAfter: c.NotAfter, Serial: fmt.Sprintf("%x", c.SerialNumber)})
		fmt.Fprintf(o.Out, "%s %s certificate re-issued: valid until %s (was %s)\n", time.Now().UTC().Format(time.RFC3339), h.Name,
			c.NotAfter.UTC().Format(time.RFC3339), fmtTime(old))
	}
	return res, nil
}

// selectHosts returns the hosts named (all when none), or an error naming every unknown one.
func selectHosts(hosts []inventory.Host, names []string) ([]inventory.Host, error) {
	if len(names) == 0 {
		return hosts, nil
	}
	var out []inventory.Host
	var unknown []string
	for _, n := range names {
		i := slices.IndexFunc(hosts, func(h inventory.Host) bool { return h.Name == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		if !slices.ContainsFunc(out, func(h inventory.Host) bool { return h.Name == n }) {
			out = append(out, hosts[i])
		}
	}
	if len(unknown) > 0 {
		known := make([]string, len(hosts))
		for i, h := range hosts {
			known[i] = h.Name
		}
		return nil, fmt.Errorf("unknown host %s: the hosts of this target are %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
