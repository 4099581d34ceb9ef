package agent

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretLookup is implemented by secret stores that can tell whether a secret exists
// without creating it (dry runs must not generate anything).
type SecretLookup interface {
	Lookup(ctx context.Context, name string) (value string, ok bool, err error)
}

// Secret returns secret name; a dry run only looks (it must not generate anything) and ok
// is false when the secret does not exist yet.
func (rt *Runtime) Secret(ctx context.Context, name string) (value string, ok bool, err error) {
	if l, isLookup := rt.Secrets.(SecretLookup); isLookup && rt.DryRun {
		return l.Lookup(ctx, name)
	}
	value, err = rt.Secrets.Get(ctx, name)
	return value, err == nil, err
}

// HostTLSSource is implemented by secret stores that hold each host's TLS material
// (AWSSecrets: Terraform's `<env>/cso/tls/<host>`). The jump role installs that material
// instead of running a CA of its own; without it (local target) the jump role generates
// the CA and issues the host certificates itself.
type HostTLSSource interface {
	// HostTLS returns host's certificate, private key and the CA certificate, all PEM; ok is
	// false when the host has no such secret (yet).
	HostTLS(ctx context.Context, host string) (cert, key, ca []byte, ok bool, err error)
}

var secretNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// SecretLength is the length of generated secrets: 32 characters of [A-Za-z0-9], about 190
// bits, safe in URLs (keystone.conf's connection string), SQL and config files unquoted.
const SecretLength = 32

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GenerateSecret returns a new random secret from crypto/rand. It always holds an
// upper-case letter, a lower-case letter and a digit, so it passes Keystone's password
// rules ([security_compliance] password_regex) as well.
func GenerateSecret() (string, error) {
	for i := 0; i < 100; i++ {
		s, err := generate()
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") && strings.ContainsAny(s, "0123456789") {
			return s, nil
		}
	}
	return "", errors.New("could not generate a secret with every character class")
}

func generate() (string, error) {
	b := make([]byte, 0, SecretLength)
	buf := make([]byte, 64)
	for len(b) < SecretLength {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			// Rejection sampling keeps every character equally likely (248 = 4*62).
			if c < 248 && len(b) < SecretLength {
				b = append(b, secretAlphabet[int(c)%len(secretAlphabet)])
			}
		}
	}
	return string(b), nil
}

// LocalSecrets keeps one 0600 file per secret in Dir (0700), generated on first use.
type LocalSecrets struct {
	Dir string
	mu  sync.Mutex
}

// Path returns the file of secret name.
func (s *LocalSecrets) Path(name string) string { return filepath.Join(s.Dir, name) }

// Lookup implements SecretLookup.
func (s *LocalSecrets) Lookup(_ context.Context, name string) (string, bool, error) {
	if !secretNameRE.MatchString(name) {
		return "", false, fmt.Errorf("secret name %q: use lower-case letters, digits and dashes", name)
	}
	data, err := os.ReadFile(s.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read secret %s: %w", name, err)
	}
	v := strings.TrimRight(string(data), "\n")
	if v == "" {
		return "", false, fmt.Errorf("secret file %s is empty: remove it to generate a new secret", s.Path(name))
	}
	return v, true, nil
}

