package awsdeploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
)

// portBase shifts every daemon's port: this package's own range (the local target's tests
// use 1000 to 5000 and test/e2e its own), so the packages can run side by side.
const portBase = 7000

// csoBin is the cso binary TestMain builds: the deploy publishes it as bin/cso and every
// "host" runs it as its agent, as EC2 user data does.
var csoBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	defer awstest.Stop()
	dir, err := os.MkdirTemp("", "cso-awsdeploy-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	csoBin = filepath.Join(dir, "cso")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", csoBin, "./cmd/cso")
	build.Dir, build.Stdout, build.Stderr = filepath.Join("..", ".."), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "awsdeploy: go build:", err)
		return 1
	}
	return m.Run()
}

// stateBlock matches the state: mapping of an env file.
var stateBlock = regexp.MustCompile(`(?m)^state:\n(?:[ \t]+.*\n)+`)

// envDir copies environments/env.<name>.yaml with its state switched to the local backend.
func envDir(t *testing.T, name, stateDir string) (string, *envfile.Env) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "environments", "env."+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !stateBlock.Match(data) {
		t.Fatalf("env.%s.yaml has no state block", name)
	}
	data = stateBlock.ReplaceAll(data, fmt.Appendf(nil, "state:\n  backend: local\n  path: %s\n", filepath.Join(stateDir, "terraform.tfstate")))
	dir := t.TempDir()
	path := envfile.PathFor(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, env
}

// rawState is the part of a Terraform state file the harness reads.
type rawState struct {
	Serial    int
	Resources []struct {
		Mode, Type, Name string
		Instances        []struct {
			IndexKey   any             `json:"index_key"`
			Attributes json.RawMessage `json:"attributes"`
		}
	}
}

func readState(t *testing.T, path string) rawState {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the applied state: %v", err)
	}
	var st rawState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st
}

// attributes returns the attributes of every managed instance of type typ.
func (st rawState) attributes(typ string) []map[string]any {
	var out []map[string]any
	for _, r := range st.Resources {
		if r.Mode != "managed" || r.Type != typ {
			continue
		}
		for _, i := range r.Instances {
			var m map[string]any
			if json.Unmarshal(i.Attributes, &m) == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// copySecrets does for moto what Terraform's aws_secretsmanager_secret_version does on AWS
// (the test provider stands in for the AWS provider and reaches no API): every secret value
// the applied state holds is created in moto's Secrets Manager under its secret's name.
// It returns the names.
func copySecrets(t *testing.T, moto *awstest.Server, st rawState) []string {
	t.Helper()
	names := map[string]string{} // secret id or ARN -> name
	for _, s := range st.attributes("aws_secretsmanager_secret") {
		names[str(s, "id")], names[str(s, "arn")] = str(s, "name"), str(s, "name")
	}
	var out []string
	for _, v := range st.attributes("aws_secretsmanager_secret_version") {
		name := names[str(v, "secret_id")]
		value := str(v, "secret_string")
		if name == "" || value == "" {
			t.Fatalf("secret version of %q: no secret of that id in the state, or no string value", str(v, "secret_id"))
		}
		moto.Secret(t, name, value)
		out = append(out, name)
	}
	return out
}

// loopbackTarget rewrites the description the deploy published (private 10.x addresses, the
// RDS endpoint) for this machine: every host on 127.0.0.1 with its ports shifted so that
// hosts of one role do not collide (Keystone node i +i-1, RabbitMQ node i +10(i-1), the
// others +100(i-1), all + portBase; one epmd per machine), the database the local MariaDB,
// the shared store (EFS) the local platform's directory, the RDS CA bundle mysqlCA (the
// test CA that signed the stand-in's certificate: the agents verify the database with it).
// The roles then bind to loopback and nothing dials the 10.x addresses.
func loopbackTarget(t *testing.T, published *target.Target, mysql, mysqlCA, root string) *target.Target {
	t.Helper()
	lt := *published
	// The EFS mount of the hosts is the local platform's shared directory.
	lt.SharedDir = filepath.Join(root, "shared", "scripts")
	lt.Hosts = nil
	for _, h := range published.Hosts {
		step := 100 * (h.Index - 1)
		switch h.Role {
		case envfile.RoleKeystone:
			step = h.Index - 1
		case envfile.RoleRabbitMQ:
			step = 10 * (h.Index - 1)
		}
		ports := map[string]int{}
		for name, p := range h.Ports {
			if name == inventory.PortEPMD {
				ports[name] = p
				continue
			}
			ports[name] = p + step + portBase
		}
		h.Address, h.Ports = "127.0.0.1", ports
		lt.Hosts = append(lt.Hosts, h)
	}
	lt.MySQL, lt.MySQLCA = mysql, mysqlCA
	return &lt
}

// startDatabase runs the local MariaDB (the RDS stand-in) under root/hosts/mysql, serving
// TLS as RDS does, and returns its address, admin password and the file of the test CA
// that signed its certificate (what the RDS CA bundle is to `cso check --mysql-ca`).
//
// The certificate names 127.0.0.1: an AWS check verifies the host part of the target's
// mysql address (ServerName), and the loopback description puts the MariaDB's address
// there in place of the RDS endpoint, whose certificate names the endpoint.
func startDatabase(ctx context.Context, t *testing.T, env *envfile.Env, root string) (addr, password, caFile string) {
	t.Helper()
	l, err := local.NewLayout(root)
	if err != nil {
		t.Fatal(err)
	}
	port := inventory.LocalMySQLPort + portBase
	addr = local.MySQLAddr(portBase)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caPEM, caKey, err := pki.NewCA("awsdeploy-rds", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.ServerSpec{CommonName: host, IPs: []net.IP{net.ParseIP(host)}}, now)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(root, "rds-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	secrets := &agent.LocalSecrets{Dir: filepath.Join(root, "rds-secrets")}
	rt := &agent.Runtime{
		Env: env, Host: inventory.Host{Name: local.MySQLHost, Role: local.RoleDatabase, Index: 1, Address: "127.0.0.1"},
		Paths: l.Paths(local.MySQLHost), Platform: l.Platform(local.MySQLHost), Secrets: secrets,
		MySQL: addr, MySQLAdminUser: local.MySQLAdminUser, MySQLCAFile: caFile,
	}
	role := local.DatabaseWithTLS(port, local.DatabaseTLS{CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: caPEM})
	if _, err := agent.Run(ctx, rt, role, status.Dir{Path: filepath.Join(root, "rds-status")}); err != nil {
		t.Fatalf("local MariaDB (RDS stand-in): %v", err)
	}
	password, err = secrets.Get(ctx, agent.SecretMySQLAdmin)
	if err != nil {
		t.Fatal(err)
	}
	return addr, password, caFile
}

// object reads key from the bucket in moto ("" and false when it is not there).
func object(ctx context.Context, moto *awstest.Server, bucket, key string) ([]byte, bool) {
	out, err := moto.S3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, false
	}
	defer out.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(b.String()), true
}

// waitFor polls cond every 200ms until it holds, the context ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}
