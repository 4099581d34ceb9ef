package check

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cso-ssp/platform/internal/buildinfo"
	"github.com/cso-ssp/platform/internal/envfile"
)

// TestAgentVersions: hosts on the operator's build are ok; hosts on different builds each
// warn with their own version and the others'; an agent older than the operator's cso
// warns with both versions; an agent that published no version warns.
func TestAgentVersions(t *testing.T) {
	operator := buildinfo.Info{Version: "v1.4.0", Revision: "aaaaaaaaaaaaaaaa"}
	older := buildinfo.Info{Version: "v1.3.2", Revision: "bbbbbbbbbbbbbbbb"}
	put := func(s *appStack, host string, v *buildinfo.Info) {
		t.Helper()
		doc := noPackageDoc(host, envfile.RoleBackend)
		doc.Agent = v
		must(t, s.st.Put(context.Background(), doc))
	}
	run := func(s *appStack) map[string]Result {
		t.Helper()
		c := New(s.t, Options{Timeout: 2 * time.Second, Version: &operator})
		var ps []Probe
		for _, p := range c.Probes() {
			if p.Check == "agent version" {
				ps = append(ps, p)
			}
		}
		rep := Run(context.Background(), ps, 2*time.Second)
		out := map[string]Result{}
		for _, r := range rep.Results {
			out[r.Target] = r
		}
		if len(out) != 2 {
			t.Fatalf("%d agent version results, want one per host: %+v", len(out), rep.Results)
		}
		return out
	}

	s := newAppStack(t, false)
	put(s, "frontend01", &operator)
	put(s, "backend01", &operator)
	rs := run(s)
	expect(t, rs, "frontend01", OK, "cso v1.4.0 aaaaaaaaaaaa")
	expect(t, rs, "backend01", OK, "cso v1.4.0 aaaaaaaaaaaa")

	put(s, "backend01", &older)
	rs = run(s)
	expect(t, rs, "frontend01", Warn, "hosts run different versions: this host v1.4.0 aaaaaaaaaaaa, others v1.3.2 bbbbbbbbbbbb on backend01")
	expect(t, rs, "backend01", Warn, "agent runs cso v1.3.2 bbbbbbbbbbbb, older than this cso v1.4.0 aaaaaaaaaaaa")
	expect(t, rs, "backend01", Warn, "others v1.4.0 aaaaaaaaaaaa on frontend01")

	// Same version on both hosts, both older than the operator's.
	put(s, "frontend01", &older)
	rs = run(s)
	for _, h := range []string{"frontend01", "backend01"} {
		expect(t, rs, h, Warn, "older than this cso v1.4.0")
		if r := rs[h]; strings.Contains(r.Detail, "different versions") {
			t.Errorf("%s: hosts on one build reported as different: %s", h, r.Detail)
		}
	}

	put(s, "frontend01", nil)
	rs = run(s)
	expect(t, rs, "frontend01", Warn, "the agent published no version")

	// No document: nothing to compare, the setup status probe reports the absence.
	must(t, s.st.Delete(context.Background(), "frontend01"))
	rs = run(s)
	expect(t, rs, "frontend01", Skip, "no status document")
}
