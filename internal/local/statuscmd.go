package local

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// HostStatus is one line of `cso local status`.
type HostStatus struct {
	Host     string   `json:"host"`
	Role     string   `json:"role"`
	State    string   `json:"state"`
	Step     string   `json:"step,omitempty"`
	Error    string   `json:"error,omitempty"`
	Running  []string `json:"running"`
	Stopped  []string `json:"stopped"`
	Endpoint string   `json:"endpoint,omitempty"`
}

// Status reports each host's setup state and which of its services run.
func Status(ctx context.Context, dir string) ([]HostStatus, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return nil, err
	}
	hosts := append([]string{MySQLHost}, func() []string {
		var n []string
		for _, h := range t.Hosts {
			n = append(n, h.Name)
		}
		return n
	}()...)
	roles := l.hostRoles()
	var out []HostStatus
	for _, h := range hosts {
		hs := HostStatus{Host: h, Role: string(roles[h]), State: "-"}
		if doc, err := l.Store().Get(ctx, h); err == nil {
			hs.State, hs.Step, hs.Error = doc.State, doc.Step, doc.LastError
		} else if err != status.ErrNotFound {
			return nil, err
		}
		sup := agent.Supervisor{RunDir: l.Paths(h).Run, LogDir: l.Paths(h).Log}
		names, err := sup.Services()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if ok, _, _ := sup.Running(n); ok {
				hs.Running = append(hs.Running, n)
			} else {
				hs.Stopped = append(hs.Stopped, n)
			}
		}
		if h == MySQLHost && len(hs.Running) > 0 {
			hs.State = "running"
		}
		out = append(out, hs)
	}
	return out, nil
}

// WriteStatus prints the status table.
func WriteStatus(w io.Writer, rows []HostStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tROLE\tSETUP\tRUNNING\tSTOPPED\tDETAIL")
	for _, r := range rows {
		detail := r.Error
		if detail == "" && r.Step != "" {
			detail = "step " + r.Step
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Host, r.Role, r.State, dash(strings.Join(r.Running, ",")), dash(strings.Join(r.Stopped, ",")), oneLine(detail))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a detail on one table row, at most 160 characters.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
