package testprovider

import "strings"

// The cdktf packages do not record which attributes the real providers mark sensitive,
// but Terraform refuses an output that exposes a sensitive value without
// `sensitive = true`, and stacks must be tested against that. The tls and random lists
// are exact (checked against the providers' documentation); for aws a name rule covers
// the secrets the project can touch (passwords, secret strings, keys, tokens).

var exactSensitive = map[string][]string{
	"random_password":         {"result", "bcrypt_hash"},
	"tls_private_key":         {"private_key_pem", "private_key_openssh", "private_key_pem_pkcs8"},
	"tls_self_signed_cert":    {"private_key_pem"},
	"tls_cert_request":        {"private_key_pem"},
	"tls_locally_signed_cert": {"ca_private_key_pem"},
	"data.tls_public_key":     {"private_key_pem", "private_key_openssh"},
	"aws_ssm_parameter":       {"value", "value_wo"},
	"data.aws_ssm_parameter":  {"value"},
}

var awsSensitiveNames = map[string]bool{
	"password": true, "master_password": true, "secret_string": true, "secret_binary": true,
	"secret": true, "ses_smtp_password_v4": true, "private_key": true, "auth_token": true,
	"client_secret": true, "secret_string_wo": true, "password_wo": true, "master_password_wo": true,
}

func sensitiveAWS(name string, t *Type) bool {
	if t.Kind != "string" {
		return false
	}
	if awsSensitiveNames[name] {
		return true
	}
	return strings.HasSuffix(name, "_password") && !strings.HasPrefix(name, "manage_")
}

func markSensitive(ps *ProviderSchema) {
	apply := func(key string, b *Block) {
		for _, n := range exactSensitive[key] {
			if a := b.Attr(n); a != nil {
				a.Sensitive = true
			}
		}
		if ps.Name == "aws" {
			markSensitiveAWS(b)
		}
	}
	for n, b := range ps.Resources {
		apply(n, b)
	}
	for n, b := range ps.DataSources {
		apply("data."+n, b)
	}
	if ps.Name == "aws" {
		markSensitiveAWS(ps.Provider)
	}
}

func markSensitiveAWS(b *Block) {
	for _, a := range b.Attributes {
		if sensitiveAWS(a.Name, a.Type) {
			a.Sensitive = true
		}
	}
	for _, nb := range b.Blocks {
		markSensitiveAWS(nb.Block)
	}
}
