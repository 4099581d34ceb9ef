// Package status is where each host's agent publishes its setup progress and where
// `cso deploy`, `cso check` and the admin dashboard read it. On AWS it is one JSON object per
// host under status/ in the environment's bucket; locally and in tests, a directory.
package status

import (
	"context"
	"errors"
	"time"

	"github.com/cso-ssp/platform/internal/buildinfo"
)

// States of a host's setup and of each step.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
	StateSkipped = "skipped" // nothing to do (e.g. no application package configured)
)

// Step is one step of a role's setup, in order.
type Step struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Changed    bool      `json:"changed"` // the step changed something on the host
	Detail     string    `json:"detail,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Host is the document an agent publishes for its host.
type Host struct {
	Host       string    `json:"host"` // e.g. keystone01
	Role       string    `json:"role"`
	Index      int       `json:"index"`
	Env        string    `json:"env"`
	State      string    `json:"state"` // pending, running, done, failed
	Step       string    `json:"step"`  // current or failing step
	Steps      []Step    `json:"steps"`
	LastError  string    `json:"last_error,omitempty"`
	AgentRun   string    `json:"agent_run,omitempty"` // id of the agent run that wrote this
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Log is the newest lines of the agent's progress log (at most LogLines), for readers
	// that cannot read the host's files (the dashboard on AWS).
	Log []string `json:"log,omitempty"`
	// Facts about the converged host that others compare (e.g. "fernet_keys": a hash of
	// the installed key set), set when a run finishes.
	Facts map[string]string `json:"facts,omitempty"`
	// Agent is the version of the cso binary that wrote this document (`cso check` warns
	// when hosts run different versions or one older than the operator's); nil from agents
	// that predate it.
	Agent *buildinfo.Info `json:"agent,omitempty"`
}

// LogLines is how many progress lines a status document carries.
const LogLines = 20

// ErrNotFound is returned by Get when a host has published nothing yet.
var ErrNotFound = errors.New("no status published for this host")

// Store reads and writes host status documents.
type Store interface {
	// Put replaces host's document atomically (readers see the old or the new one, never a mix).
	Put(ctx context.Context, h Host) error
	// Get returns host's document or ErrNotFound.
	Get(ctx context.Context, host string) (Host, error)
	// List returns every published document, sorted by host name.
	List(ctx context.Context) ([]Host, error)
	// Delete removes host's document (clearing a failure before a rerun); no error if absent.
	Delete(ctx context.Context, host string) error
}
