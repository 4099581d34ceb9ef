package subnets

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/cso-ssp/platform/internal/envfile"
)

func TestCIDRSubnet(t *testing.T) {
	// Values from Terraform's documentation of cidrsubnet and cidrsubnets.
	cases := []struct {
		in      string
		newbits int
		num     uint64
		want    string
	}{
		{"172.16.0.0/12", 4, 2, "172.18.0.0/16"},
		{"10.1.2.0/24", 4, 15, "10.1.2.240/28"},
		{"fd00:fd12:3456:7890::/56", 16, 162, "fd00:fd12:3456:7800:a200::/72"},
		{"10.0.0.0/24", 1, 1, "10.0.0.128/25"},
	}
	for _, c := range cases {
		got, err := CIDRSubnet(netip.MustParsePrefix(c.in), c.newbits, c.num)
		if err != nil || got.String() != c.want {
			t.Errorf("cidrsubnet(%s,%d,%d) = %v, %v; want %s", c.in, c.newbits, c.num, got, err, c.want)
		}
	}
	if _, err := CIDRSubnet(netip.MustParsePrefix("10.0.0.0/31"), 2, 0); err == nil {
		t.Error("extending /31 by 2 bits must fail")
	}
	if _, err := CIDRSubnet(netip.MustParsePrefix("10.0.0.0/24"), 1, 2); err == nil {
		t.Error("netnum 2 with 1 new bit must fail")
	}
}

func TestCIDRSubnets(t *testing.T) {
	cases := []struct {
		in      string
		newbits []int
		want    []string
	}{
		{"10.1.0.0/16", []int{4, 4, 8, 4}, []string{"10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"}},
		{"fd00:fd12:3456:7890::/56", []int{16, 16, 16, 32}, []string{"fd00:fd12:3456:7800::/72", "fd00:fd12:3456:7800:100::/72", "fd00:fd12:3456:7800:200::/72", "fd00:fd12:3456:7800:300::/88"}},
		{"10.0.0.0/25", []int{1, 1}, []string{"10.0.0.0/26", "10.0.0.64/26"}},
	}
	for _, c := range cases {
		got, err := CIDRSubnets(netip.MustParsePrefix(c.in), c.newbits...)
		if err != nil {
			t.Fatalf("cidrsubnets(%s): %v", c.in, err)
		}
		for i := range c.want {
			if got[i].String() != c.want[i] {
				t.Errorf("cidrsubnets(%s, %v)[%d] = %s; want %s", c.in, c.newbits, i, got[i], c.want[i])
			}
		}
	}
	if _, err := CIDRSubnets(netip.MustParsePrefix("10.0.0.0/24"), 1, 1, 1); err == nil {
		t.Error("three halves of a /24 must fail")
	}
}

// The subnet plan of every real environment file: public subnets in the lower half of the
// VPC, private in the upper half, a quarter each, zone i for element i.
func TestPlanForEveryEnvFile(t *testing.T) {
	want := map[string][4]string{
		"dev":     {"10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"},
		"dev-ha":  {"10.2.0.0/18", "10.2.64.0/18", "10.2.128.0/18", "10.2.192.0/18"},
		"staging": {"10.3.0.0/18", "10.3.64.0/18", "10.3.128.0/18", "10.3.192.0/18"},
		"prod-ha": {"10.1.0.0/18", "10.1.64.0/18", "10.1.128.0/18", "10.1.192.0/18"},
	}
	files, _ := filepath.Glob("../../environments/env.*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d environment files", len(files))
	}
	for _, f := range files {
		env, err := envfile.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Plan(env.VPCCIDR, env.AvailabilityZones)
		if err != nil {
			t.Fatalf("%s: %v", env.Name, err)
		}
		w, ok := want[env.Name]
		if !ok {
			t.Errorf("%s: no expected plan in this test; add one", env.Name)
			continue
		}
		for i, s := range plan {
			if s.CIDR != w[i] {
				t.Errorf("%s: subnet %d (%s %d) = %s; want %s", env.Name, i, s.Tier, s.Index, s.CIDR, w[i])
			}
			if s.AZ != env.AvailabilityZones[s.Index] {
				t.Errorf("%s: subnet %s %d in %s", env.Name, s.Tier, s.Index, s.AZ)
			}
		}
		if plan[0].Tier != Public || plan[2].Tier != Private {
			t.Errorf("%s: tiers out of order: %+v", env.Name, plan)
		}
	}
}
