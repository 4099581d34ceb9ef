package apppkg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/pki"
)

// Bindings are what the platform hands every application service so that it can use the
// platform's services: addresses and names as environment variables, secrets and
// certificates as files under a bindings directory, one value per file
// (<root>/<binding>/<key>, as Kubernetes service bindings). The names are a versioned
// contract: docs/application-packages.md. A package's manifest lists the bindings it needs
// (bindings: [mysql, rabbitmq, keystone]); the CA binding is always given.

// Binding names a manifest may list.
const (
	BindingMySQL    = "mysql"
	BindingRabbitMQ = "rabbitmq"
	BindingKeystone = "keystone"
	// BindingCA is always given: the project CA as PEM and as a Java truststore.
	BindingCA = "ca"
)

// KnownBindings are the bindings a manifest may ask for.
var KnownBindings = []string{BindingKeystone, BindingMySQL, BindingRabbitMQ}

// BindingsVersion is the version of the contract (CSO_BINDINGS_VERSION): a service can
// refuse to start on a contract it does not know.
const BindingsVersion = "1"

// The application's accounts on the platform's services (LLD 2.6.2, 3.3): the jump role
// creates the database and its user, the rabbitmq role the vhost and its user.
const (
	PortalDatabase = "cso_portal"
	PortalDBUser   = "cso_user"
	RabbitMQVhost  = "ssp"
	RabbitMQUser   = "ssp_user"
)

// ServiceAccount is the application's own Keystone identity (agent.KeystoneApplicationUser)
// and where its token is scoped.
const (
	KeystoneDomain  = "Default"
	KeystoneProject = "admin"
)

// Bindings is the rendering of the bindings one host's application services receive.
type Bindings struct {
	Root  string            // the bindings directory (SERVICE_BINDING_ROOT)
	Env   []string          // KEY=VALUE, never a secret
	Files map[string][]byte // <binding>/<key> -> content, each written 0600 for the service's user
	// Secrets are the secret values among Files: they must never appear in a command
	// line, a log or a status document (localtest.AssertNoSecretLeak).
	Secrets []string
	// ca is the project CA for the truststore; truststorePW its password.
	ca           []*x509.Certificate
	truststorePW string
}

// TruststoreFile is the Java truststore (PKCS12) of the project CA, relative to the root.
const TruststoreFile = BindingCA + "/truststore.p12"

// truststorePasswordFile holds the truststore's password, relative to the root.
const truststorePasswordFile = BindingCA + "/truststore-password"

// BindingsRoot is where a host's bindings are written: <Data>/cso-app-bindings.
func BindingsRoot(p agent.Paths) string { return filepath.Join(p.Data, "cso-app-bindings") }

// Paths returns the absolute paths of every file of b, the truststore included, sorted:
// the services' configuration files (a change restarts them).
func (b *Bindings) Paths() []string {
	out := []string{filepath.Join(b.Root, filepath.FromSlash(TruststoreFile))}
	for rel := range b.Files {
		out = append(out, filepath.Join(b.Root, filepath.FromSlash(rel)))
	}
	sort.Strings(out)
	return out
}

