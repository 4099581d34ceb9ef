package admin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cso-ssp/platform/internal/check"
)

// Metric descriptions of /admin/metrics: the dashboard's view in Prometheus form. Each
// scrape reads the cached view (a check run at most every CacheFor), so a scraper cannot
// make the dashboard probe the platform more often than the page does.
var (
	checkLabels   = []string{"check", "target", "group", "host"}
	mCheckStatus  = prometheus.NewDesc("cso_check_status", "Result of a check: 1 for the status it ended with (ok, warn, fail or skip).", append(checkLabels, "status"), nil)
	mCheckLatency = prometheus.NewDesc("cso_check_latency_seconds", "How long the check's probe took.", checkLabels, nil)
	mChecks       = prometheus.NewDesc("cso_checks", "Number of checks by status in the last run.", []string{"status"}, nil)
	mRunTime      = prometheus.NewDesc("cso_check_run_timestamp_seconds", "When the last check run started (Unix time).", nil, nil)
	mCertDays     = prometheus.NewDesc("cso_certificate_days_left", "Whole days until the certificate expires (negative once expired).", []string{"check", "target"}, nil)
	mCertExpiry   = prometheus.NewDesc("cso_certificate_expiry_timestamp_seconds", "The certificate's notAfter (Unix time).", []string{"check", "target"}, nil)
	mKeyAge       = prometheus.NewDesc("cso_keystone_key_age_seconds", "Age of each key of the shared Keystone key sets.", []string{"set", "key", "role"}, nil)
	mQueueMsgs    = prometheus.NewDesc("cso_rabbitmq_queue_messages", "Messages in the queue (ready and unacknowledged).", []string{"vhost", "queue"}, nil)
	mQueueReady   = prometheus.NewDesc("cso_rabbitmq_queue_messages_ready", "Messages ready for delivery.", []string{"vhost", "queue"}, nil)
	mQueueUnacked = prometheus.NewDesc("cso_rabbitmq_queue_messages_unacknowledged", "Messages delivered and not yet acknowledged.", []string{"vhost", "queue"}, nil)
	mQueueCons    = prometheus.NewDesc("cso_rabbitmq_queue_consumers", "Consumers of the queue.", []string{"vhost", "queue"}, nil)
)

// collector turns the cached view into metrics at each scrape.
type collector struct{ s *Server }

// Describe sends nothing: the metrics' label values come from the environment, and an
// unchecked collector spares a check run at registration.
func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	v := c.s.view(context.Background())
	gauge := func(d *prometheus.Desc, val float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, val, labels...)
	}
	if !v.Generated.IsZero() {
		gauge(mRunTime, float64(v.Generated.UnixMilli())/1000)
	}
	counts := map[check.Status]int{check.OK: 0, check.Warn: 0, check.Fail: 0, check.Skip: 0}
	for _, r := range v.Results {
		counts[r.Status]++
		gauge(mCheckStatus, 1, r.Check, r.Target, r.Group, r.Host, string(r.Status))
		gauge(mCheckLatency, r.Latency.Seconds(), r.Check, r.Target, r.Group, r.Host)
	}
	if v.Error != "" { // the target could not be read: one failure, as the page says
		counts[check.Fail]++
	}
	for st, n := range counts {
		gauge(mChecks, float64(n), string(st))
	}
	for _, cv := range v.Certs {
		if cv.NotAfter.IsZero() {
			continue
		}
		gauge(mCertDays, float64(cv.DaysLeft), cv.Check, cv.Target)
		gauge(mCertExpiry, float64(cv.NotAfter.Unix()), cv.Check, cv.Target)
	}
	for _, ks := range v.KeySets {
		for _, k := range ks.Keys {
			gauge(mKeyAge, k.AgeDays*86400, ks.Name, strconv.Itoa(k.Index), k.Role)
		}
	}
	for _, q := range v.Queues {
		gauge(mQueueMsgs, float64(q.Messages), q.VHost, q.Name)
		gauge(mQueueReady, float64(q.Ready), q.VHost, q.Name)
		gauge(mQueueUnacked, float64(q.Unacked), q.VHost, q.Name)
		gauge(mQueueCons, float64(q.Consumers), q.VHost, q.Name)
	}
}

// metricsHandler serves the collector from a registry of its own (no Go runtime or
// process metrics of the global one: this endpoint is about the platform).
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLogger{s}, ErrorHandling: promhttp.ContinueOnError})
}

type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.cfg.Logger.Error("metrics", "err", v) }
