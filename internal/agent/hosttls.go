package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/cso-ssp/platform/internal/pki"
)

// RootCASecretID is the Secrets Manager name of env's root CA, certificate and private key
// (terraform/modules/security, aws_secretsmanager_secret.root_ca). Only the jump role may
// read it: it renews the host certificates (issue #13).
func RootCASecretID(env string) string { return env + "/cso-pki/root-ca" }

// HostTLSPair is a host's TLS material as Terraform writes it to `<env>/cso/tls/<host>`.
type HostTLSPair struct {
	Cert, Key, CA []byte // PEM
	DNSNames      []string
}

// HostTLSRenewer is a HostTLSSource the jump role renews the host certificates in (AWS):
// it reads the root CA and writes a host's new pair as a new version of its secret, in the
// layout Terraform writes, so that the host's agent installs it (OwnTLSTask).
type HostTLSRenewer interface {
	HostTLSSource
	// RootCA reads the root CA's certificate and key. Never cached: the key is held in
	// memory for the run that issues only.
	RootCA(ctx context.Context) (*pki.CA, error)
	// PutHostTLS writes pair as the current version of host's TLS secret.
	PutHostTLS(ctx context.Context, host string, pair HostTLSPair) error
}

// SecretsManagerWriter is the part of the Secrets Manager client that writes a new version
// of an existing secret (the jump role's certificate renewal).
type SecretsManagerWriter interface {
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

var _ HostTLSRenewer = (*AWSSecrets)(nil)

// rootCAFields are the fields of the root CA secret.
var rootCAFields = []string{"certificate", "private_key"}

// RootCA implements HostTLSRenewer: it reads `<env>/cso-pki/root-ca` ({"certificate",
// "private_key"}) and checks that it is env's root CA, its key matches and it has not
// expired. Errors name the secret and the field, never a value.
func (s *AWSSecrets) RootCA(ctx context.Context) (*pki.CA, error) {
	id := RootCASecretID(s.Env)
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("secret %s not found in Secrets Manager: Terraform creates it (terraform/modules/security); run `cso deploy` for environment %s", id, s.Env)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s from Secrets Manager: %w (does the jump role allow secretsmanager:GetSecretValue on it? terraform/modules/security jump_certificate_renewal)", id, err)
	}
	var doc map[string]any
	// The decoder's error may quote a character of the document (the CA key): not passed on.
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil || doc == nil {
		return nil, fmt.Errorf("secret %s in Secrets Manager is not the JSON document Terraform writes (fields %s expected)", id, strings.Join(rootCAFields, ", "))
	}
	vals := make([][]byte, len(rootCAFields))
	for i, f := range rootCAFields {
		v, isString := doc[f].(string)
		switch {
		case doc[f] == nil:
			return nil, fmt.Errorf("secret %s in Secrets Manager: field %q is missing", id, f)
		case !isString:
			return nil, fmt.Errorf("secret %s in Secrets Manager: field %q is not a string", id, f)
		case strings.TrimSpace(v) == "":
			return nil, fmt.Errorf("secret %s in Secrets Manager: field %q is empty", id, f)
		}
		vals[i] = []byte(v)
	}
	ca, err := pki.LoadCA(vals[0], vals[1])
	if err != nil {
		return nil, fmt.Errorf("secret %s in Secrets Manager: %w", id, err)
	}
	if want := pki.CASubject(s.Env).CommonName; ca.Cert.Subject.CommonName != want {
		return nil, fmt.Errorf("secret %s, field certificate: %q is not the root CA %q", id, ca.Cert.Subject.CommonName, want)
	}
	if time.Now().After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("secret %s, field certificate: the root CA expired on %s", id, ca.Cert.NotAfter.Format(time.DateOnly))
	}
	return ca, nil
}

// hostTLSDoc is the JSON document of a host's TLS secret, as Terraform's jsonencode writes
// it (fields in key order).
type hostTLSDoc struct {
	CACertificate string   `json:"ca_certificate"`
	Certificate   string   `json:"certificate"`
	DNSNames      []string `json:"dns_names"`
	PrivateKey    string   `json:"private_key"`
}

// PutHostTLS implements HostTLSRenewer: a new version of `<env>/cso/tls/<host>` (it must
// exist: Terraform creates it), which becomes the current one.
func (s *AWSSecrets) PutHostTLS(ctx context.Context, host string, pair HostTLSPair) error {
	if !secretNameRE.MatchString(host) {
		return fmt.Errorf("host name %q: use lower-case letters, digits and dashes", host)
	}
	id := HostTLSSecretID(s.Env, host)
	w, ok := s.Client.(SecretsManagerWriter)
	if !ok {
		return fmt.Errorf("write secret %s: this Secrets Manager client cannot write", id)
	}
	dns := pair.DNSNames
	if dns == nil {
		dns = []string{}
	}
	b, err := json.Marshal(hostTLSDoc{CACertificate: string(pair.CA), Certificate: string(pair.Cert), DNSNames: dns, PrivateKey: string(pair.Key)})
	if err != nil {
		return err
	}
	if _, err := w.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(string(b))}); err != nil {
		return fmt.Errorf("write secret %s to Secrets Manager: %w (does the jump role allow secretsmanager:PutSecretValue on it? terraform/modules/security jump_certificate_renewal)", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsCache == nil {
		s.tlsCache = map[string]hostTLS{}
	}
	s.tlsCache[host] = hostTLS{cert: pair.Cert, key: pair.Key, ca: pair.CA}
	return nil
}

// RootCA implements HostTLSRenewer: a rendering reads no secret.
func (RenderSecrets) RootCA(context.Context) (*pki.CA, error) {
	return nil, errors.New("rendering: the root CA is not read")
}

// PutHostTLS implements HostTLSRenewer: a rendering writes nothing.
func (RenderSecrets) PutHostTLS(context.Context, string, HostTLSPair) error {
	return errors.New("rendering: no secret is written")
}
