// Package awsdeploy proves an AWS deploy end to end with only the operating system and the
// AWS APIs stood in: `cso deploy --env dev-ha` runs real Terraform against the offline test
// provider, publishes to moto's S3, and waits for the statuses that each host's real
// `cso agent` (EC2 data path: env file from the bucket, secrets and TLS material from
// moto's Secrets Manager, status to moto's S3) publishes while converging its role through
// the local platform under the test's directory; then `cso check` probes the result.
package awsdeploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/deploy"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/pki"
	"github.com/cso-ssp/platform/internal/status"
	"github.com/cso-ssp/platform/internal/target"
	"github.com/cso-ssp/platform/internal/tfharness"
)

func TestAWSDeployDevHAThroughMoto(t *testing.T) {
	moto := awstest.Moto(t)
	h := tfharness.New(t)
	// Keystone's hosts also run memcached (without it the agent would install it).
	for _, bin := range []string{"/usr/sbin/mariadbd", "/usr/bin/memcached"} {
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal(bin + " is not installed (scripts/install-deps.sh)")
			}
			t.Skip(bin + " is not installed (run scripts/install-deps.sh)")
		}
	}
	w := h.Workdir(t, filepath.Join("..", "..", "terraform"))
	eDir, env := envDir(t, "dev-ha", t.TempDir())
	statePath, err := deploy.LocalWorkspaceState(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()

	// The hosts' file systems: the daemons' users must reach them (MkdirTemp makes 0700).
	root, err := os.MkdirTemp("", "cso-awsdeploy-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer dcancel()
		if err := local.Down(dctx, root, false, io.Discard); err != nil {
			t.Logf("stop the daemons: %v", err)
		}
		if os.Getenv("CSO_AWSDEPLOY_KEEP") != "1" {
			os.RemoveAll(root)
		} else {
			t.Logf("kept %s", root)
		}
	})
	mysql, adminPassword, mysqlCA := startDatabase(ctx, t, env, root)

	// Terraform's aws_s3_bucket does not reach moto either: the harness creates the bucket the
	// environment's hosts and deploy use, and checks below that the state names the same.
	bucket := env.FilesBucket()
	moto.Bucket(t, bucket)

	procEnv := os.Environ()
	procEnv = append(procEnv, h.Env()...)
	procEnv = append(procEnv, "CSO_TERRAFORM="+h.TerraformBin(), "CSO_TF_PLUGIN_DIR="+h.PluginDir())
	for k, v := range moto.Env() {
		procEnv = append(procEnv, k+"="+v)
	}
	logDir := filepath.Join(root, "test-logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// 1. The operator's deploy.
	var deployOut bytes.Buffer
	deployErr, err := os.Create(filepath.Join(logDir, "deploy.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer deployErr.Close()
	dep := exec.CommandContext(ctx, csoBin, "deploy", "--env", env.Name, "--env-dir", eDir, "--terraform-dir", w.Dir(),
		"--auto-approve", "--allow-placeholders", "--poll-interval", "1s", "--phase-timeout", "20m", "-o", "json")
	dep.Env, dep.Stdout, dep.Stderr = procEnv, &deployOut, deployErr
	if err := dep.Start(); err != nil {
		t.Fatal(err)
	}
	deployDone := make(chan error, 1)
	go func() { deployDone <- dep.Wait() }()

	// 2. What AWS does between apply and the hosts' first boot: once the deploy published
	// the env file and the description, the secrets Terraform wrote are in Secrets Manager
	// and every instance boots its agent.
	published := func() bool {
		_, a := object(ctx, moto, bucket, deploy.EnvFileKey(env.Name))
		_, b := object(ctx, moto, bucket, deploy.TargetKey)
		return a && b
	}
	if err := waitFor(ctx, 25*time.Minute, published); err != nil {
		dep.Process.Kill()
		t.Fatalf("the deploy published nothing to s3://%s: %v\n%s", bucket, err, tailFile(deployErr.Name(), 30))
	}
	st := readState(t, statePath)
	secretNames := copySecrets(t, moto, st)
	masterARN := rdsMasterSecret(t, moto, st, adminPassword)
	data, _ := object(ctx, moto, bucket, deploy.TargetKey)
	var pub target.Target
	if err := json.Unmarshal(data, &pub); err != nil {
		t.Fatalf("published %s: %v", deploy.TargetKey, err)
	}
	if pub.StatusBucket != bucket {
		t.Fatalf("the state's files bucket is %q; the harness created %q", pub.StatusBucket, bucket)
	}
	// The hosts verify RDS with the bundle user data fetches; the loopback copy below
	// puts the test CA there instead.
	if pub.MySQLCA != target.RDSCABundle {
		t.Errorf("published mysql_ca %q, want %q", pub.MySQLCA, target.RDSCABundle)
	}
	lt := loopbackTarget(t, &pub, mysql, mysqlCA, root)
	targetFile := filepath.Join(root, "target.loopback.json")
	if err := lt.Save(targetFile); err != nil {
		t.Fatal(err)
	}
	hosts := inventory.Hosts(env)
	agents := startAgents(ctx, t, env.AccountID, hosts, procEnv, targetFile, root, logDir, masterARN)

	// 3. The deploy's waiting phases see the statuses the agents publish.
	var deployRes error
	select {
	case deployRes = <-deployDone:
	case <-ctx.Done():
		dep.Process.Kill()
		t.Fatal("the deploy did not end")
	}
	close(agents.stop)
	agents.wait(t, 5*time.Minute)
	code := 0
	if ee, ok := deployRes.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	t.Logf("cso deploy: exit %d\n%s", code, tailFile(deployErr.Name(), 40))
	var rep deploy.Report
	if err := json.Unmarshal(deployOut.Bytes(), &rep); err != nil {
		t.Fatalf("deploy report: %v\n%s", err, deployOut.String())
	}
	for _, p := range rep.Phases {
		t.Logf("phase %s: %s (%s)", p.Name, p.State, p.Detail)
	}
	for _, hst := range hosts {
		t.Logf("agent %s: exit %d\n%s", hst.Name, agents.code(hst.Name), tailFile(filepath.Join(logDir, hst.Name+".log"), 12))
	}

	// Every phase completed on the statuses the agents published; every agent succeeded.
	if code != 0 || rep.Result != deploy.Done {
		t.Errorf("cso deploy: exit %d, result %q", code, rep.Result)
	}
	for _, p := range rep.Phases {
		if p.State != deploy.Done {
			t.Errorf("phase %s: %s (%s)", p.Name, p.State, p.Detail)
		}
	}
	for _, hst := range hosts {
		if c := agents.code(hst.Name); c != 0 {
			t.Errorf("agent %s: exit %d", hst.Name, c)
		}
	}

	// The health validation judged the checks the jump server's agent ran and published
	// to moto's S3 after every host converged.
	store := &status.S3{Client: moto.S3(), Bucket: bucket}
	if cr, err := store.GetCheck(ctx); err != nil {
		t.Errorf("the jump server published no check report: %v", err)
	} else {
		var jrep check.Report
		if err := json.Unmarshal(cr.Report, &jrep); err != nil || len(jrep.Results) == 0 || cr.Host != "jump-server-1" {
			t.Errorf("check report of %s: %d results, %v", cr.Host, len(jrep.Results), err)
		}
		t.Logf("check report of %s at %s: %+v (%d timer runs of the jump agent)", cr.Host, cr.Started.Format(time.TimeOnly), jrep.Summary, agents.jumpReruns)
		for _, p := range rep.Phases {
			if p.Name == deploy.StatusPhases[3].Name && !strings.Contains(p.Detail, "checks on "+cr.Host) {
				t.Errorf("phase %s: %q, want the summary of the published checks", p.Name, p.Detail)
			}
		}
	}

	// The statuses are the agents' own, read from moto's S3.
	docs, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]status.Host{}
	for _, d := range docs {
		byHost[d.Host] = d
	}
	for _, hst := range hosts {
		if d, ok := byHost[hst.Name]; !ok || d.State != status.StateDone || d.Env != env.Name {
			t.Errorf("%s: status %+v, want done", hst.Name, d)
		}
	}

	// The secrets and TLS material came from Secrets Manager: keystone.conf holds the
	// database password the state holds, the shared store the certificates Terraform made.
	ksDBID, ksField := agent.SecretID(env.Name, agent.SecretKeystoneDB)
	ksDB := secretField(t, st, ksDBID, ksField)
	if conf, err := os.ReadFile(filepath.Join(root, "hosts", "keystone01", "etc", "keystone", "keystone.conf")); err != nil || !strings.Contains(string(conf), ksDB) {
		t.Errorf("keystone01's keystone.conf does not carry the password of %s (%v)", ksDBID, err)
	}
	// Each host installed its own pair from its own secret, in its own tree; the shared
	// store (EFS) holds the CA certificate and no private key.
	tlsID := agent.HostTLSSecretID(env.Name, "keystone02")
	wantCert := secretField(t, st, tlsID, "certificate")
	own := local.Layout{Dir: root}.Paths("keystone02")
	own.HostTLS = filepath.Join(own.Etc, "cso", "tls")
	if got, err := os.ReadFile(own.OwnTLS("keystone02").Cert); err != nil || strings.TrimSpace(string(got)) != strings.TrimSpace(wantCert) {
		t.Errorf("keystone02's own certificate is not the one in %s (%v)", tlsID, err)
	}
	sharedStore := pki.Store{Dir: filepath.Join(root, "shared", "ssl-certs")}
	if _, err := os.Stat(sharedStore.CACert()); err != nil {
		t.Errorf("the shared store has no CA certificate: %v", err)
	}
	if keys, _ := filepath.Glob(filepath.Join(sharedStore.Dir, "*", "server.key")); len(keys) != 0 {
		t.Errorf("private keys in the shared store: %v", keys)
	}
	t.Logf("secrets copied from the state into moto: %d", len(secretNames))

	// Each agent's progress lines are in moto's CloudWatch Logs, one stream per host.
	logs := cloudwatchlogs.NewFromConfig(moto.Config())
	for _, hst := range hosts {
		out, err := logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(agent.AgentLogGroup(env.Name)), LogStreamName: aws.String(hst.Name), StartFromHead: aws.Bool(true)})
		if err != nil || len(out.Events) == 0 {
			t.Errorf("CloudWatch Logs %s/%s: %d events, %v", agent.AgentLogGroup(env.Name), hst.Name, eventCount(out), err)
		}
	}

	// 4. cso check --env dev-ha, with the loopback description as its target override and
	// the test CA as the RDS CA bundle. A generous probe timeout: ten hosts' daemons share
	// this (busy) machine with the check.
	check := exec.CommandContext(ctx, csoBin, "check", "--env", env.Name, "--target", targetFile, "--mysql-ca", mysqlCA,
		"--timeout", "60s", "-o", "json")
	var checkOut, checkErr bytes.Buffer
	check.Env, check.Stdout, check.Stderr = procEnv, &checkOut, &checkErr
	cerr := check.Run()
	var crep struct {
		Results []struct{ Check, Target, Status, Detail, Host string }
	}
	if err := json.Unmarshal(checkOut.Bytes(), &crep); err != nil || len(crep.Results) == 0 {
		t.Fatalf("cso check: %v; report: %v\n%s", cerr, err, checkErr.String())
	}
	// Green: nothing fails (exit 0). The only skips are the application hosts' service
	// ports, with the agents' own reason: dev-ha names no application package.
	appHost := map[string]bool{}
	for _, hst := range hosts {
		if hst.Role == envfile.RoleFrontend || hst.Role == envfile.RoleBackend {
			appHost[hst.Name] = true
		}
	}
	var failed, skips []string
	for _, r := range crep.Results {
		line := r.Check + " " + r.Target + ": " + r.Status + ": " + r.Detail
		switch {
		case r.Status == "ok", r.Status == "warn":
		case r.Status == "skip" && appHost[r.Host] && strings.Contains(r.Detail, "no application package"):
			skips = append(skips, line)
		default:
			failed = append(failed, line)
		}
	}
	t.Logf("cso check: %d results, %d skipped (no application package)", len(crep.Results), len(skips))
	if len(failed) > 0 {
		t.Errorf("cso check: %d results neither ok nor an application port skipped:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	if len(skips) == 0 {
		t.Errorf("cso check skipped nothing, yet dev-ha has application hosts and no application package")
	}
	if cerr != nil {
		t.Errorf("cso check: %v (exit 0 expected when nothing fails)\n%s", cerr, checkErr.String())
	}
	// Both service accounts logged in over TLS to the stand-in, its certificate verified
	// against the test CA, as they would to RDS with its CA bundle.
	mysqlUsers := 0
	for _, r := range crep.Results {
		if strings.HasPrefix(r.Check, "mysql user ") {
			mysqlUsers++
			t.Logf("%s %s: %s (%s)", r.Check, r.Target, r.Status, r.Detail)
			if r.Status != "ok" || !strings.Contains(r.Detail, "(TLS, verified)") {
				t.Errorf("%s %s: %s (%s), want ok over TLS with the certificate verified", r.Check, r.Target, r.Status, r.Detail)
			}
		}
	}
	if mysqlUsers != 2 {
		t.Errorf("cso check reported %d mysql user probes, want 2 (keystone, cso_user)", mysqlUsers)
	}
	for _, want := range []string{"keystone cross-validation", "setup status"} {
		found := false
		for _, r := range crep.Results {
			found = found || (r.Check == want && r.Status == "ok")
		}
		if !found {
			t.Errorf("cso check reported no passing %q", want)
		}
	}
}

