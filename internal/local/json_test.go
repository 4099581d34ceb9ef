package local

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/check"
)

// TestUpResultJSONInMilliseconds: `cso local up -o json` gives its durations in
// milliseconds (duration_ms, latency_ms), like every cso command.
func TestUpResultJSONInMilliseconds(t *testing.T) {
	res := UpResult{Dir: "/x", Duration: 2500 * time.Millisecond,
		Hosts:  []HostResult{{Host: "keystone01", Duration: 1500 * time.Microsecond}},
		Health: &check.Report{Results: []check.Result{{Check: "tls", Latency: 3 * time.Millisecond}}}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		DurationMS float64 `json:"duration_ms"`
		Hosts      []struct {
			DurationMS float64 `json:"duration_ms"`
		} `json:"hosts"`
		Health struct {
			Results []struct {
				LatencyMS float64 `json:"latency_ms"`
			} `json:"results"`
		} `json:"health"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.DurationMS != 2500 || back.Hosts[0].DurationMS != 1.5 || back.Health.Results[0].LatencyMS != 3 {
		t.Errorf("JSON %s", b)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	if _, ns := raw["duration_ns"]; ns {
		t.Errorf("nanoseconds still in the JSON: %s", b)
	}
}
