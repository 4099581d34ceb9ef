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
