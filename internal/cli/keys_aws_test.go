//go:build linux

package cli

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/status"
)

// TestKeysRotateAWSThroughSSM: on AWS `cso keys rotate` runs keystone01's agent with the
// rotation through Systems Manager, then keystone02's agent, then checks the key sets the
// nodes published. moto serves SSM (it records commands and resolves their targets against
// its EC2 instances; it does not run them), S3 (the status documents) and EC2.
func TestKeysRotateAWSThroughSSM(t *testing.T) {
	moto := awstest.Moto(t)
	moto.Setenv(t)
	_, envDir := keysFixture(t, "")
	env, err := envfile.Load(filepath.Join(envDir, "env.t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	moto.Bucket(t, env.FilesBucket())
	store := &status.S3{Client: s3.NewFromConfig(moto.Config()), Bucket: env.FilesBucket()}
	digests := func(names ...string) string {
		keys := map[string][]byte{}
		for i, n := range names {
			keys[string(rune('0'+i))] = []byte("key " + n)
		}
		return status.DigestKeys(keys).String()
	}
	newSet := digests("a", "b", "c")
	publish := func(keystone02Fernet string) {
		t.Helper()
		for host, fernet := range map[string]string{"keystone01": newSet, "keystone02": keystone02Fernet} {
			doc := status.Host{Host: host, Role: "keystone", Env: "t", State: "done", UpdatedAt: time.Now(),
				Facts: map[string]string{status.FactFernetKeys: fernet, status.FactCredentialKeys: digests("d", "e")}}
			if err := store.Put(context.Background(), doc); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(newSet)
	run := func() (int, string, string) {
		return runCSO(t, "keys", "rotate", "fernet", "--env", "t", "--env-dir", envDir)
	}

	// No instance carries the tags: the first command reaches nobody.
	code, _, errOut := run()
	if code != ExitFailure || !strings.Contains(errOut, "no instance tagged Environment=t, Name=keystone01") {
		t.Fatalf("without instances: exit %d, stderr %q", code, errOut)
	}
	for _, h := range []string{"keystone01", "keystone02"} {
		runMotoInstance(t, moto.URL, map[string]string{"Environment": "t", "Name": h})
	}
	// --dry-run: keystone01's agent alone, with --dry-run; nothing else is sent.
	code, out, errOut := runCSO(t, "keys", "rotate", "fernet", "--env", "t", "--dry-run", "--env-dir", envDir)
	if code != 0 || !strings.Contains(out, "keystone01's agent (command ") || !strings.Contains(out, "nothing changed") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run()
	if code != 0 || !strings.Contains(out, "every Keystone node (keystone01, keystone02) holds the new fernet key set") {
		t.Fatalf("rotation: exit %d\n%s%s", code, out, errOut)
	}
	// The commands, in order: the dry run on keystone01; the rotation on keystone01, then
	// keystone02's agent run.
	cmds, err := ssm.NewFromConfig(moto.Config()).ListCommands(context.Background(), &ssm.ListCommandsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, c := range cmds.Commands {
		name := ""
		for _, tg := range c.Targets {
			if *tg.Key == "tag:Name" {
				name = tg.Values[0]
			}
		}
		if len(c.InstanceIds) == 1 {
			sent = append(sent, name+": "+strings.Join(c.Parameters["commands"], ";"))
		}
	}
	want := []string{
		"keystone01: /usr/local/bin/cso agent --env t --account-id 111122223333 --role keystone --index 1 --region eu-west-2 --rotate-fernet --dry-run",
		"keystone01: /usr/local/bin/cso agent --env t --account-id 111122223333 --role keystone --index 1 --region eu-west-2 --rotate-fernet",
		"keystone02: systemctl start cso-agent.service",
	}
	if !slices.Equal(sent, want) {
		t.Errorf("commands that reached an instance:\n%s\nwant:\n%s", strings.Join(sent, "\n"), strings.Join(want, "\n"))
	}

	// A node whose published set is not the new one: the rotation says so, exit 1.
	publish(digests("a", "b"))
	code, _, errOut = run()
	if code != ExitFailure || !strings.Contains(errOut, "keystone02") || !strings.Contains(errOut, "cso keys status --env t") {
		t.Errorf("a node behind after the rotation: exit %d, stderr %q", code, errOut)
	}
}

// runMotoInstance starts an instance with tags in moto's EC2 through its query API (the
// SDK's EC2 module is not a dependency of cso).
func runMotoInstance(t *testing.T, endpoint string, tags map[string]string) {
	t.Helper()
	form := url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "ImageId": {"ami-12c6146b"},
		"MinCount": {"1"}, "MaxCount": {"1"}, "InstanceType": {"t3.medium"}, "TagSpecification.1.ResourceType": {"instance"}}
	i := 1
	for k, v := range tags {
		n := "TagSpecification.1.Tag." + string(rune('0'+i))
		form.Set(n+".Key", k)
		form.Set(n+".Value", v)
		i++
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// moto routes a request by the service of its credential scope.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+os.Getenv("AWS_ACCESS_KEY_ID")+"/20261205/"+awstest.Region+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto RunInstances: HTTP %d", resp.StatusCode)
	}
}
