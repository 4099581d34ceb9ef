package target

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/jsondur"
	"github.com/cso-ssp/platform/internal/pki"
)

// Kinds of target.
const (
	KindLocal = "local"
	KindAWS   = "aws"
)

// EC2 paths of the LLD: the two EFS file systems as the jump host mounts them.
const (
	EC2Scripts  = "/opt/scripts"
	EC2SSLCerts = "/opt/ssl-certs"
)

// RDSCABundle is where every EC2 host keeps AWS's RDS CA bundle (global-bundle.pem from
// https://truststore.pki.rds.amazonaws.com, fetched by user data): the agents' database
// clients, Keystone's PyMySQL and `cso check` on the jump server verify RDS against it.
const RDSCABundle = "/etc/pki/cso/rds-ca-bundle.pem"

// EC2File is where an AWS environment's description lives on its hosts: `cso deploy`
// uploads it to s3://<env>-cso-files-<account_id>/scripts/target.json and the jump server's S3 to EFS
// sync puts it here, where the admin dashboard and `cso check` on the jump host read it.
var EC2File = EC2Scripts + "/" + FileName

// Outputs are the root module's outputs as `terraform output -json` prints them: name to
// value (the "value" member of each output, already unwrapped).
type Outputs map[string]json.RawMessage

// FromOutputs describes the AWS environment env from the Terraform outputs of its
// workspace. The hosts are the env file's (with their ports and service aliases), each
// given the private address Terraform reports; a host in one and not in the other means
// the env file changed since the last apply and is an error, not a guess.
func FromOutputs(env *envfile.Env, out Outputs) (*Target, error) {
	var o awsOutputs
	if err := o.read(env, out); err != nil {
		return nil, err
	}
	t := &Target{
		Env: env.Name, Kind: KindAWS, Region: env.Region,
		CACert:       pki.Store{Dir: EC2SSLCerts}.CACert(),
		CAPEM:        o.caPEM,
		StatusBucket: o.buckets.Files,
		SharedDir:    EC2Scripts,
	}
	if err := o.checkSharedResources(env); err != nil {
		return nil, err
	}
	t.MySQL = o.db.Endpoint
	// The environment's KMS key: `cso backup` writes backups/ with SSE-KMS under it (an
	// older state without the output leaves it empty: the bucket's default encryption).
	t.BackupIntervalMS = jsondur.Millis(env.BackupSettings().Interval)
	if raw, ok := out["kms_key_arn"]; ok {
		_ = json.Unmarshal(raw, &t.KMSKeyARN)
	}
	// The bundle as the hosts keep it: `cso check` on the jump server verifies with it;
	// elsewhere give --mysql-ca.
	t.MySQLCA = RDSCABundle

	if env.HA {
		var err error
		if t.ALB, err = albFromOutputs(env, out); err != nil {
			return nil, err
		}
	}
	hosts, problems := o.hostsOf(env)
	if len(problems) > 0 {
		return nil, fmt.Errorf("the env file and the applied infrastructure differ (run cso deploy --env %s): %s", env.Name, strings.Join(problems, "; "))
	}
	t.Hosts = hosts
	return t, nil
}

// awsOutputs are the outputs FromOutputs needs.
type awsOutputs struct {
	hosts map[string]hostOutput
	db    struct {
		Endpoint string `json:"endpoint"`
		Hostname string `json:"hostname"`
	}
	buckets struct {
		Files string `json:"files"`
	}
	caPEM string
}

// hostOutput is one instance of the "hosts" output.
type hostOutput struct {
	Role         string `json:"role"`
	Index        int    `json:"index"`
	PrivateIP    string `json:"private_ip"`
	FQDN         string `json:"fqdn"`
	InstanceType string `json:"instance_type"`
	AZ           string `json:"availability_zone"`
}

// read decodes the outputs every environment has; a missing one means the environment was
// not applied.
func (o *awsOutputs) read(env *envfile.Env, out Outputs) error {
	for _, want := range []struct {
		name string
		into any
	}{{"hosts", &o.hosts}, {"database", &o.db}, {"buckets", &o.buckets}, {"root_ca_certificate_pem", &o.caPEM}} {
		raw, ok := out[want.name]
		if !ok || string(raw) == "null" {
			return fmt.Errorf("terraform output %q is missing: apply the environment first (cso deploy --env %s)", want.name, env.Name)
		}
		if err := json.Unmarshal(raw, want.into); err != nil {
			return fmt.Errorf("terraform output %q: unexpected shape: %w", want.name, err)
		}
	}
	return nil
}

