package testprovider

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	schemasOnce sync.Once
	schemas     map[string]*ProviderSchema
	schemasErr  error
)

// loadAll loads the three schemas once per test binary (from the cache when warm).
func loadAll(t *testing.T) map[string]*ProviderSchema {
	t.Helper()
	if _, err := FindSchemaDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("%v (run scripts/install-deps.sh)", err)
	}
	schemasOnce.Do(func() {
		schemas = map[string]*ProviderSchema{}
		for _, n := range []string{"aws", "tls", "random"} {
			ps, err := LoadSchema(n)
			if err != nil {
				schemasErr = err
				return
			}
			schemas[n] = ps
		}
	})
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	return schemas
}

type attrWant struct {
	path                                    []string // block names, then the attribute
	kind                                    string   // Type.String()
	required, optional, computed, sensitive bool
}

type blockWant struct {
	path               []string
	nesting            string
	minItems, maxItems int
}

func lookupBlock(t *testing.T, b *Block, path []string) *Block {
	t.Helper()
	for _, p := range path {
		nb := b.NestedBlock(p)
		if nb == nil {
			t.Fatalf("no nested block %q (path %v)", p, path)
		}
		b = nb.Block
	}
	return b
}

func TestExtractedSchemas(t *testing.T) {
	all := loadAll(t)
	aws, tls, random := all["aws"], all["tls"], all["random"]
	for _, tc := range []struct {
		name   string
		block  *Block
		attrs  []attrWant
		blocks []blockWant
	}{
		{name: "aws_vpc", block: aws.Resources["aws_vpc"], attrs: []attrWant{
			{path: []string{"cidr_block"}, kind: "string", optional: true, computed: true},
			{path: []string{"enable_dns_support"}, kind: "bool", optional: true, computed: true},
			{path: []string{"ipv6_cidr_block"}, kind: "string", optional: true, computed: true},
			{path: []string{"tags"}, kind: "map(string)", optional: true, computed: true},
			{path: []string{"arn"}, kind: "string", computed: true},
			{path: []string{"default_security_group_id"}, kind: "string", computed: true},
		}},
		{name: "aws_instance", block: aws.Resources["aws_instance"], attrs: []attrWant{
			{path: []string{"metadata_options", "http_tokens"}, kind: "string", optional: true, computed: true},
			{path: []string{"vpc_security_group_ids"}, kind: "set(string)", optional: true, computed: true},
			{path: []string{"ebs_block_device", "device_name"}, kind: "string", required: true},
			{path: []string{"ebs_block_device", "volume_id"}, kind: "string", computed: true},
			{path: []string{"private_ip"}, kind: "string", optional: true, computed: true},
			{path: []string{"public_dns"}, kind: "string", computed: true},
		}, blocks: []blockWant{
			{path: []string{"metadata_options"}, nesting: NestList, maxItems: 1},
			{path: []string{"root_block_device"}, nesting: NestList, maxItems: 1},
			{path: []string{"ebs_block_device"}, nesting: NestSet},
			{path: []string{"timeouts"}, nesting: NestSingle},
		}},
		{name: "aws_lb_listener", block: aws.Resources["aws_lb_listener"], attrs: []attrWant{
			{path: []string{"load_balancer_arn"}, kind: "string", required: true},
			{path: []string{"default_action", "type"}, kind: "string", required: true},
			{path: []string{"default_action", "authenticate_cognito", "user_pool_arn"}, kind: "string", required: true},
			{path: []string{"default_action", "authenticate_oidc", "client_secret"}, kind: "string", required: true, sensitive: true},
			{path: []string{"default_action", "redirect", "status_code"}, kind: "string", required: true},
		}, blocks: []blockWant{
			{path: []string{"default_action"}, nesting: NestList, minItems: 1},
			{path: []string{"default_action", "authenticate_cognito"}, nesting: NestList, maxItems: 1},
			{path: []string{"default_action", "forward", "target_group"}, nesting: NestSet, minItems: 1},
		}},
		{name: "aws_db_instance", block: aws.Resources["aws_db_instance"], attrs: []attrWant{
			{path: []string{"instance_class"}, kind: "string", required: true},
			{path: []string{"password"}, kind: "string", optional: true, computed: true, sensitive: true},
			{path: []string{"manage_master_user_password"}, kind: "bool", optional: true, computed: true},
			{path: []string{"master_user_secret"}, kind: "list(object({kms_key_id=string, secret_arn=string, secret_status=string}))", computed: true},
		}},
		{name: "data aws_iam_policy_document", block: aws.DataSources["aws_iam_policy_document"], attrs: []attrWant{
			{path: []string{"json"}, kind: "string", computed: true},
			{path: []string{"statement", "actions"}, kind: "set(string)", optional: true, computed: true},
			{path: []string{"statement", "principals", "identifiers"}, kind: "set(string)", required: true},
		}, blocks: []blockWant{
			{path: []string{"statement"}, nesting: NestList},
			{path: []string{"statement", "condition"}, nesting: NestSet},
		}},
		{name: "aws provider", block: aws.Provider, attrs: []attrWant{
			{path: []string{"region"}, kind: "string", optional: true},
			{path: []string{"allowed_account_ids"}, kind: "set(string)", optional: true},
			{path: []string{"default_tags", "tags"}, kind: "map(string)", optional: true},
		}},
		{name: "tls_self_signed_cert", block: tls.Resources["tls_self_signed_cert"], attrs: []attrWant{
			{path: []string{"private_key_pem"}, kind: "string", required: true, sensitive: true},
			{path: []string{"validity_period_hours"}, kind: "number", required: true},
			{path: []string{"allowed_uses"}, kind: "list(string)", required: true},
			{path: []string{"subject", "common_name"}, kind: "string", optional: true, computed: true},
			{path: []string{"cert_pem"}, kind: "string", computed: true},
		}, blocks: []blockWant{{path: []string{"subject"}, nesting: NestList}}},
		{name: "tls_private_key", block: tls.Resources["tls_private_key"], attrs: []attrWant{
			{path: []string{"algorithm"}, kind: "string", required: true},
			{path: []string{"private_key_pem"}, kind: "string", computed: true, sensitive: true},
			{path: []string{"public_key_pem"}, kind: "string", computed: true},
		}},
		{name: "random_password", block: random.Resources["random_password"], attrs: []attrWant{
			{path: []string{"length"}, kind: "number", required: true},
			{path: []string{"special"}, kind: "bool", optional: true, computed: true},
			{path: []string{"keepers"}, kind: "map(string)", optional: true, computed: true},
			{path: []string{"result"}, kind: "string", computed: true, sensitive: true},
		}},
		{name: "random_string", block: random.Resources["random_string"], attrs: []attrWant{
			{path: []string{"result"}, kind: "string", computed: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.block == nil {
				t.Fatal("not in schema")
			}
			for _, w := range tc.attrs {
				b := lookupBlock(t, tc.block, w.path[:len(w.path)-1])
				a := b.Attr(w.path[len(w.path)-1])
				if a == nil {
					t.Errorf("%v: missing attribute", w.path)
					continue
				}
				if a.Type.String() != w.kind || a.Required != w.required || a.Optional != w.optional ||
					a.Computed != w.computed || a.Sensitive != w.sensitive {
					t.Errorf("%v = %s required=%v optional=%v computed=%v sensitive=%v, want %s %v %v %v %v", w.path,
						a.Type, a.Required, a.Optional, a.Computed, a.Sensitive, w.kind, w.required, w.optional, w.computed, w.sensitive)
				}
			}
			for _, w := range tc.blocks {
				parent := lookupBlock(t, tc.block, w.path[:len(w.path)-1])
				nb := parent.NestedBlock(w.path[len(w.path)-1])
				if nb == nil {
					t.Errorf("%v: missing block", w.path)
					continue
				}
				if nb.Nesting != w.nesting || nb.MinItems != w.minItems || nb.MaxItems != w.maxItems {
					t.Errorf("%v: nesting %s min %d max %d, want %s %d %d", w.path, nb.Nesting, nb.MinItems, nb.MaxItems, w.nesting, w.minItems, w.maxItems)
				}
			}
		})
	}
}

// Lists of objects the real provider declares as attributes (ConfigModeAttr) are
// attributes here too, so both `ingress { }` blocks and `ingress = []` work.
func TestAttributesAsBlocks(t *testing.T) {
	aws := loadAll(t)["aws"]
	for _, tc := range []struct{ res, attr, prefix string }{
		{"aws_security_group", "ingress", "set(object({cidr_blocks=list(string), description=string, from_port=number"},
		{"aws_route_table", "route", "set(object({carrier_gateway_id=string, cidr_block=string"},
		{"aws_network_acl", "egress", "set(object({action=string"},
	} {
		a := aws.Resources[tc.res].Attr(tc.attr)
		if a == nil {
			t.Errorf("%s.%s: not an attribute", tc.res, tc.attr)
			continue
		}
		if !strings.HasPrefix(a.Type.String(), tc.prefix) || !a.Optional {
			t.Errorf("%s.%s = %s optional=%v, want %s...", tc.res, tc.attr, a.Type, a.Optional, tc.prefix)
		}
	}
}

func TestEverythingIsServed(t *testing.T) {
	all := loadAll(t)
	for _, tc := range []struct {
		name               string
		resources, sources int
		mustHave           []string
	}{
		{"aws", 1500, 600, []string{"aws_s3_bucket_server_side_encryption_configuration", "aws_vpc_security_group_ingress_rule", "aws_efs_file_system", "aws_secretsmanager_secret_version", "aws_route53_record"}},
		{"tls", 4, 2, []string{"tls_locally_signed_cert", "tls_cert_request"}},
		{"random", 8, 0, []string{"random_id", "random_uuid", "random_shuffle"}},
	} {
		ps := all[tc.name]
		if len(ps.Resources) < tc.resources || len(ps.DataSources) < tc.sources {
			t.Errorf("%s: %d resources, %d data sources; want at least %d and %d", tc.name, len(ps.Resources), len(ps.DataSources), tc.resources, tc.sources)
		}
		for _, r := range tc.mustHave {
			if ps.Resources[r] == nil {
				t.Errorf("%s: resource %s missing", tc.name, r)
			}
		}
		if ps.Resources["aws_s3_bucket_encryption_configuration"] != nil {
			t.Errorf("aws_s3_bucket_encryption_configuration does not exist in the real provider")
		}
		// Every schema must pass the checks Terraform applies to provider schemas.
		for n, b := range ps.Resources {
			if err := b.Validate(); err != nil {
				t.Errorf("%s resource %s: %v", tc.name, n, err)
			}
		}
		for n, b := range ps.DataSources {
			if err := b.Validate(); err != nil {
				t.Errorf("%s data source %s: %v", tc.name, n, err)
			}
		}
		if err := ps.Provider.Validate(); err != nil {
			t.Errorf("%s provider: %v", tc.name, err)
		}
	}
	if all["aws"].DataSources["aws_caller_identity"] == nil || all["aws"].DataSources["aws_ami"] == nil {
		t.Error("aws data sources missing")
	}
}

// The versions served must be the ones the packages were generated from.
func TestVersionsMatchPackages(t *testing.T) {
	all := loadAll(t)
	dir, _ := FindSchemaDir()
	for name, want := range Versions {
		if got := all[name].Version; got != want {
			t.Errorf("%s: package generated from %s, Versions says %s", name, got, want)
		}
		raw, err := os.ReadFile(filepath.Join(dir, packageOf[name], "package.json"))
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct{ Version string }
		if err := json.Unmarshal(raw, &pkg); err != nil {
			t.Fatal(err)
		}
		wantPkg := map[string]string{"aws": "21.22.1", "tls": "11.0.1", "random": "12.0.1"}[name]
		if pkg.Version != wantPkg {
			t.Errorf("%s: npm package %s installed, want %s (scripts/install-deps.sh)", name, pkg.Version, wantPkg)
		}
	}
}

// The cache must give back exactly what extraction produced.
func TestSchemaCacheRoundTrip(t *testing.T) {
	dir, err := FindSchemaDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("%v (install with scripts/install-deps.sh)", err)
	}
	ps, err := ExtractSchema(filepath.Join(dir, "provider-tls"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tls.json.gz")
	if err := writeCache(path, ps); err != nil {
		t.Fatal(err)
	}
	back, err := readCache(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(ps)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Error("cached schema differs from the extracted one")
	}
}

func TestProviderNameFromExecutable(t *testing.T) {
	t.Setenv("CSO_TESTPROVIDER_NAME", "")
	for in, want := range map[string]string{
		"/x/registry.terraform.io/hashicorp/aws/6.25.0/linux_amd64/terraform-provider-aws_v6.25.0": "aws",
		"terraform-provider-tls_v4.1.0":    "tls",
		"terraform-provider-random_v3.7.2": "random",
	} {
		got, err := ProviderNameFromExecutable(in)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ProviderNameFromExecutable("terraform-provider-azurerm_v1.0.0"); err == nil {
		t.Error("azurerm accepted")
	}
	// The file name wins over the environment: Terraform starts all three from one env.
	t.Setenv("CSO_TESTPROVIDER_NAME", "tls")
	if got, _ := ProviderNameFromExecutable("terraform-provider-aws_v6.25.0"); got != "aws" {
		t.Errorf("got %q, want aws", got)
	}
	if got, _ := ProviderNameFromExecutable("/tmp/csotest"); got != "tls" {
		t.Errorf("env fallback: got %q, want tls", got)
	}
}
