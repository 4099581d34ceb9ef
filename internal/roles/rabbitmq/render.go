package rabbitmq

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
)

// What the install and file tasks would apply to a fresh Amazon Linux host
// (cso agent --render; agent.Renderer). Tasks that ask the running cluster stay unrendered.

func (signingKeysTask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	for _, k := range SigningKeys {
		r.AddShell(fmt.Sprintf("rpm -q --quiet gpg-pubkey-%s || rpm --import %s", k.RPMVersion, agent.ShellQuote(k.URL)))
	}
	return nil
}

func (pinnedPackagesTask) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.AddPackages(agent.DNFInstallCommand(PackageSpecs()), PackageSpecs()...)
	return nil
}

// Render records the copy with its mode and owner; its content is another host's material.
func (c CopyFile) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.AddFile(agent.File{Path: c.Dst, Content: []byte("<copied at run time from " + c.Src + ">\n"), Mode: c.Mode, Owner: c.Owner})
	return nil
}

func (s SecretFile) Render(ctx context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	f, err := s.file(ctx, rt)
	if err != nil {
		return err
	}
	r.AddFile(f)
	return nil
}

func (d DefinitionsFile) Render(ctx context.Context, rt *agent.Runtime, r *agent.Rendering) error {
	pass, err := rt.Secrets.Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return err
	}
	doc, err := wantedDefinitions(pass)
	if err != nil {
		return err
	}
	// The hash is salted at random: the rendering names what it hashes instead.
	doc = passwordHashRE.ReplaceAll(doc, []byte(`"password_hash":"<salted SHA-256 of `+agent.SecretPlaceholder(agent.SecretRabbitMQ)+`>"`))
	r.AddFile(agent.File{Path: d.Path, Content: doc, Mode: 0o600, Owner: d.Owner, Secret: true})
	return nil
}

var passwordHashRE = regexp.MustCompile(`"password_hash":"[^"]*"`)

func (c Reachable) Render(_ context.Context, _ *agent.Runtime, r *agent.Rendering) error {
	r.Note("check that user %s can enter every directory above %s (changes nothing)", c.User, c.Path)
	return nil
}

// ctlCommand is the rabbitmqctl call Ctl makes against node n, for a rendering.
func ctlCommand(n Node, stdin []byte, args ...string) agent.Command {
	full := []string{CtlBin, "-n", n.Name}
	if n.LongName {
		full = append(full, "--longnames")
	}
	return agent.Command{Args: append(full, args...), Env: n.Env(), Dir: n.Home, Stdin: stdin}
}

// renderImport renders the import of the definitions (the document of DefinitionsFile,
// given on standard input) and the wait until the node reports it.
func renderImport(ctx context.Context, rt *agent.Runtime, r *agent.Rendering, n Node) error {
	pass, err := rt.Secrets.Get(ctx, agent.SecretRabbitMQ)
	if err != nil {
		return err
	}
	doc, err := wantedDefinitions(pass)
	if err != nil {
		return err
	}
	r.Note("the input is the definitions document: vhost %s, user %s with the salted hash of %s, its permissions on %s", VHost, User, agent.SecretPlaceholder(agent.SecretRabbitMQ), VHost)
	r.AddCommand(ctlCommand(n, doc, "import_definitions", "--format", "json"))
	r.NoteWait("node "+n.Name+" to report the imported definitions", time.Minute)
	return nil
}