func eventCount(out *cloudwatchlogs.GetLogEventsOutput) int {
	if out == nil {
		return 0
	}
	return len(out.Events)
}

// rdsMasterSecret creates the RDS-managed master user secret in moto (RDS makes it on AWS,
// named by the state's master_user_secret) holding the local MariaDB's admin password, and
// returns its ARN: what user data passes the jump server's agent.
func rdsMasterSecret(t *testing.T, moto *awstest.Server, st rawState, password string) string {
	t.Helper()
	dbs := st.attributes("aws_db_instance")
	if len(dbs) != 1 {
		t.Fatalf("the state holds %d aws_db_instance, want 1", len(dbs))
	}
	name := "rds!db-" + str(dbs[0], "id")
	if ms, ok := dbs[0]["master_user_secret"].([]any); ok && len(ms) == 1 {
		if m, ok := ms[0].(map[string]any); ok {
			if _, n, ok := strings.Cut(str(m, "secret_arn"), ":secret:"); ok && n != "" {
				name = n
			}
		}
	}
	doc, _ := json.Marshal(map[string]string{"username": str(dbs[0], "username"), "password": password})
	return moto.Secret(t, name, string(doc))
}

// secretField is field of the JSON value the state holds for secret name.
func secretField(t *testing.T, st rawState, name, field string) string {
	t.Helper()
	ids := map[string]bool{}
	for _, s := range st.attributes("aws_secretsmanager_secret") {
		if str(s, "name") == name {
			ids[str(s, "id")], ids[str(s, "arn")] = true, true
		}
	}
	for _, v := range st.attributes("aws_secretsmanager_secret_version") {
		if ids[str(v, "secret_id")] {
			var doc map[string]any
			if err := json.Unmarshal([]byte(str(v, "secret_string")), &doc); err != nil {
				t.Fatalf("secret %s: %v", name, err)
			}
			if s := str(doc, field); s != "" {
				return s
			}
		}
	}
	t.Fatalf("the state holds no secret %s with field %s", name, field)
	return ""
}

