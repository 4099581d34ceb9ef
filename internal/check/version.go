package check

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cso-ssp/platform/internal/buildinfo"
)

// agentVersion compares the cso version host's agent published in its status document with
// the other hosts' and with the operator's own: when the hosts run different builds, each
// of them warns with its own version and the others'; a host older than the operator's cso
// warns with both versions. Without a status document there is nothing to compare (the setup status probe
// fails for it): skip.
func (c *Checker) agentVersion(ctx context.Context, docs map[string]*hostStatus, host string) Outcome {
	doc, err := c.statusOf(ctx, docs[host], host)
	if err != nil {
		return skip("no status document to read the agent's version from (%v)", err)
	}
	if doc.Agent == nil {
		return warn("the agent published no version (built before agents published theirs); this cso is %s", c.opts.Version.Short())
	}
	mine := *doc.Agent
	var problems []string
	if older, known := buildinfo.Older(mine, *c.opts.Version); known && older {
		problems = append(problems, fmt.Sprintf("agent runs cso %s, older than this cso %s", mine.Short(), c.opts.Version.Short()))
	}
	others := map[string][]string{} // short version -> hosts running it
	for _, h := range c.t.Hosts {
		if h.Name == host {
			continue
		}
		d, err := c.statusOf(ctx, docs[h.Name], h.Name)
		if err != nil || d.Agent == nil || buildinfo.Same(*d.Agent, mine) {
			continue
		}
		others[d.Agent.Short()] = append(others[d.Agent.Short()], h.Name)
	}
	if len(others) > 0 {
		var list []string
		for v, hosts := range others {
			list = append(list, fmt.Sprintf("%s on %s", v, strings.Join(hosts, ", ")))
		}
		sort.Strings(list)
		problems = append(problems, fmt.Sprintf("hosts run different versions: this host %s, others %s", mine.Short(), strings.Join(list, "; ")))
	}
	if len(problems) > 0 {
		return warn("%s", strings.Join(problems, "; "))
	}
	return ok("cso %s", mine.Short())
}
