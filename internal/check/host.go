package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cso-ssp/platform/internal/status"
)

func (c *Checker) hostProbes(docs map[string]*hostStatus) []Probe {
	ps := []Probe{{Check: "shared store", Target: "shared", Group: GroupHost, Run: c.sharedStore}}
	for _, h := range c.t.Hosts {
		ps = append(ps, Probe{Check: "setup status", Target: h.Name, Group: GroupHost, Host: h.Name,
			Run: func(ctx context.Context) Outcome { return c.setupStatus(ctx, docs[h.Name], h.Name) }})
		ps = append(ps, Probe{Check: "agent version", Target: h.Name, Group: GroupHost, Host: h.Name,
			Run: func(ctx context.Context) Outcome { return c.agentVersion(ctx, docs, h.Name) }})
	}
	return ps
}

// sharedStore writes, reads back and deletes a probe file in the shared store (the EFS
// stand-in): mounted, writable and consistent.
func (c *Checker) sharedStore(context.Context) Outcome {
	dir := c.t.SharedDir
	if dir == "" {
		return fail("the target description names no shared store (shared_dir)")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fail("shared store %s: %v (not mounted?)", dir, err)
	}
	if !st.IsDir() {
		return fail("shared store %s is not a directory", dir)
	}
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	want := []byte(hex.EncodeToString(buf))
	p := filepath.Join(dir, ".cso-check-"+hex.EncodeToString(buf[:6]))
	if err := os.WriteFile(p, want, 0o600); err != nil {
		return fail("shared store %s not writable: %v", dir, err)
	}
	defer os.Remove(p)
	got, err := os.ReadFile(p)
	if err != nil {
		return fail("shared store %s: read back %s: %v", dir, p, err)
	}
	if !bytes.Equal(got, want) {
		return fail("shared store %s: read back different bytes than written", dir)
	}
	if err := os.Remove(p); err != nil {
		return fail("shared store %s: delete %s: %v", dir, p, err)
	}
	return ok("%s mounted, write/read/delete work", dir)
}

// setupStatus grades a host's agent status document.
func (c *Checker) setupStatus(ctx context.Context, hs *hostStatus, host string) Outcome {
	h, err := c.statusOf(ctx, hs, host)
	if errors.Is(err, status.ErrNotFound) {
		return fail("%s has published no setup status (agent not run yet?)", host)
	}
	if err != nil {
		return fail("%v", err)
	}
	done := 0
	for _, s := range h.Steps {
		if s.State == status.StateDone || s.State == status.StateSkipped {
			done++
		}
	}
	progress := fmt.Sprintf("%d/%d steps", done, len(h.Steps))
	switch h.State {
	case status.StateDone:
		o := ok("setup done (%s), finished %s", progress, h.FinishedAt.UTC().Format(time.RFC3339))
		if reason, skipped := noPackageReason(h); skipped {
			o.Detail += "; skipped: " + reason
		}
		return o
	case status.StateFailed:
		return fail("%s", setupFailure(host, h))
	case status.StateRunning, status.StatePending:
		o := warn("setup %s, step %q (%s)", h.State, h.Step, progress)
		if !h.UpdatedAt.IsZero() {
			o.Detail += ", updated " + h.UpdatedAt.UTC().Format(time.RFC3339)
		}
		return o
	}
	return fail("setup state %q unknown", h.State)
}

func stepDetail(h status.Host, name string) string {
	for _, s := range h.Steps {
		if s.Name == name {
			return s.Detail
		}
	}
	return ""
}

// StatusStore is where the hosts' status documents are: the option (for a target of kind
// aws, its bucket), else the target's status directory; nil when there is none.
func (c *Checker) StatusStore() status.Store { return c.statusStore() }

func (c *Checker) statusStore() status.Store {
	if c.opts.Status != nil {
		return c.opts.Status
	}
	if c.t.StatusDir != "" {
		return status.Dir{Path: c.t.StatusDir}
	}
	return nil
}

// hostStatus reads one host's status document once per run: its setup probe and the
// probes of its services share it (one read per host, also from S3).
type hostStatus struct {
	once sync.Once
	doc  status.Host
	err  error
}

// hostStatuses returns one lazily read status document per host of the target.
func (c *Checker) hostStatuses() map[string]*hostStatus {
	m := make(map[string]*hostStatus, len(c.t.Hosts))
	for _, h := range c.t.Hosts {
		m[h.Name] = &hostStatus{}
	}
	return m
}

// statusOf reads the document under the first caller's context; the other callers wait for it.
func (c *Checker) statusOf(ctx context.Context, hs *hostStatus, host string) (status.Host, error) {
	if hs == nil {
		hs = &hostStatus{}
	}
	hs.once.Do(func() {
		store := c.statusStore()
		if store == nil {
			hs.err = errNoStatusStore
			return
		}
		hs.doc, hs.err = store.Get(ctx, host)
	})
	return hs.doc, hs.err
}

var errNoStatusStore = errors.New("the target description names no status store")

// noPackageReason returns the reason of the skipped "application package" step: the
// environment has no application package, so the host's application services are not
// installed (apppkg.NoPackageTask).
func noPackageReason(h status.Host) (string, bool) {
	for _, s := range h.Steps {
		if s.State == status.StateSkipped && strings.HasPrefix(s.Detail, noPackagePrefix) {
			return s.Detail, true
		}
	}
	return "", false
}

// noPackagePrefix starts the reason the frontend and backend roles publish for their
// skipped application step (apppkg.NoPackageTask, apppkg.ErrNotConfigured).
const noPackagePrefix = "no application package"

// setupFailure describes a failed setup from its status document.
func setupFailure(host string, h status.Host) string {
	return fmt.Sprintf("setup of %s failed at step %q: %s", host, h.Step, firstNonEmpty(h.LastError, stepDetail(h, h.Step), "no error recorded"))
}

// gate wraps a service probe of host with what its status document says. An application
// probe (app) of a host whose application step was skipped for want of a package is skip
// with that reason, without dialling. On a host whose setup failed, a probe that fails
// reports the setup error first (the cause, rather than "connection refused"); a service
// that still answers (left from an earlier run) keeps its own result. When the document
// cannot be read the probe runs as usual: the setup status probe reports why.
func (c *Checker) gate(hs *hostStatus, host string, app bool, run func(context.Context) Outcome) func(context.Context) Outcome {
	return func(ctx context.Context) Outcome {
		doc, err := c.statusOf(ctx, hs, host)
		if err != nil {
			return run(ctx)
		}
		if reason, skipped := noPackageReason(doc); app && skipped {
			return skip("%s", reason)
		}
		out := run(ctx)
		if doc.State == status.StateFailed && out.Status == Fail {
			out.Detail = setupFailure(host, doc) + " (" + out.Detail + ")"
		}
		return out
	}
}
