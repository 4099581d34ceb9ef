package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestGenerateSecret(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != SecretLength {
			t.Fatalf("length %d, want %d", len(s), SecretLength)
		}
		for _, c := range s {
			if !strings.ContainsRune(secretAlphabet, c) {
				t.Fatalf("character %q outside the alphabet", c)
			}
		}
		if !strings.ContainsAny(s, "0123456789") || !strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
			t.Fatalf("secret lacks a character class (Keystone's password rule needs all three)")
		}
		if seen[s] {
			t.Fatal("the same secret was generated twice")
		}
		seen[s] = true
	}
}

func TestLocalSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	ctx := context.Background()
	// Several stores (roles converging side by side) ask at once: one value wins.
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &LocalSecrets{Dir: dir}
			v, err := s.Get(ctx, "keystone-db-password")
			if err != nil {
				t.Error(err)
			}
			vals[i] = v
		}()
	}
	wg.Wait()
	for _, v := range vals[1:] {
		if v != vals[0] {
			t.Fatalf("concurrent Get returned different values")
		}
	}
	st, err := os.Stat(filepath.Join(dir, "keystone-db-password"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %o, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("secret directory mode %o, want 0700", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("secret directory holds %d entries, want 1 (no temporary files left)", len(entries))
	}
	s := &LocalSecrets{Dir: dir}
	if v, ok, err := s.Lookup(ctx, "keystone-db-password"); err != nil || !ok || v != vals[0] {
		t.Errorf("Lookup = %v %v, want the stored value", ok, err)
	}
	if _, ok, err := s.Lookup(ctx, "absent"); err != nil || ok {
		t.Errorf("Lookup of a missing secret = %v %v, want not found", ok, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "absent")); err == nil {
		t.Error("Lookup created a secret")
	}
	for _, bad := range []string{"../x", "A", "", "a/b"} {
		if _, err := s.Get(ctx, bad); err == nil {
			t.Errorf("Get(%q) accepted a bad name", bad)
		}
	}
}

type fakeSM struct {
	values map[string]string
	calls  []string
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	id := aws.ToString(in.SecretId)
	f.calls = append(f.calls, id)
	v, ok := f.values[id]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("not found")}
	}
	if v == "boom" {
		return nil, errors.New("AccessDeniedException")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func TestAWSSecrets(t *testing.T) {
	// The documents as terraform/modules/{security,database} write them.
	sm := &fakeSM{values: map[string]string{
		"dev/cso/database/keystone":                                     `{"engine":"mysql","username":"keystone","password":"s3cr3tValue"}`,
		"dev/cso/rabbitmq/erlang-cookie":                                `{"cookie":"COOKIEVALUE"}`,
		"arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1": `{"username":"cso_admin","password":"fromRDS"}`,
		"dev/cso/keystone/admin":                                        `not json`,
		"dev/cso/broken":                                                "boom",
	}}
	s := &AWSSecrets{Client: sm, Env: "dev", MasterSecretID: "arn:aws:secretsmanager:eu-west-2:111122223333:secret:rds!db-1"}
	ctx := context.Background()
	tests := []struct {
		name, want, err string
	}{
		{name: "keystone-db-password", want: "s3cr3tValue"},
		{name: "rabbitmq-erlang-cookie", want: "COOKIEVALUE"},
		{name: "mysql-admin-password", want: "fromRDS"},
		{name: "rabbitmq-ssp-password", err: "dev/cso/rabbitmq/ssp_user not found in Secrets Manager"},
		{name: "keystone-admin-password", err: "not the JSON document Terraform writes"},
		{name: "broken", err: "IAM role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Get(ctx, tc.name)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Get = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	n := len(sm.calls)
	if _, err := s.Get(ctx, "keystone-db-password"); err != nil {
		t.Fatal(err)
	}
	if len(sm.calls) != n {
		t.Error("a second Get called Secrets Manager again (values are cached per run)")
	}
}

func TestAWSSecretsHostTLS(t *testing.T) {
	// Values that must never show up in an error.
	const certV, keyV, caV = "CERT-PEM-VALUE", "KEY-PEM-VALUE", "CA-PEM-VALUE"
	sm := &fakeSM{values: map[string]string{
		// As terraform/modules/security writes aws_secretsmanager_secret_version.host_tls.
		"dev/cso/tls/keystone01":        `{"certificate":"` + certV + `","private_key":"` + keyV + `","ca_certificate":"` + caV + `","dns_names":["keystone01.dev.cso.ss","keystone01"]}`,
		"dev/cso/tls/jump-server-1":     `{"certificate":"` + certV + `","private_key":"` + keyV + `"}`,
		"dev/cso/tls/frontend-server-1": `{"certificate":"` + certV + `","private_key":"` + keyV + `","ca_certificate":""}`,
		"dev/cso/tls/backend-server-1":  `{"certificate":"` + certV + `","private_key":7,"ca_certificate":"` + caV + `"}`,
		"dev/cso/tls/rabbitmq-server-1": `x` + keyV,
		"dev/cso/tls/rabbitmq-server-2": "boom",
	}}
	s := &AWSSecrets{Client: sm, Env: "dev"}
	var src HostTLSSource = s
	ctx := context.Background()

	cert, key, ca, ok, err := src.HostTLS(ctx, "keystone01")
	if err != nil || !ok || string(cert) != certV || string(key) != keyV || string(ca) != caV {
		t.Fatalf("HostTLS(keystone01) = %q %q %q %v %v; want the three fields", cert, key, ca, ok, err)
	}
	n := len(sm.calls)
	if _, _, _, _, err := src.HostTLS(ctx, "keystone01"); err != nil || len(sm.calls) != n {
		t.Errorf("a second HostTLS called Secrets Manager again (err %v)", err)
	}
	if sm.calls[len(sm.calls)-1] != "dev/cso/tls/keystone01" || HostTLSSecretID("dev", "keystone01") != "dev/cso/tls/keystone01" {
		t.Errorf("secret id %q, want dev/cso/tls/keystone01", sm.calls[len(sm.calls)-1])
	}
	if _, _, _, ok, err := src.HostTLS(ctx, "keystone02"); err != nil || ok {
		t.Errorf("HostTLS of a missing secret = %v %v, want not found and no error", ok, err)
	}
	for _, tc := range []struct{ host, want string }{
		{"jump-server-1", `dev/cso/tls/jump-server-1 in Secrets Manager: field "ca_certificate" is missing`},
		{"frontend-server-1", `dev/cso/tls/frontend-server-1 in Secrets Manager: field "ca_certificate" is empty`},
		{"backend-server-1", `dev/cso/tls/backend-server-1 in Secrets Manager: field "private_key" is not a string`},
		{"rabbitmq-server-1", "dev/cso/tls/rabbitmq-server-1 in Secrets Manager is not the JSON document Terraform writes"},
		{"rabbitmq-server-2", "IAM role"},
		{"../x", "host name"},
	} {
		_, _, _, ok, err := src.HostTLS(ctx, tc.host)
		if err == nil || ok || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("HostTLS(%s) = %v %v, want an error containing %q", tc.host, ok, err, tc.want)
			continue
		}
		for _, v := range []string{certV, keyV, caV} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("HostTLS(%s) error shows a secret value: %v", tc.host, err)
			}
		}
	}
	// The local store has no TLS secrets: the jump role generates the CA there.
	if _, ok := any(&LocalSecrets{}).(HostTLSSource); ok {
		t.Error("LocalSecrets implements HostTLSSource; the local jump role must keep generating its CA")
	}
}
