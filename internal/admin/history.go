package admin

import (
	"fmt"
	"html"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/check"
)

// DefaultHistory is how many check runs the dashboard remembers: at one run per 30-second
// refresh, an hour; memory stays a few hundred kilobytes whatever the uptime.
const DefaultHistory = 120

// MaxHistory bounds the configurable history (each sample is a few hundred bytes per host).
const MaxHistory = 10000

// sample is what the charts keep of one check run.
type sample struct {
	At      time.Time
	Failing map[string]int           // host -> results that failed
	Latency map[string]time.Duration // cluster (keystone, rabbitmq) -> slowest probe
}

// history is a bounded ring of samples, oldest first. Its owner (Server.mu) serializes it.
type history struct {
	max     int
	samples []sample
}

func (h *history) add(s sample) {
	h.samples = append(h.samples, s)
	if over := len(h.samples) - h.max; over > 0 {
		// Copy down rather than reslice, so the backing array does not grow forever.
		h.samples = append(h.samples[:0], h.samples[over:]...)
	}
}

// sampleOf reduces a view to its sample.
func sampleOf(v *View) sample {
	s := sample{At: v.Generated, Failing: map[string]int{}, Latency: map[string]time.Duration{}}
	for _, h := range v.Hosts {
		s.Failing[h.Name] = 0
	}
	for _, r := range v.Results {
		if r.Host != "" && r.Status == check.Fail {
			s.Failing[r.Host]++
		}
		if r.Group == check.GroupKeystone || r.Group == check.GroupRabbitMQ {
			if r.Latency > s.Latency[r.Group] {
				s.Latency[r.Group] = r.Latency
			}
		}
	}
	return s
}

// Chart is one small server-rendered chart: inline SVG (no script, no inline style, so the
// page's Content-Security-Policy stays as strict as it was) with a text alternative.
type Chart struct {
	Title string        `json:"title"`
	Alt   string        `json:"summary"` // what the chart shows, for screen readers and the API
	SVG   template.HTML `json:"-"`
}

// Chart geometry: a 300 x 60 viewBox, scaled to the column's width by the stylesheet.
const (
	chartW, chartH = 300.0, 60.0
	chartPad       = 2.0
)

// charts draws the history: per host, failing checks over time (bars); per cluster, the
// slowest probe's latency over time (a line).
func (h *history) charts(hosts []HostView) (perHost, perCluster []Chart) {
	if len(h.samples) == 0 {
		return nil, nil
	}
	first, last := h.samples[0].At, h.samples[len(h.samples)-1].At
	span := fmt.Sprintf("%d runs, %s to %s", len(h.samples), first.UTC().Format("15:04:05"), last.UTC().Format("15:04:05Z"))
	for _, hv := range hosts {
		vals := make([]float64, len(h.samples))
		peak, now := 0, 0
		for i, s := range h.samples {
			n := s.Failing[hv.Name]
			vals[i] = float64(n)
			peak = max(peak, n)
			now = n
		}
		alt := fmt.Sprintf("%s: %d failing now, at most %d over the last %s", hv.Name, now, peak, span)
		perHost = append(perHost, Chart{Title: hv.Name, Alt: alt, SVG: bars(alt, vals, "fail")})
	}
	var clusters []string
	seen := map[string]bool{}
	for _, s := range h.samples {
		for c := range s.Latency {
			if !seen[c] {
				seen[c] = true
				clusters = append(clusters, c)
			}
		}
	}
	sort.Strings(clusters)
	for _, c := range clusters {
		vals := make([]float64, len(h.samples))
		var peak, now time.Duration
		for i, s := range h.samples {
			d := s.Latency[c]
			vals[i] = float64(d) / float64(time.Millisecond)
			peak = max(peak, d)
			now = d
		}
		alt := fmt.Sprintf("%s cluster: slowest probe %s now, at most %s over the last %s", c, ms(now), ms(peak), span)
		perCluster = append(perCluster, Chart{Title: c, Alt: alt, SVG: line(alt, vals)})
	}
	return perHost, perCluster
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// scale maps the values to the chart's height (the top is the largest value, at least 1).
func scale(vals []float64) (top float64, y func(float64) float64) {
	top = 1
	for _, v := range vals {
		top = max(top, v)
	}
	return top, func(v float64) float64 { return chartH - chartPad - v/top*(chartH-2*chartPad) }
}

func svgOpen(b *strings.Builder, alt string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %g %g" preserveAspectRatio="none" role="img" aria-label="%s" focusable="false">`,
		chartW, chartH, html.EscapeString(alt))
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(alt))
	fmt.Fprintf(b, `<line class="axis" x1="0" y1="%g" x2="%g" y2="%g"/>`, chartH-chartPad, chartW, chartH-chartPad)
}

func bars(alt string, vals []float64, class string) template.HTML {
	var b strings.Builder
	svgOpen(&b, alt)
	_, y := scale(vals)
	w := chartW / float64(len(vals))
	for i, v := range vals {
		if v == 0 {
			continue
		}
		top := y(v)
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, class, float64(i)*w, top, max(w-0.5, 0.5), chartH-chartPad-top)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text only
}

func line(alt string, vals []float64) template.HTML {
	var b strings.Builder
	svgOpen(&b, alt)
	_, y := scale(vals)
	step := chartW
	if len(vals) > 1 {
		step = chartW / float64(len(vals)-1)
	}
	pts := make([]string, len(vals))
	for i, v := range vals {
		pts[i] = fmt.Sprintf("%.1f,%.1f", float64(i)*step, y(v))
	}
	if len(vals) == 1 { // one run: a short flat segment, visible
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", chartW, y(vals[0])))
	}
	fmt.Fprintf(&b, `<polyline class="latency" points="%s"/>`, strings.Join(pts, " "))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
