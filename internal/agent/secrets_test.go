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

	"github.com/cso-ssp/platform/internal/awstest"
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

// motoSM is moto's Secrets Manager holding values (id -> SecretString; each secret is
// removed when the test ends), seen through a client that counts the calls by id and
// answers AccessDenied for the ids in denied (what a host whose IAM role lacks the
// permission gets, which moto does not enforce).
type motoSM struct {
	client *secretsmanager.Client
	denied map[string]bool
	calls  []string
	arns   map[string]string // name -> ARN moto gave it
}

func newMotoSM(t *testing.T, prefix string, values map[string]string, denied ...string) *motoSM {
	t.Helper()
	m := awstest.Moto(t)
	sm := &motoSM{client: m.SecretsManager(), denied: map[string]bool{}, arns: map[string]string{}}
	for id, v := range values {
		sm.arns[id] = m.Secret(t, prefix+id, v)
	}
	for _, id := range denied {
		sm.denied[id] = true
	}
	return sm
}

func (f *motoSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	id := aws.ToString(in.SecretId)
	f.calls = append(f.calls, id)
	if f.denied[id] {
		return nil, errors.New("AccessDeniedException: not authorized to perform secretsmanager:GetSecretValue")
	}
	return f.client.GetSecretValue(ctx, in, opts...)
}

func TestAWSSecrets(t *testing.T) {
	// The documents as terraform/modules/{security,database} write them, in moto.
	sm := newMotoSM(t, "", map[string]string{
		"dev/cso/database/keystone":      `{"engine":"mysql","username":"keystone","password":"s3cr3tValue"}`,
		"dev/cso/rabbitmq/erlang-cookie": `{"cookie":"COOKIEVALUE"}`,
		"rds!db-1":                       `{"username":"cso_admin","password":"fromRDS"}`,
		"dev/cso/keystone/admin":         `not json`,
	}, "dev/cso/broken")
	// RDS names its master secret; user data passes the agent its ARN.
	s := &AWSSecrets{Client: sm, Env: "dev", MasterSecretID: sm.arns["rds!db-1"]}
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
	// As terraform/modules/security writes aws_secretsmanager_secret_version.host_tls, in
	// moto under environment "tls" (TestAWSSecrets uses "dev" in the same moto).
	sm := newMotoSM(t, "", map[string]string{
		"tls/cso/tls/keystone01":        `{"certificate":"` + certV + `","private_key":"` + keyV + `","ca_certificate":"` + caV + `","dns_names":["keystone01.tls.cso.ss","keystone01"]}`,
		"tls/cso/tls/jump-server-1":     `{"certificate":"` + certV + `","private_key":"` + keyV + `"}`,
		"tls/cso/tls/frontend-server-1": `{"certificate":"` + certV + `","private_key":"` + keyV + `","ca_certificate":""}`,
		"tls/cso/tls/backend-server-1":  `{"certificate":"` + certV + `","private_key":7,"ca_certificate":"` + caV + `"}`,
		"tls/cso/tls/rabbitmq-server-1": `x` + keyV,
	}, "tls/cso/tls/rabbitmq-server-2")
	s := &AWSSecrets{Client: sm, Env: "tls"}
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
	if sm.calls[len(sm.calls)-1] != "tls/cso/tls/keystone01" || HostTLSSecretID("tls", "keystone01") != "tls/cso/tls/keystone01" {
		t.Errorf("secret id %q, want tls/cso/tls/keystone01", sm.calls[len(sm.calls)-1])
	}
	if _, _, _, ok, err := src.HostTLS(ctx, "keystone02"); err != nil || ok {
		t.Errorf("HostTLS of a missing secret = %v %v, want not found and no error", ok, err)
	}
	for _, tc := range []struct{ host, want string }{
		{"jump-server-1", `tls/cso/tls/jump-server-1 in Secrets Manager: field "ca_certificate" is missing`},
		{"frontend-server-1", `tls/cso/tls/frontend-server-1 in Secrets Manager: field "ca_certificate" is empty`},
		{"backend-server-1", `tls/cso/tls/backend-server-1 in Secrets Manager: field "private_key" is not a string`},
		{"rabbitmq-server-1", "tls/cso/tls/rabbitmq-server-1 in Secrets Manager is not the JSON document Terraform writes"},
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

// A dry run only looks at a secret; a real run generates it.
func TestRuntimeSecret(t *testing.T) {
	ctx := context.Background()
	store := &LocalSecrets{Dir: filepath.Join(t.TempDir(), "secrets")}
	dry := &Runtime{Secrets: store, DryRun: true}
	if v, ok, err := dry.Secret(ctx, "rabbitmq-password"); err != nil || ok || v != "" {
		t.Fatalf("dry run on a missing secret: %q, %v, %v", v, ok, err)
	}
	if _, err := os.Stat(store.Path("rabbitmq-password")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a dry run generated the secret: %v", err)
	}
	real := &Runtime{Secrets: store}
	v, ok, err := real.Secret(ctx, "rabbitmq-password")
	if err != nil || !ok || v == "" {
		t.Fatalf("real run: %q, %v, %v", v, ok, err)
	}
	if got, ok, err := dry.Secret(ctx, "rabbitmq-password"); err != nil || !ok || got != v {
		t.Fatalf("dry run on an existing secret: %q, %v, %v; want %q", got, ok, err, v)
	}
}
