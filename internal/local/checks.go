package local

import (
	"context"
	"time"

	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// CheckTimeout bounds each probe of up's closing check: longer than `cso check`'s 5 s
// default, because the daemons have only just started (Keystone's first bcrypt token on a
// busy machine).
const CheckTimeout = 15 * time.Second

// Failed probes of the closing check are re-run every settleInterval for up to settleWindow:
// an application service checks its bindings 5 to 19 s after it starts and again 5 to 9 s
// after a failure, and the jump server may create the account it signs in with only after
// its first check.
const (
	settleWindow   = 45 * time.Second
	settleInterval = 3 * time.Second
)

// closingCheck runs the check engine (the probes, verdicts and reasons of `cso check
// --local-dir`, failures re-run while they may still mend) on the description up wrote, restricted to the hosts whose role ran: a role
// missing from this build is reported as skipped by up, not as red probes.
func closingCheck(ctx context.Context, t *target.Target, ran []inventory.Host) *check.Report {
	sel := *t
	sel.Hosts = ran
	return check.New(&sel, check.Options{Timeout: CheckTimeout}).RunSettled(ctx, settleWindow, settleInterval)
}