// Digest is the SHA-256 of every binding file: it changes when a secret or a certificate
// does (rotation, renewal, restore).
func (b *Bindings) Digest() string {
	h := sha256.New()
	keys := make([]string, 0, len(b.Files))
	for k := range b.Files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(b.Files[k]))
		h.Write(b.Files[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// RenderBindings builds the bindings names of rt's host (a dry run generates no secret).
// The truststore's password is the host's own (kept in the bindings directory, generated
// once): a truststore protects nothing secret, its password only its integrity.
func RenderBindings(ctx context.Context, rt *agent.Runtime, names []string) (*Bindings, error) {
	if err := checkBindingNames(names); err != nil {
		return nil, err
	}
	w := &bindingsWriter{b: &Bindings{Root: BindingsRoot(rt.Paths), Files: map[string][]byte{}}}
	caPEM, err := w.loadTruststore(rt)
	if err != nil {
		return nil, err
	}
	w.commonBinding(rt, caPEM)
	for _, n := range names {
		var err error
		switch n {
		case BindingMySQL:
			err = w.mysqlBinding(ctx, rt)
		case BindingRabbitMQ:
			err = w.rabbitmqBinding(ctx, rt)
		case BindingKeystone:
			err = w.keystoneBinding(ctx, rt)
		}
		if err != nil {
			return nil, err
		}
	}
	// Sorted so that the rendering and the services' environment do not depend on the
	// order of the manifest's bindings.
	sort.Strings(w.b.Env)
	return w.b, nil
}

// checkBindingNames refuses a binding the platform does not provide before anything is
// read or generated.
func checkBindingNames(names []string) error {
	for _, n := range names {
		if !slices.Contains(KnownBindings, n) {
			return fmt.Errorf("unknown binding %q (known: %s)", n, strings.Join(KnownBindings, ", "))
		}
	}
	return nil
}

// bindingsWriter fills one Bindings: each binding adds its files and its environment
// through it, so that every secret lands in Secrets.
type bindingsWriter struct{ b *Bindings }

// file is the absolute path of a binding file rel (slash-separated, relative to the root).
func (w *bindingsWriter) file(rel string) string {
	return filepath.Join(w.b.Root, filepath.FromSlash(rel))
}

func (w *bindingsWriter) put(rel, v string) { w.b.Files[rel] = []byte(v) }

// secret puts a file whose value must never leak (see Bindings.Secrets).
func (w *bindingsWriter) secret(rel, v string) {
	w.put(rel, v)
	w.b.Secrets = append(w.b.Secrets, v)
}

func (w *bindingsWriter) env(k, v string) { w.b.Env = append(w.b.Env, k+"="+v) }

// loadTruststore reads the project CA and the host's truststore password (generating it
// the first time), and returns the CA's PEM.
func (w *bindingsWriter) loadTruststore(rt *agent.Runtime) ([]byte, error) {
	b := w.b
	caPEM, err := os.ReadFile(pki.Store{Dir: rt.Paths.SSLCerts}.CACert())
	if err != nil {
		return nil, fmt.Errorf("project CA: %w (the jump server writes it)", err)
	}
	if b.ca, err = parseCerts(caPEM); err != nil {
		return nil, fmt.Errorf("project CA %s: %w", pki.Store{Dir: rt.Paths.SSLCerts}.CACert(), err)
	}
	pw, err := os.ReadFile(w.file(truststorePasswordFile))
	switch {
	case err == nil && len(bytes.TrimSpace(pw)) > 0:
		b.truststorePW = string(bytes.TrimSpace(pw))
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if b.truststorePW, err = agent.GenerateSecret(); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return caPEM, nil
}

// commonBinding is what every service receives whatever its manifest binds: the
// environment's name and the CA binding with its truststore.
func (w *bindingsWriter) commonBinding(rt *agent.Runtime, caPEM []byte) {
	w.env("CSO_BINDINGS_VERSION", BindingsVersion)
	w.env("SERVICE_BINDING_ROOT", w.b.Root)
	w.env("CSO_ENVIRONMENT", rt.Env.Name)
	w.put(BindingCA+"/type", "ca")
	w.put(BindingCA+"/ca.crt", string(caPEM))
	w.secret(truststorePasswordFile, w.b.truststorePW)
	w.env("CSO_CA_FILE", w.file(BindingCA+"/ca.crt"))
	w.env("CSO_TRUSTSTORE", w.file(TruststoreFile))
	w.env("CSO_TRUSTSTORE_TYPE", "PKCS12")
	w.env("CSO_TRUSTSTORE_PASSWORD_FILE", w.file(truststorePasswordFile))
}

// mysqlBinding binds the portal database through the host agent's database server and
// CA bundle.
func (w *bindingsWriter) mysqlBinding(ctx context.Context, rt *agent.Runtime) error {
	if rt.MySQL == "" || rt.MySQLCAFile == "" {
		return errors.New("mysql binding: this host's agent knows no database server or CA bundle")
	}
	host, port, err := net.SplitHostPort(rt.MySQL)
	if err != nil {
		return fmt.Errorf("mysql binding: database %q is not host:port", rt.MySQL)
	}
	ca, err := os.ReadFile(rt.MySQLCAFile)
	if err != nil {
		return fmt.Errorf("mysql binding: CA bundle: %w", err)
	}
	pass, err := secretValue(ctx, rt, agent.SecretPortalDB)
	if err != nil {
		return fmt.Errorf("mysql binding: %w", err)
	}
	w.put("mysql/type", "mysql")
	w.put("mysql/host", host)
	w.put("mysql/port", port)
	w.put("mysql/database", PortalDatabase)
	w.put("mysql/username", PortalDBUser)
	w.put("mysql/ca.crt", string(ca))
	w.secret("mysql/password", pass)
	w.env("CSO_MYSQL_HOST", host)
	w.env("CSO_MYSQL_PORT", port)
	// The LLD's name (a CNAME to the RDS endpoint, 2.7.2); the RDS certificate
	// carries the endpoint's name, which CSO_MYSQL_HOST is, so clients that
	// verify the host name connect to CSO_MYSQL_HOST.
	w.env("CSO_MYSQL_DNS_NAME", rt.Env.FQDN("mysql"))
	w.env("CSO_MYSQL_DATABASE", PortalDatabase)
	w.env("CSO_MYSQL_USER", PortalDBUser)
	w.env("CSO_MYSQL_CA_FILE", w.file("mysql/ca.crt"))
	w.env("CSO_MYSQL_PASSWORD_FILE", w.file("mysql/password"))
	w.env("CSO_MYSQL_JDBC_URL", fmt.Sprintf("jdbc:mariadb://%s/%s?useSsl=true&serverSslCert=%s", net.JoinHostPort(host, port), PortalDatabase, w.file("mysql/ca.crt")))
	return nil
}

// rabbitmqBinding binds the portal's vhost on every RabbitMQ node (AMQPS), so that a
// client fails over between them.
func (w *bindingsWriter) rabbitmqBinding(ctx context.Context, rt *agent.Runtime) error {
	nodes := inventory.ByRole(rt.Hosts, envfile.RoleRabbitMQ)
	if len(nodes) == 0 {
		return errors.New("rabbitmq binding: the environment has no RabbitMQ host")
	}
	addrs := make([]string, len(nodes))
	for i, h := range nodes {
		addrs[i] = net.JoinHostPort(HostAddr(h), strconv.Itoa(h.Ports[inventory.PortAMQPS]))
	}
	pass, err := secretValue(ctx, rt, agent.SecretRabbitMQ)
	if err != nil {
		return fmt.Errorf("rabbitmq binding: %w", err)
	}
	w.put("rabbitmq/type", "rabbitmq")
	w.put("rabbitmq/addresses", strings.Join(addrs, ","))
	w.put("rabbitmq/vhost", RabbitMQVhost)
	w.put("rabbitmq/username", RabbitMQUser)
	w.secret("rabbitmq/password", pass)
	w.env("CSO_RABBITMQ_ADDRESSES", strings.Join(addrs, ","))
	w.env("CSO_RABBITMQ_VHOST", RabbitMQVhost)
	w.env("CSO_RABBITMQ_USER", RabbitMQUser)
	w.env("CSO_RABBITMQ_PASSWORD_FILE", w.file("rabbitmq/password"))
	return nil
}

// keystoneBinding binds the application's own Keystone identity: the identity alias for
// clients that take one URL, every node for those that fail over.
func (w *bindingsWriter) keystoneBinding(ctx context.Context, rt *agent.Runtime) error {
	nodes := inventory.ByRole(rt.Hosts, envfile.RoleKeystone)
	if len(nodes) == 0 {
		return errors.New("keystone binding: the environment has no Keystone host")
	}
	urls := make([]string, len(nodes))
	for i, h := range nodes {
		urls[i] = "https://" + net.JoinHostPort(HostAddr(h), strconv.Itoa(h.Ports[inventory.PortKeystone]))
	}
	// The identity alias of LLD 2.7.2 (in Keystone's certificates); locally, where
	// no DNS serves the zone, the first node.
	base := urls[0]
	if !isLocal(rt.Host) {
		base = "https://" + net.JoinHostPort(rt.Env.FQDN("identity"), strconv.Itoa(nodes[0].Ports[inventory.PortKeystone]))
	}
	pass, err := secretValue(ctx, rt, agent.SecretKeystoneApplication)
	if err != nil {
		return fmt.Errorf("keystone binding: %w", err)
	}
	w.put("keystone/type", "keystone")
	w.put("keystone/url", base+"/v3")
	w.put("keystone/idm-url", base+"/api/idm/v3")
	w.put("keystone/username", agent.KeystoneApplicationUser)
	w.put("keystone/user-domain", KeystoneDomain)
	w.put("keystone/project", KeystoneProject)
	w.put("keystone/project-domain", KeystoneDomain)
	w.secret("keystone/password", pass)
	w.env("CSO_KEYSTONE_URL", base+"/v3")
	w.env("CSO_KEYSTONE_IDM_URL", base+"/api/idm/v3")
	for i := range urls {
		urls[i] += "/v3"
	}
	w.env("CSO_KEYSTONE_URLS", strings.Join(urls, ","))
	w.env("CSO_KEYSTONE_USER", agent.KeystoneApplicationUser)
	w.env("CSO_KEYSTONE_USER_DOMAIN", KeystoneDomain)
	w.env("CSO_KEYSTONE_PROJECT", KeystoneProject)
	w.env("CSO_KEYSTONE_PROJECT_DOMAIN", KeystoneDomain)
	w.env("CSO_KEYSTONE_PASSWORD_FILE", w.file("keystone/password"))
	return nil
}

func isLocal(h inventory.Host) bool {
	ip := net.ParseIP(h.Address)
	return ip != nil && ip.IsLoopback()
}

func parseCerts(pemData []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, pemData = pem.Decode(pemData); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// BindingsUser is the account application services run as when the agent is root: their
// own, so that they alone can read the bindings (not nobody, which other daemons share).
const BindingsUser = "cso-app"

// BindingTasks write b for user (a "" user: the agent's own): the directory 0700, every file
// 0600, and the truststore, made again only when its certificates or password change (its
// encoding is salted: rewriting it each run would restart the services each run).
func BindingTasks(b *Bindings, user string) []agent.Task {
	dirs := map[string]bool{}
	for rel := range b.Files {
		dirs[filepath.Dir(filepath.FromSlash(rel))] = true
	}
	var tasks []agent.Task
	tasks = append(tasks, agent.Dir{Path: b.Root, Mode: 0o700, Owner: user})
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		tasks = append(tasks, agent.Dir{Path: filepath.Join(b.Root, d), Mode: 0o700, Owner: user})
	}
	rels := make([]string, 0, len(b.Files))
	for rel := range b.Files {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		tasks = append(tasks, agent.File{Path: filepath.Join(b.Root, filepath.FromSlash(rel)), Content: b.Files[rel], Mode: 0o600, Owner: user, Secret: true})
	}
	return append(tasks, truststoreTask{b: b, user: user})
}

// truststoreTask keeps the PKCS12 truststore of the project CA.
type truststoreTask struct {
	b    *Bindings
	user string
}

func (t truststoreTask) path() string {
	return filepath.Join(t.b.Root, filepath.FromSlash(TruststoreFile))
}

func (t truststoreTask) Name() string { return "truststore " + t.path() }

func (t truststoreTask) current() bool {
	data, err := os.ReadFile(t.path())
	if err != nil {
		return false
	}
	certs, err := pkcs12.DecodeTrustStore(data, t.b.truststorePW)
	if err != nil || len(certs) != len(t.b.ca) {
		return false
	}
	for i := range certs {
		if !certs[i].Equal(t.b.ca[i]) {
			return false
		}
	}
	st, err := os.Stat(t.path())
	return err == nil && st.Mode().Perm() == 0o600
}

func (t truststoreTask) Check(context.Context, *agent.Runtime) (agent.Change, error) {
	if t.current() {
		return agent.NoChange, nil
	}
	return agent.Change{Needed: true, Summary: "write the PKCS12 truststore of the project CA " + t.path()}, nil
}

func (t truststoreTask) Apply(ctx context.Context, rt *agent.Runtime) error {
	data, err := pkcs12.Modern2023.EncodeTrustStore(t.b.ca, t.b.truststorePW)
	if err != nil {
		return fmt.Errorf("truststore: %w", err)
	}
	return agent.File{Path: t.path(), Content: data, Mode: 0o600, Owner: t.user, Secret: true}.Apply(ctx, rt)
}

// Render implements agent.Renderer.
func (t truststoreTask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.Note("PKCS12 truststore %s of the project CA (password in %s, 0600, owner %s)", t.path(), truststorePasswordFile, t.user)
	return nil
}
