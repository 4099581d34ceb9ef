package terraform_test

import (
	"testing"

	"github.com/cso-ssp/platform/internal/inventory"
)

// goAndTerraformAgree: what both the Go side (envfile, inventory: the agents, `cso check`,
// the local target) and Terraform derive from one env file is the same: host names and
// roles, instance types, availability zones and FQDNs, the database's engine version and
// class. Each side keeps its own code (Terraform cannot call Go); this test is what keeps
// them one definition.
func (x *checker) goAndTerraformAgree(t *testing.T) {
	insts := x.e.hostInstances()
	goHosts := inventory.Hosts(x.env)
	if len(goHosts) != len(insts) {
		t.Errorf("Go inventory has %d hosts, Terraform %d", len(goHosts), len(insts))
	}
	for _, h := range goHosts {
		i, ok := insts[h.Name]
		if !ok {
			t.Errorf("host %s of the Go inventory has no instance in Terraform", h.Name)
			continue
		}
		tags := i.block("tags")
		for what, pair := range map[string][2]any{
			"instance type":     {h.InstanceType, i.str("instance_type")},
			"availability zone": {h.AZ, i.str("availability_zone")},
			"role tag":          {string(h.Role), tags["Role"]},
		} {
			if pair[0] != pair[1] {
				t.Errorf("%s: %s: Go %v, Terraform %v", h.Name, what, pair[0], pair[1])
			}
		}
	}
	db := x.e.one(t, "module.database", "aws_db_instance", "this")
	if got, want := db.str("engine_version"), x.env.DBEngineVersion(); got != want {
		t.Errorf("database engine version: Go %s, Terraform %s", want, got)
	}
	if got, want := db.str("instance_class"), x.env.DBInstanceClass(); got != want {
		t.Errorf("database instance class: Go %s, Terraform %s", want, got)
	}
}
