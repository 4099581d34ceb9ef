package inventory

import (
	"testing"

	"github.com/cso-ssp/platform/internal/envfile"
)

// The local target with two frontends and two backends (cso local up --app-ha) gives every
// service its own port, and stacks side by side at the port bases the tests use (steps of
// 1234) share none.
func TestLocalAppHostsPortsAreDistinct(t *testing.T) {
	env := &envfile.Env{Name: "t", DomainSuffix: "cso.test"}
	ports := func(base int) map[int]string {
		seen := map[int]string{}
		hosts := Local(env, LocalOptions{HA: true, AppHosts: 2, PortBase: base})
		n := map[envfile.Role]int{}
		for _, h := range hosts {
			n[h.Role]++
			for name, p := range h.Ports {
				if name == PortEPMD {
					continue
				}
				if other, dup := seen[p]; dup {
					t.Errorf("port base %d: port %d is both %s and %s/%s", base, p, other, h.Name, name)
				}
				seen[p] = h.Name + "/" + name
			}
		}
		if n[envfile.RoleFrontend] != 2 || n[envfile.RoleBackend] != 2 {
			t.Fatalf("hosts by role %v, want two frontends and two backends", n)
		}
		return seen
	}
	mine := ports(17404)
	for k := -6; k <= 2; k++ {
		if k == 0 {
			continue
		}
		for p, who := range ports(17404 + 1234*k) {
			if mine[p] != "" {
				t.Errorf("port %d is %s at base 17404 and %s at base %d", p, mine[p], who, 17404+1234*k)
			}
		}
	}
}
