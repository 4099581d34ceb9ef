package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// Amazon Linux 2023 carries neither RabbitMQ nor Erlang. There the role installs both from
// the RabbitMQ team's dnf repositories for el9 (Cloudsmith mirrors), as
// https://www.rabbitmq.com/docs/install-rpm documents for RHEL 9 and Amazon Linux 2023,
// pinned to one RabbitMQ series and the Erlang major version it supports
// (https://www.rabbitmq.com/docs/which-erlang). Moving the pin means changing these two
// constants together (docs/decisions/roles.md).
const (
	// RabbitMQSeries is the RabbitMQ release series installed on Amazon Linux 2023.
	RabbitMQSeries = "4.1"
	// ErlangMajor is the Erlang/OTP major version installed with it (4.1.x: 26.2 to 27.x).
	ErlangMajor = "27"
)

// signingKey is a key the RabbitMQ repositories and packages are signed with: where the
// RabbitMQ team publishes it, and the version of the gpg-pubkey package `rpm --import`
// makes of it (the key ID's last 8 hex digits), by which the import is recognised.
type signingKey struct {
	URL, RPMVersion string
}

const signingKeyBase = "https://github.com/rabbitmq/signing-keys/releases/download/3.0/"

// SigningKeys are the keys install-rpm tells to import: RabbitMQ's release signing key
// (0x0A9AF2115F4687BD29803A206B73A36E6026DFCA) and Cloudsmith's keys of the Erlang and of
// the RabbitMQ server repositories.
var SigningKeys = []signingKey{
	{signingKeyBase + "rabbitmq-release-signing-key.asc", "6026dfca"},
	{signingKeyBase + "cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key", "cc4bbe5b"},
	{signingKeyBase + "cloudsmith.rabbitmq-server.9F4587F226208342.key", "26208342"},
}

// RepoFile is where the repository definition goes, below the host's Etc (/etc on EC2).
func RepoFile(p agent.Paths) string { return filepath.Join(p.Etc, "yum.repos.d", "rabbitmq.repo") }

// RenderRepo returns /etc/yum.repos.d/rabbitmq.repo: the el9 binary repositories of
// https://www.rabbitmq.com/docs/install-rpm (zero-dependency Erlang and RabbitMQ server,
// each for x86_64 and noarch) with signature checks of metadata and packages. The source
// repositories are left out (nothing here builds from source), and so are the file's
// pkg_gpgcheck and autorefresh keys, which dnf does not know (gpgcheck is its package
// check). The mirrors serve x86_64 Erlang only; the hosts are x86_64.
func RenderRepo() []byte {
	erlangKey := signingKeyBase + "cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key"
	serverKey := signingKeyBase + "cloudsmith.rabbitmq-server.9F4587F226208342.key"
	releaseKey := signingKeyBase + "rabbitmq-release-signing-key.asc"
	repos := []struct {
		id, name string
		urls     []string
		keys     []string
	}{
		{"modern-erlang", "modern-erlang-el9", []string{
			"https://yum1.rabbitmq.com/erlang/el/9/$basearch", "https://yum2.rabbitmq.com/erlang/el/9/$basearch"},
			[]string{erlangKey}},
		{"modern-erlang-noarch", "modern-erlang-el9-noarch", []string{
			"https://yum1.rabbitmq.com/erlang/el/9/noarch", "https://yum2.rabbitmq.com/erlang/el/9/noarch"},
			[]string{erlangKey, releaseKey}},
		{"rabbitmq-el9", "rabbitmq-el9", []string{
			"https://yum2.rabbitmq.com/rabbitmq/el/9/$basearch", "https://yum1.rabbitmq.com/rabbitmq/el/9/$basearch"},
			[]string{serverKey, releaseKey}},
		{"rabbitmq-el9-noarch", "rabbitmq-el9-noarch", []string{
			"https://yum2.rabbitmq.com/rabbitmq/el/9/noarch", "https://yum1.rabbitmq.com/rabbitmq/el/9/noarch"},
			[]string{serverKey, releaseKey}},
	}
	var b strings.Builder
	b.WriteString("# Managed by cso agent (role rabbitmq); changes are overwritten.\n")
	b.WriteString("# RabbitMQ and zero-dependency Erlang from the RabbitMQ team's el9 repositories\n")
	b.WriteString("# (https://www.rabbitmq.com/docs/install-rpm, RHEL 9 and Amazon Linux 2023).\n")
	for _, r := range repos {
		fmt.Fprintf(&b, "\n[%s]\nname=%s\n", r.id, r.name)
		fmt.Fprintf(&b, "baseurl=%s\n", strings.Join(r.urls, "\n        "))
		fmt.Fprintf(&b, "gpgkey=%s\n", strings.Join(r.keys, "\n       "))
		b.WriteString("enabled=1\ngpgcheck=1\nrepo_gpgcheck=1\nsslverify=1\nsslcacert=/etc/pki/tls/certs/ca-bundle.crt\n")
		b.WriteString("metadata_expire=300\ntype=rpm-md\n")
	}
	return []byte(b.String())
}

// PackageSpecs are the dnf package specifications of the pinned versions.
func PackageSpecs() []string {
	return []string{"erlang-" + ErlangMajor + ".*", "rabbitmq-server-" + RabbitMQSeries + ".*"}
}