// Get implements Secrets: the existing secret, or a new one written atomically with mode
// 0600 (several roles may ask at once; the first writer wins and everyone reads its value).
func (s *LocalSecrets) Get(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok, err := s.Lookup(ctx, name); err != nil || ok {
		return v, err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", fmt.Errorf("create secret directory: %w", err)
	}
	if err := os.Chmod(s.Dir, 0o700); err != nil {
		return "", err
	}
	v, err := GenerateSecret()
	if err != nil {
		return "", fmt.Errorf("generate secret %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(s.Dir, tempPattern(name))
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(v + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// link fails when another process created the secret meanwhile: read theirs.
	if err := os.Link(tmp.Name(), s.Path(name)); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("store secret %s: %w", name, err)
	}
	v, ok, err := s.Lookup(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("secret %s vanished after it was written", name)
	}
	return v, err
}

// Set stores value as secret name (0600), replacing any previous value.
func (s *LocalSecrets) Set(name, value string) error {
	if !secretNameRE.MatchString(name) {
		return fmt.Errorf("secret name %q: use lower-case letters, digits and dashes", name)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	f := File{Path: s.Path(name), Content: []byte(value + "\n"), Mode: 0o600, Secret: true}
	return f.Apply(context.Background(), nil)
}

// SecretsManagerAPI is the part of the Secrets Manager client the agent uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// AWSSecrets reads the secrets Terraform generated into Secrets Manager. It never creates a
// secret: a missing one is a deployment error. Terraform stores JSON documents (see
// awsSecretLayout); the agent's secret names map to a secret id and a JSON field.
type AWSSecrets struct {
	Client SecretsManagerAPI
	Env    string
	// MasterSecretID is the ARN of the RDS-managed master user secret (given to the jump
	// server's agent by user data); RDS names it, so it cannot be derived from Env.
	MasterSecretID string
	mu             sync.Mutex
	cache          map[string]string
	tlsCache       map[string]hostTLS
}

type hostTLS struct{ cert, key, ca []byte }

var _ HostTLSSource = (*AWSSecrets)(nil)

// awsSecretLayout maps the agent's secret names to what terraform/modules/security and
// terraform/modules/database write: "<env>/cso/<suffix>", value in JSON field.
var awsSecretLayout = map[string]struct{ suffix, field string }{
	SecretKeystoneDB:    {"database/keystone", "password"},
	SecretPortalDB:      {"database/cso_portal", "password"},
	SecretKeystoneAdmin: {"keystone/admin", "password"},
	// Read by the jump role only (it creates the identity; `cso check` runs there).
	SecretKeystoneAutomation: {"keystone/automation", "password"},
	SecretRabbitMQ:           {"rabbitmq/ssp_user", "password"},
	// Read by the jump role (it creates the identity) and the application's hosts.
	SecretKeystoneApplication: {"keystone/application", "password"},
	SecretErlangCookie:        {"rabbitmq/erlang-cookie", "cookie"},
}

// SecretID is the Secrets Manager name of secret name in env, and the JSON field that holds
// the value ("" for a plain string secret).
func SecretID(env, name string) (id, field string) {
	if l, ok := awsSecretLayout[name]; ok {
		return env + "/cso/" + l.suffix, l.field
	}
	return env + "/cso/" + name, ""
}

func (s *AWSSecrets) secretID(name string) (id, field string) {
	if name == SecretMySQLAdmin && s.MasterSecretID != "" {
		return s.MasterSecretID, "password"
	}
	return SecretID(s.Env, name)
}

// Lookup implements SecretLookup.
func (s *AWSSecrets) Lookup(ctx context.Context, name string) (string, bool, error) {
	if !secretNameRE.MatchString(name) {
		return "", false, fmt.Errorf("secret name %q: use lower-case letters, digits and dashes", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cache[name]; ok {
		return v, true, nil
	}
	id, field := s.secretID(name)
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read secret %s from Secrets Manager: %w (does the host's IAM role allow secretsmanager:GetSecretValue on it?)", id, err)
	}
	v := aws.ToString(out.SecretString)
	if field != "" {
		var doc map[string]any
		if err := json.Unmarshal([]byte(v), &doc); err != nil {
			return "", false, fmt.Errorf("secret %s in Secrets Manager is not the JSON document Terraform writes (field %q expected)", id, field)
		}
		v, _ = doc[field].(string)
	}
	if v == "" {
		return "", false, fmt.Errorf("secret %s in Secrets Manager is empty or binary", id)
	}
	if s.cache == nil {
		s.cache = map[string]string{}
	}
	s.cache[name] = v
	return v, true, nil
}

// Get implements Secrets.
func (s *AWSSecrets) Get(ctx context.Context, name string) (string, error) {
	v, ok, err := s.Lookup(ctx, name)
	if err != nil {
		return "", err
	}
	if !ok {
		id, _ := s.secretID(name)
		return "", fmt.Errorf("secret %s not found in Secrets Manager: Terraform creates it (terraform/modules/security and database); run `cso deploy` for environment %s", id, s.Env)
	}
	return v, nil
}

// HostTLSSecretID is the Secrets Manager name of host's TLS secret in env
// (terraform/modules/security, aws_secretsmanager_secret.host_tls).
func HostTLSSecretID(env, host string) string { return env + "/cso/tls/" + host }

// hostTLSFields are the PEM fields of a host's TLS secret (Terraform also writes dns_names).
var hostTLSFields = []string{"certificate", "private_key", "ca_certificate"}

// HostTLS implements HostTLSSource: it reads the JSON document Terraform writes to
// `<env>/cso/tls/<host>` ({"certificate", "private_key", "ca_certificate", "dns_names"}).
// Errors name the secret and the field, never a value.
func (s *AWSSecrets) HostTLS(ctx context.Context, host string) (cert, key, ca []byte, ok bool, err error) {
	if !secretNameRE.MatchString(host) {
		return nil, nil, nil, false, fmt.Errorf("host name %q: use lower-case letters, digits and dashes", host)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.tlsCache[host]; ok {
		return v.cert, v.key, v.ca, true, nil
	}
	id := HostTLSSecretID(s.Env, host)
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("read secret %s from Secrets Manager: %w (does the host's IAM role allow secretsmanager:GetSecretValue on it?)", id, err)
	}
	var doc map[string]any
	// The decoder's error may quote a character of the document: it is not passed on.
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil || doc == nil {
		return nil, nil, nil, false, fmt.Errorf("secret %s in Secrets Manager is not the JSON document Terraform writes (fields %s expected)", id, strings.Join(hostTLSFields, ", "))
	}
	vals := make([][]byte, len(hostTLSFields))
	for i, f := range hostTLSFields {
		v, isString := doc[f].(string)
		switch {
		case doc[f] == nil:
			return nil, nil, nil, false, fmt.Errorf("secret %s in Secrets Manager: field %q is missing", id, f)
		case !isString:
			return nil, nil, nil, false, fmt.Errorf("secret %s in Secrets Manager: field %q is not a string", id, f)
		case strings.TrimSpace(v) == "":
			return nil, nil, nil, false, fmt.Errorf("secret %s in Secrets Manager: field %q is empty", id, f)
		}
		vals[i] = []byte(v)
	}
	if s.tlsCache == nil {
		s.tlsCache = map[string]hostTLS{}
	}
	s.tlsCache[host] = hostTLS{cert: vals[0], key: vals[1], ca: vals[2]}
	return vals[0], vals[1], vals[2], true, nil
}
