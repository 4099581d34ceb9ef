package local

import (
	"encoding/json"

	"github.com/cso-ssp/platform/internal/jsondur"
)

// MarshalJSON gives the duration in milliseconds, the unit of every JSON duration of cso
// (internal/jsondur).
func (h HostResult) MarshalJSON() ([]byte, error) {
	type plain HostResult
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(h), jsondur.Millis(h.Duration)})
}

// MarshalJSON gives the duration in milliseconds (internal/jsondur).
func (r UpResult) MarshalJSON() ([]byte, error) {
	type plain UpResult
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(r), jsondur.Millis(r.Duration)})
}
