package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/cso-ssp/platform/internal/logs"
	"github.com/cso-ssp/platform/internal/target"
)

// logsReader is the reader behind /admin/logs: Config.Logs when set, else the local
// target's files next to its target description, else (AWS) the CloudWatch Logs groups the
// hosts ship to, read with the jump server's instance role (logs:FilterLogEvents on those
// groups only: terraform/modules/security).
func (s *Server) logsReader(ctx context.Context) (logs.Reader, error) {
	if s.cfg.Logs != nil {
		return s.cfg.Logs, nil
	}
	t, err := s.cfg.loadTarget()
	if err != nil {
		return nil, err
	}
	switch {
	case t.Kind == target.KindAWS:
		client, err := s.cloudWatchLogs(ctx, t.Region)
		if err != nil {
			return nil, err
		}
		return logs.NewCloudWatch(client, t.Env, t.Hosts), nil
	case t.Kind == target.KindLocal && s.cfg.TargetFile != "":
		return logs.NewLocal(filepath.Dir(s.cfg.TargetFile))
	}
	return nil, fmt.Errorf("the target description of %s (kind %q) names no logs to read", t.Env, t.Kind)
}

// cloudWatchLogs is one CloudWatch Logs client for the dashboard's life, from the default
// credential chain (the instance role on the jump server).
func (s *Server) cloudWatchLogs(ctx context.Context, region string) (*cloudwatchlogs.Client, error) {
	s.cwMu.Lock()
	defer s.cwMu.Unlock()
	if s.cwClient != nil && s.cwRegion == region {
		return s.cwClient, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for CloudWatch Logs: %w", err)
	}
	s.cwClient, s.cwRegion = cloudwatchlogs.NewFromConfig(cfg), region
	return s.cwClient, nil
}

// logsPage is the view of `cso logs HOST [SERVICE] --since --grep` in the dashboard: the
// same reader, the newest lines (no follow: the page reloads itself).
func (s *Server) logsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := struct {
		Title, Host, Service, Since, Grep, Error string
		Hosts, Services                          []string
		Lines                                    []logs.Line
		Limit, Refresh                           int
		User, Via                                string
	}{Title: "Logs", Host: q.Get("host"), Service: q.Get("service"), Since: q.Get("since"), Grep: q.Get("grep"), Limit: logs.DefaultLimit}
	p := from(r)
	page.User, page.Via = p.User, p.Via
	if page.Since == "" {
		page.Since = "1h"
	}
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 && v <= 5000 {
		page.Limit = v
	}
	code := http.StatusOK
	render := func() { s.render(w, code, "logs.html", page) }
	reader, err := s.logsReader(r.Context())
	if err != nil {
		page.Error, code = err.Error(), http.StatusServiceUnavailable
		render()
		return
	}
	page.Hosts = reader.Hosts()
	if page.Host == "" {
		render()
		return
	}
	if page.Services, err = reader.Services(page.Host); err != nil {
		page.Error, code = err.Error(), http.StatusNotFound
		render()
		return
	}
	since, err := logs.ParseSince(page.Since, s.now())
	if err != nil {
		page.Error, code = err.Error(), http.StatusBadRequest
		render()
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	err = reader.Read(ctx, logs.Query{Host: page.Host, Service: page.Service, Since: since, Grep: page.Grep, Limit: page.Limit},
		func(l logs.Line) error { page.Lines = append(page.Lines, l); return nil })
	if _, ok := errors.AsType[*logs.UnknownError](err); ok {
		code = http.StatusNotFound
	}
	if err != nil {
		page.Error = err.Error()
	}
	render()
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}
