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
	var hosts map[string]struct {
		Role         string `json:"role"`
		Index        int    `json:"index"`
		PrivateIP    string `json:"private_ip"`
		FQDN         string `json:"fqdn"`
		InstanceType string `json:"instance_type"`
		AZ           string `json:"availability_zone"`
	}
	var db struct {
		Endpoint string `json:"endpoint"`
		Hostname string `json:"hostname"`
	}
	var buckets struct {
		Files string `json:"files"`
	}
	var caPEM string
	for _, o := range []struct {
		name string
		into any
	}{{"hosts", &hosts}, {"database", &db}, {"buckets", &buckets}, {"root_ca_certificate_pem", &caPEM}} {
		raw, ok := out[o.name]
		if !ok || string(raw) == "null" {
			return nil, fmt.Errorf("terraform output %q is missing: apply the environment first (cso deploy --env %s)", o.name, env.Name)
		}
		if err := json.Unmarshal(raw, o.into); err != nil {
			return nil, fmt.Errorf("terraform output %q: unexpected shape: %w", o.name, err)
		}
	}
	var err error
	t := &Target{
		Env: env.Name, Kind: KindAWS, Region: env.Region,
		CACert:       pki.Store{Dir: EC2SSLCerts}.CACert(),
		CAPEM:        caPEM,
		StatusBucket: buckets.Files,
		SharedDir:    EC2Scripts,
	}
	if !strings.Contains(caPEM, "BEGIN CERTIFICATE") {
		return nil, fmt.Errorf("terraform output \"root_ca_certificate_pem\" holds no PEM certificate")
	}
	if buckets.Files == "" {
		return nil, fmt.Errorf("terraform output \"buckets\" names no files bucket")
	}
	// Terraform and Go each spell the bucket name once; the agents find their env file by
	// Go's name, so a difference would strand every host.
	if want := env.FilesBucket(); buckets.Files != want {
		return nil, fmt.Errorf("terraform output \"buckets\".files is %q but the agents look for %q (<env>-cso-files-<account_id>): the stack and the cso binary disagree on the bucket name", buckets.Files, want)
	}
	// RDS reports its endpoint as address:port. Clients dial the endpoint's own name, not
	// the private zone's CNAME (mysql.<zone>): the RDS certificate names the endpoint, and
	// every client verifies it (docs/decisions/roles.md). The agents take it from here.
	if _, _, err := net.SplitHostPort(db.Endpoint); err != nil {
		return nil, fmt.Errorf("terraform output \"database\".endpoint %q is not host:port", db.Endpoint)
	}
	t.MySQL = db.Endpoint
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
		if t.ALB, err = albFromOutputs(env, out); err != nil {
			return nil, err
		}
	}

	var problems []string
	seen := map[string]bool{}
	for _, h := range inventory.Hosts(env) {
		o, ok := hosts[h.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is in %s's env file but has no instance in the Terraform outputs", h.Name, env.Name))
			continue
		}
		seen[h.Name] = true
		if o.Role != string(h.Role) || o.Index != h.Index {
			problems = append(problems, fmt.Sprintf("%s is %s %d in the outputs, %s %d in the env file", h.Name, o.Role, o.Index, h.Role, h.Index))
			continue
		}
		if net.ParseIP(o.PrivateIP) == nil {
			problems = append(problems, fmt.Sprintf("%s: private_ip %q is not an IP address", h.Name, o.PrivateIP))
			continue
		}
		h.Address = o.PrivateIP
		if o.FQDN != "" {
			h.FQDN = o.FQDN
		}
		if o.InstanceType != "" {
			h.InstanceType = o.InstanceType
		}
		if o.AZ != "" {
			h.AZ = o.AZ
		}
		t.Hosts = append(t.Hosts, h)
	}
	var extra []string
	for name := range hosts {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("%s has an instance in the Terraform outputs but is not in %s's env file", name, env.Name))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the env file and the applied infrastructure differ (run cso deploy --env %s): %s", env.Name, strings.Join(problems, "; "))
	}
	return t, nil
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
