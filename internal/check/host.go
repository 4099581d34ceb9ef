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
	"time"

	"github.com/cso-ssp/platform/internal/status"
)

func (c *Checker) hostProbes() []Probe {
	ps := []Probe{{Check: "shared store", Target: "shared", Group: GroupHost, Run: c.sharedStore}}
	for _, h := range c.t.Hosts {
		ps = append(ps, Probe{Check: "setup status", Target: h.Name, Group: GroupHost, Host: h.Name,
			Run: func(ctx context.Context) Outcome { return c.setupStatus(ctx, h.Name) }})
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
func (c *Checker) setupStatus(ctx context.Context, host string) Outcome {
	store := c.statusStore()
	if store == nil {
		return fail("the target description names no status store")
	}
	h, err := store.Get(ctx, host)
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
		return ok("setup done (%s), finished %s", progress, h.FinishedAt.UTC().Format(time.RFC3339))
	case status.StateFailed:
		return fail("setup of %s failed at step %q: %s", host, h.Step, firstNonEmpty(h.LastError, stepDetail(h, h.Step), "no error recorded"))
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