// checkSharedResources refuses a CA, files bucket or database endpoint that the hosts
// could not use.
func (o *awsOutputs) checkSharedResources(env *envfile.Env) error {
	if !strings.Contains(o.caPEM, "BEGIN CERTIFICATE") {
		return fmt.Errorf("terraform output \"root_ca_certificate_pem\" holds no PEM certificate")
	}
	if o.buckets.Files == "" {
		return fmt.Errorf("terraform output \"buckets\" names no files bucket")
	}
	// Terraform and Go each spell the bucket name once; the agents find their env file by
	// Go's name, so a difference would strand every host.
	if want := env.FilesBucket(); o.buckets.Files != want {
		return fmt.Errorf("terraform output \"buckets\".files is %q but the agents look for %q (<env>-cso-files-<account_id>): the stack and the cso binary disagree on the bucket name", o.buckets.Files, want)
	}
	// RDS reports its endpoint as address:port. Clients dial the endpoint's own name, not
	// the private zone's CNAME (mysql.<zone>): the RDS certificate names the endpoint, and
	// every client verifies it (docs/decisions/roles.md). The agents take it from here.
	if _, _, err := net.SplitHostPort(o.db.Endpoint); err != nil {
		return fmt.Errorf("terraform output \"database\".endpoint %q is not host:port", o.db.Endpoint)
	}
	return nil
}

// hostsOf gives each host of the env file the private address (and FQDN, instance type,
// zone) of its instance in the outputs, and lists every host in one and not in the other.
func (o *awsOutputs) hostsOf(env *envfile.Env) ([]inventory.Host, []string) {
	var hosts []inventory.Host
	var problems []string
	seen := map[string]bool{}
	for _, h := range inventory.Hosts(env) {
		out, ok := o.hosts[h.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is in %s's env file but has no instance in the Terraform outputs", h.Name, env.Name))
			continue
		}
		seen[h.Name] = true
		if out.Role != string(h.Role) || out.Index != h.Index {
			problems = append(problems, fmt.Sprintf("%s is %s %d in the outputs, %s %d in the env file", h.Name, out.Role, out.Index, h.Role, h.Index))
			continue
		}
		if net.ParseIP(out.PrivateIP) == nil {
			problems = append(problems, fmt.Sprintf("%s: private_ip %q is not an IP address", h.Name, out.PrivateIP))
			continue
		}
		h.Address = out.PrivateIP
		if out.FQDN != "" {
			h.FQDN = out.FQDN
		}
		if out.InstanceType != "" {
			h.InstanceType = out.InstanceType
		}
		if out.AZ != "" {
			h.AZ = out.AZ
		}
		hosts = append(hosts, h)
	}
	var extra []string
	for name := range o.hosts {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("%s has an instance in the Terraform outputs but is not in %s's env file", name, env.Name))
	}
	return hosts, problems
}

// albFromOutputs reads the admin_dashboard output of an ha environment: without it the
// dashboard behind the ALB would refuse every user.
func albFromOutputs(env *envfile.Env, out Outputs) (*ALBAuth, error) {
	raw, ok := out["admin_dashboard"]
	if !ok || string(raw) == "null" {
		return nil, fmt.Errorf("terraform output \"admin_dashboard\" is missing: apply the environment first (cso deploy --env %s)", env.Name)
	}
	var o struct {
		ALBARN         string `json:"alb_arn"`
		ALBRegion      string `json:"alb_region"`
		UserPoolID     string `json:"cognito_user_pool_id"`
		UserPoolRegion string `json:"cognito_region"`
		ClientID       string `json:"cognito_client_id"`
		AdminGroup     string `json:"admin_group"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("terraform output \"admin_dashboard\": unexpected shape: %w", err)
	}
	for _, f := range []struct{ name, v string }{
		{"alb_arn", o.ALBARN}, {"alb_region", o.ALBRegion}, {"cognito_user_pool_id", o.UserPoolID},
		{"cognito_region", o.UserPoolRegion}, {"cognito_client_id", o.ClientID}, {"admin_group", o.AdminGroup},
	} {
		if strings.TrimSpace(f.v) == "" {
			return nil, fmt.Errorf("terraform output \"admin_dashboard\".%s is empty", f.name)
		}
	}
	if !strings.HasPrefix(o.ALBARN, "arn:") || !strings.Contains(o.ALBARN, ":loadbalancer/app/") {
		return nil, fmt.Errorf("terraform output \"admin_dashboard\".alb_arn %q is not an application load balancer ARN", o.ALBARN)
	}
	return &ALBAuth{Signer: o.ALBARN, Region: o.ALBRegion, UserPoolID: o.UserPoolID, UserPoolRegion: o.UserPoolRegion,
		ClientID: o.ClientID, AdminGroup: o.AdminGroup}, nil
}
