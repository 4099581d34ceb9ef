// Package jsondur holds the one unit of every duration cso prints as JSON (`-o json` of
// every command, the dashboard's API): milliseconds, as a number with up to three decimals
// (microsecond resolution), in a key ending in "_ms" (latency_ms, duration_ms).
// docs/cli.md documents it; the test of this package fails on a time.Duration field
// marshalled as such (nanoseconds) and on a key in another unit (_seconds, _ns, ...).
package jsondur

import "time"

// Millis returns d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// FromMillis is the inverse of Millis (to the microsecond).
func FromMillis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