// agentProcs are the hosts' agents, as EC2 user data starts them, and the jump server's
// later runs, as its resync timer starts them, until stop is closed.
type agentProcs struct {
	mu    sync.Mutex
	codes map[string]int
	wg    sync.WaitGroup
	cmds  []*exec.Cmd
	stop  chan struct{}
	// jumpReruns counts the timer's runs of the jump server's agent.
	jumpReruns int
}

// timerInterval stands in for cso-agent.timer's 5 minutes between runs.
const timerInterval = 10 * time.Second

func startAgents(ctx context.Context, t *testing.T, accountID string, hosts []inventory.Host, procEnv []string, targetFile, root, logDir, masterARN string) *agentProcs {
	t.Helper()
	a := &agentProcs{codes: map[string]int{}, stop: make(chan struct{})}
	// No env file next to the agent: it reads the published one from the bucket, as on EC2.
	cwd := t.TempDir()
	for _, h := range hosts {
		args := []string{"agent", "--env", "dev-ha", "--account-id", accountID, "--role", string(h.Role), "--index", strconv.Itoa(h.Index),
			"--region", awstest.Region, "--platform", "local", "--root", root, "--target", targetFile}
		if h.Role == envfile.RoleJump {
			args = append(args, "--mysql-admin-secret", masterARN)
		}
		logf, err := os.Create(filepath.Join(logDir, h.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := a.command(ctx, cwd, procEnv, logf, args)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer logf.Close()
			a.record(h.Name, cmd.Wait())
			if h.Role != envfile.RoleJump {
				return
			}
			// The jump server's timer: every run publishes the environment's checks,
			// which the deploy's health validation waits for.
			for {
				select {
				case <-a.stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(timerInterval):
				}
				rerun := a.command(ctx, cwd, procEnv, logf, append(args, "--skip-if-running"))
				a.record(h.Name, rerun.Run())
				a.mu.Lock()
				a.jumpReruns++
				a.mu.Unlock()
			}
		}()
	}
	return a
}

func (a *agentProcs) command(ctx context.Context, cwd string, procEnv []string, logf *os.File, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, csoBin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = cwd, procEnv, logf, logf
	a.mu.Lock()
	a.cmds = append(a.cmds, cmd)
	a.mu.Unlock()
	return cmd
}

// record keeps a host's worst exit code over its runs.
func (a *agentProcs) record(host string, err error) {
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	a.mu.Lock()
	if code != 0 || a.codes[host] == 0 {
		a.codes[host] = code
	}
	a.mu.Unlock()
}

// wait waits for every agent, bounded: one still running after limit is killed.
func (a *agentProcs) wait(t *testing.T, limit time.Duration) {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Errorf("agents still running after %s: killed", limit)
		a.mu.Lock()
		for _, c := range a.cmds {
			if c.Process != nil {
				_ = c.Process.Kill()
			}
		}
		a.mu.Unlock()
		<-done
	}
}

func (a *agentProcs) code(host string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.codes[host]
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
