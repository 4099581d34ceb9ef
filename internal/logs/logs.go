// Package logs reads a host's logs for `cso logs` and the dashboard's log page: on the
// local target from the host's files (the roles' own log files and the supervisor's
// <log>/<service>.log), on AWS from the CloudWatch Logs groups the hosts ship to
// (/cso/<env>/<log>, one stream per host: internal/cwagent). Both give the same Lines,
// filtered the same way (since, grep) and bounded the same way (the last Limit lines, or
// following until the context ends).
package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Line is one log line of one service of one host.
type Line struct {
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Service string    `json:"service"`
	Message string    `json:"message"`
}

// DefaultLimit bounds the lines of a read without Follow; MaxLimit bounds what may be asked.
const (
	DefaultLimit = 200
	MaxLimit     = 100000
	DefaultSince = 24 * time.Hour
)

// Query says what to read.
type Query struct {
	Host    string
	Service string    // "" = every log of the host
	Since   time.Time // lines before it are left out
	Grep    string    // only lines containing it (case-sensitive, as grep)
	Limit   int       // the last Limit lines (DefaultLimit when 0); printed first with Follow too
	Follow  bool      // then the new lines until ctx ends
	Poll    time.Duration
}

func (q Query) limit() int {
	if q.Limit <= 0 {
		return DefaultLimit
	}
	return q.Limit
}

func (q Query) match(msg string) bool { return q.Grep == "" || strings.Contains(msg, q.Grep) }

// Reader is one environment's logs.
type Reader interface {
	// Hosts lists the hosts, sorted.
	Hosts() []string
	// Services lists host's logs, sorted; an UnknownError for a host it does not know.
	Services(host string) ([]string, error)
	// Read emits q's lines oldest first; with q.Follow it returns when ctx ends (nil).
	Read(ctx context.Context, q Query, emit func(Line) error) error
}

// UnknownError names an unknown host or service and the valid ones (exit 2 in the CLI).
type UnknownError struct {
	What, Name string // "host" or "service"
	Host       string // the host, for a service
	Valid      []string
}

func (e *UnknownError) Error() string {
	if e.What == "service" {
		return fmt.Sprintf("host %s has no log %q; valid: %s", e.Host, e.Name, strings.Join(e.Valid, ", "))
	}
	return fmt.Sprintf("unknown host %q; valid: %s", e.Name, strings.Join(e.Valid, ", "))
}

// Check validates q's host and service against r.
func Check(r Reader, q Query) error {
	services, err := r.Services(q.Host)
	if err != nil {
		return err
	}
	if q.Service == "" {
		return nil
	}
	for _, s := range services {
		if s == q.Service {
			return nil
		}
	}
	return &UnknownError{What: "service", Name: q.Service, Host: q.Host, Valid: services}
}

// ParseSince reads --since: a duration back from now ("90m", "1h", "2h30m", also "3d")
// or an RFC 3339 time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Add(-DefaultSince), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == days {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--since %q: expected a positive duration (30m, 1h, 2d) or an RFC 3339 time (2026-01-02T15:04:05Z)", s)
	}
	return now.Add(-d), nil
}

// WriteText writes l as one line: time, host, service, message.
func WriteText(w io.Writer, l Line) error {
	ts := "-"
	if !l.Time.IsZero() {
		ts = l.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	_, err := fmt.Fprintf(w, "%s %s %s %s\n", ts, l.Host, l.Service, l.Message)
	return err
}

// WriteJSON writes l as one JSON object on one line.
func WriteJSON(w io.Writer, l Line) error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// timestamp formats found at the start of the lines of our logs.
var stamps = []struct {
	re     *regexp.Regexp
	layout string
}{
	// RFC 3339: progress logs, the supervisor's lines, slog JSON/text ("time=").
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), time.RFC3339Nano},
	// RabbitMQ: 2026-12-05 18:00:00.123456+00:00
	{regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d`), "2006-01-02 15:04:05.999999999-07:00"},
	// oslo.log (Keystone), MariaDB: 2026-12-05 18:00:00.123 (local time)
	{regexp.MustCompile(`^\d{4}-\d\d-\d\d +\d\d?:\d\d:\d\d(\.\d+)?`), "2006-01-02 15:04:05.999999999"},
	// nginx error log: 2026/12/05 18:00:00
	{regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`), "2006/01/02 15:04:05"},
	// Apache and nginx access logs: [05/Dec/2026:18:00:00 +0000]
	{regexp.MustCompile(`\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]`), "[02/Jan/2006:15:04:05 -0700]"},
	// Apache error log: [Sat Dec 05 18:00:00.123456 2026]
	{regexp.MustCompile(`^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(\.\d+)? \d{4}\]`), "[Mon Jan _2 15:04:05.999999999 2006]"},
}

// lineTime finds the timestamp of a log line (zero when it has none: a continuation).
func lineTime(line string) time.Time {
	head := line
	if len(head) > 200 {
		head = head[:200]
	}
	for _, s := range stamps {
		m := s.re.FindString(head)
		if m == "" {
			continue
		}
		if t, err := time.ParseInLocation(s.layout, m, time.Local); err == nil {
			return t
		}
	}
	return time.Time{}
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// emitNewest emits lines merged by time, the newest q.limit() of them: what a read without
// -f shows, the same on both targets.
func emitNewest(lines []Line, q Query, emit func(Line) error) error {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time.Before(lines[j].Time) })
	if n := q.limit(); len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	return nil
}