// installTasks install RabbitMQ on rt's platform: on Amazon Linux 2023 the signing keys,
// the repository file and the pinned packages, in that order; elsewhere (Debian) the
// distribution's rabbitmq-server.
func installTasks(rt *agent.Runtime) []agent.Task {
	if !rt.Distro().RabbitMQFromVendor {
		return []agent.Task{rt.Platform.Packages("rabbitmq-server")}
	}
	run := agent.RunnerOf(rt.Platform)
	return []agent.Task{
		signingKeysTask{run: run},
		agent.File{Path: RepoFile(rt.Paths), Content: RenderRepo(), Mode: 0o644},
		pinnedPackagesTask{run: run},
	}
}

// signingKeysTask imports the RabbitMQ signing keys into the RPM database, each once.
type signingKeysTask struct{ run agent.Runner }

func (signingKeysTask) Name() string { return "RabbitMQ signing keys" }

func (s signingKeysTask) missing(ctx context.Context) []signingKey {
	var out []signingKey
	for _, k := range SigningKeys {
		if _, err := s.run.Run(ctx, agent.Command{Args: []string{"rpm", "-q", "--quiet", "gpg-pubkey-" + k.RPMVersion}, Timeout: time.Minute}); err != nil {
			out = append(out, k)
		}
	}
	return out
}

func (s signingKeysTask) Check(ctx context.Context, _ *agent.Runtime) (agent.Change, error) {
	m := s.missing(ctx)
	if len(m) == 0 {
		return agent.NoChange, nil
	}
	var ids []string
	for _, k := range m {
		ids = append(ids, k.RPMVersion)
	}
	return agent.Change{Needed: true, Summary: "import RabbitMQ signing keys " + strings.Join(ids, ", ")}, nil
}

func (s signingKeysTask) Apply(ctx context.Context, _ *agent.Runtime) error {
	for _, k := range s.missing(ctx) {
		if _, err := s.run.Run(ctx, agent.Command{Args: []string{"rpm", "--import", k.URL}, Timeout: 5 * time.Minute}); err != nil {
			return fmt.Errorf("rpm --import %s: %w", k.URL, err)
		}
	}
	// An import that leaves its key unrecognised would repeat on every run: say so.
	if m := s.missing(ctx); len(m) > 0 {
		return fmt.Errorf("imported %s, but rpm lists no gpg-pubkey-%s: the key published there changed; update SigningKeys in internal/roles/rabbitmq/install.go",
			m[0].URL, m[0].RPMVersion)
	}
	return nil
}

// pinnedPackagesTask installs Erlang ErlangMajor.x and RabbitMQ RabbitMQSeries.x. An
// installed version of another series is refused, not replaced: moving RabbitMQ or Erlang
// across series is an upgrade procedure (feature flags, one node at a time), not a
// reinstall.
type pinnedPackagesTask struct{ run agent.Runner }

func (pinnedPackagesTask) Name() string {
	return fmt.Sprintf("packages erlang %s.x rabbitmq-server %s.x", ErlangMajor, RabbitMQSeries)
}

// versions returns the installed version of each package ("" when it is not installed).
func (p pinnedPackagesTask) versions(ctx context.Context) (erlang, server string) {
	get := func(name string) string {
		out, err := p.run.Run(ctx, agent.Command{Args: []string{"rpm", "-q", "--queryformat", "%{VERSION}", name}, Timeout: time.Minute})
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	return get("erlang"), get("rabbitmq-server")
}

func (p pinnedPackagesTask) Check(ctx context.Context, _ *agent.Runtime) (agent.Change, error) {
	erlang, server := p.versions(ctx)
	var missing []string
	for _, v := range []struct{ name, have, series string }{
		{"erlang", erlang, ErlangMajor}, {"rabbitmq-server", server, RabbitMQSeries},
	} {
		switch {
		case v.have == "":
			missing = append(missing, v.name)
		case !strings.HasPrefix(v.have, v.series+"."):
			return agent.Change{}, fmt.Errorf("%s %s is installed, but this agent pins %s.x (internal/roles/rabbitmq/install.go): "+
				"change the pin or move the host to %s.x by the RabbitMQ upgrade procedure", v.name, v.have, v.series, v.series)
		}
	}
	if len(missing) == 0 {
		return agent.NoChange, nil
	}
	return agent.Change{Needed: true, Summary: "install " + strings.Join(PackageSpecs(), " ") + " (missing: " + strings.Join(missing, ", ") + ")"}, nil
}

func (p pinnedPackagesTask) Apply(ctx context.Context, _ *agent.Runtime) error {
	_, err := p.run.Run(ctx, agent.Command{Args: agent.DNFInstallCommand(PackageSpecs()), Timeout: 30 * time.Minute})
	if err != nil {
		return fmt.Errorf("dnf install %s: %w", strings.Join(PackageSpecs(), " "), err)
	}
	return nil
}

// The node's account. The rabbitmq-server package creates user rabbitmq, but only once it
// is installed, which is after the steps are planned: so the owner is decided without
// looking (rabbitmq whenever the agent is root) and the "user" step, right after the
// packages, makes sure the account exists before anything is chowned to it.
const ServiceUser = "rabbitmq"

// geteuid and lookupUser are replaced by tests.
var (
	geteuid    = os.Geteuid
	lookupUser = func(name string) error { _, err := user.Lookup(name); return err }
)

// runUser is the account the node runs as and owns its files: rabbitmq when the agent is
// root, else the agent's own user (""), which cannot switch users.
func runUser() string {
	if geteuid() != 0 {
		return ""
	}
	return ServiceUser
}
