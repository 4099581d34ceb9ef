package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Rendering is what a role would apply to a fresh host: its files (with mode and owner),
// packages and commands, in the order they would be applied. Render fills it without
// looking at the machine it runs on, without running anything, and without any AWS call:
// it walks the role's tasks instead of checking and applying them.
type Rendering struct {
	mu       sync.Mutex
	Files    []RenderedFile // in the order they would be written; a later write of a path replaces it
	Packages []string       // in the order they would be installed, each once
	// Commands are shell lines in the order they would run; lines starting with "#" say
	// which step follows, or what could not be rendered without a live host.
	Commands []string
	// NotRendered names the tasks that need a live host to decide what they do.
	NotRendered []string
}

// RenderedFile is one file or directory of a rendering.
type RenderedFile struct {
	Path    string // the absolute path on the host
	Content []byte
	Mode    fs.FileMode
	Owner   string // "" = root
	Group   string // "" = the owner's primary group
	Dir     bool
}

// Renderer is implemented by tasks that can say what they would apply to a fresh host
// without looking at one. Render must have no side effects outside r.
type Renderer interface {
	Render(ctx context.Context, rt *Runtime, r *Rendering) error
}

// ErrNeedsLiveHost is returned (wrapped with the reason) by a Render that cannot say what
// it would do without a live host; the rendering then names the task instead.
var ErrNeedsLiveHost = errors.New("needs a live host")

// escapedPlaceholderRE is a secret placeholder as a role URL-escapes it (a password in a
// connection URL): shown as the plain placeholder, so the reader sees which secret goes there.
var escapedPlaceholderRE = regexp.MustCompile(`%3Csecret%3A([a-z0-9/_.-]+)%3E`)

// AddFile records f.
func (r *Rendering) AddFile(f File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	content := escapedPlaceholderRE.ReplaceAll(f.Content, []byte("<secret:$1>"))
	r.Files = append(r.Files, RenderedFile{Path: f.Path, Content: content, Mode: f.mode(), Owner: f.Owner, Group: f.Group})
}

// AddDir records a directory.
func (r *Rendering) AddDir(d Dir) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Files = append(r.Files, RenderedFile{Path: d.Path, Mode: d.mode(), Owner: d.Owner, Group: d.Group, Dir: true})
}

// AddMkdirAll records a directory that os.MkdirAll(path, 0o755) would create: nothing when
// the rendering already has the path (an existing directory keeps its mode and owner).
func (r *Rendering) AddMkdirAll(path string) {
	r.mu.Lock()
	for _, f := range r.Files {
		if f.Path == path {
			r.mu.Unlock()
			return
		}
	}
	r.mu.Unlock()
	r.AddDir(Dir{Path: path})
}

// AddPackages records packages and the command that installs them.
func (r *Rendering) AddPackages(install []string, names ...string) {
	r.mu.Lock()
	for _, n := range names {
		if !contains(r.Packages, n) {
			r.Packages = append(r.Packages, n)
		}
	}
	r.mu.Unlock()
	r.AddCommand(Command{Args: install})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AddCommand records c as one shell line: its user, directory and environment as the agent
// would give them. Secret environment values are shown only when they are placeholders
// (<secret:NAME>), standard input only by its size.
func (r *Rendering) AddCommand(c Command) {
	var b strings.Builder
	if c.User != "" {
		fmt.Fprintf(&b, "runuser -u %s -- ", ShellQuote(c.User))
	}
	if c.Dir != "" {
		fmt.Fprintf(&b, "env --chdir=%s ", ShellQuote(c.Dir))
	}
	for _, e := range c.Env {
		b.WriteString(ShellQuote(e) + " ")
	}
	for _, e := range c.SecretEnv {
		k, v, _ := strings.Cut(e, "=")
		if !strings.HasPrefix(v, "<secret:") {
			v = "<secret>"
		}
		fmt.Fprintf(&b, "%s=%s ", k, v)
	}
	b.WriteString(ShellCommand(c.Args))
	if c.Stdin != nil {
		fmt.Fprintf(&b, " <<< '<%d bytes of input>'", len(c.Stdin))
	}
	r.addLine(b.String())
}

// AddShell records a shell line as written (for guarded commands such as "id -u x || useradd").
func (r *Rendering) AddShell(line string) { r.addLine(line) }

// Note records a comment line.
func (r *Rendering) Note(format string, args ...any) {
	r.addLine("# " + fmt.Sprintf(format, args...))
}

func (r *Rendering) addLine(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Commands = append(r.Commands, s)
}

// ShellCommand quotes args for a POSIX shell.
func ShellCommand(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// ShellQuote quotes one word for a POSIX shell (only when it needs it).
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Render walks role's steps for rt.Host as a fresh host would get them: every file, package
// and command, in order. Nothing is checked against or applied to this machine; waits on
// peers and readiness probes are named, not run. A task that cannot be rendered is named
// in the rendering's commands and NotRendered rather than left out.
func Render(ctx context.Context, rt *Runtime, role Role) (*Rendering, error) {
	steps, err := role.Steps(rt)
	if err != nil {
		return nil, fmt.Errorf("%s: plan role %s: %w", rt.Host.Name, role.Role(), err)
	}
	r := &Rendering{}
	for i, s := range steps {
		r.Note("step %d/%d %s", i+1, len(steps), s.Name)
		for _, t := range s.Tasks {
			if err := renderTask(ctx, rt, r, t); err != nil {
				return nil, fmt.Errorf("%s: step %s: %s: %w", rt.Host.Name, s.Name, t.Name(), err)
			}
		}
	}
	return r, nil
}

func renderTask(ctx context.Context, rt *Runtime, r *Rendering, t Task) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	switch t := t.(type) {
	case File:
		r.AddFile(t)
	case Dir:
		r.AddDir(t)
	case MkdirAll:
		for _, p := range t.Paths {
			r.AddDir(Dir{Path: p})
		}
	case Parallel:
		for _, c := range t.Tasks {
			if err := renderTask(ctx, rt, r, c); err != nil {
				return err
			}
		}
	case Sequence:
		for _, c := range t.Tasks {
			if err := renderTask(ctx, rt, r, c); err != nil {
				return err
			}
		}
	case Renderer:
		err = t.Render(ctx, rt, r)
	default:
		err = fmt.Errorf("%w: what it does depends on what it finds there", ErrNeedsLiveHost)
	}
	if errors.Is(err, ErrNeedsLiveHost) {
		r.Note("NOT RENDERED: %s: %v", t.Name(), err)
		r.mu.Lock()
		r.NotRendered = append(r.NotRendered, t.Name()+": "+err.Error())
		r.mu.Unlock()
		return nil
	}
	return err
}

// Render implements Renderer: RenderFunc when the task has one, else the task is named as
// needing a live host.
func (t FuncTask) Render(ctx context.Context, rt *Runtime, r *Rendering) error {
	if t.RenderFunc == nil {
		return fmt.Errorf("%w: what it does depends on what it finds there", ErrNeedsLiveHost)
	}
	return t.RenderFunc(ctx, rt, r)
}

// Render implements Renderer: on a fresh host the package that owns the account usually
// created it already, hence the guard.
func (u SystemUser) Render(_ context.Context, _ *Runtime, r *Rendering) error {
	r.AddShell(fmt.Sprintf("id -u %s >/dev/null 2>&1 || %s", ShellQuote(u.User), ShellCommand(UserAddCommand(u.User, u.Home, u.Comment))))
	return nil
}

// NoteWait records a bounded wait that a live run would do (a readiness probe, a peer).
func (r *Rendering) NoteWait(what string, timeout time.Duration) {
	r.Note("then wait (at most %s) for %s: not rendered, it probes a live host", timeout, what)
}

// Manifest returns the final state of every rendered path, sorted by path: a later write
// of a path replaces the earlier one.
func (r *Rendering) Manifest() []RenderedFile {
	last := map[string]RenderedFile{}
	for _, f := range r.Files {
		last[f.Path] = f
	}
	out := make([]RenderedFile, 0, len(last))
	for _, f := range last {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// WriteManifest writes one line per path: path (directories end in "/"), mode, owner:group.
func (r *Rendering) WriteManifest(w io.Writer) error {
	for _, f := range r.Manifest() {
		p := f.Path
		if f.Dir {
			p += "/"
		}
		owner, group := f.Owner, f.Group
		if owner == "" {
			owner = "root"
		}
		if group == "" {
			group = owner
		}
		if _, err := fmt.Fprintf(w, "%s %04o %s:%s\n", p, f.Mode.Perm(), owner, group); err != nil {
			return err
		}
	}
	return nil
}

// RenderSecrets stands in for the secret store in a rendering: every secret is a
// placeholder naming it, so rendered files show where a secret goes and never hold one.
type RenderSecrets struct {
	// MasterSecretID stands in for the ARN of the RDS master user secret that the jump
	// server's user data passes (a Terraform output, not known to a rendering); "" on
	// other hosts.
	MasterSecretID string
}

// MasterSecret names the RDS master user secret as the jump server's agent gets it.
func (s RenderSecrets) MasterSecret() string { return s.MasterSecretID }

// RenderedMasterSecretARN is the jump server's RenderSecrets.MasterSecretID.
const RenderedMasterSecretARN = "<database_master_secret_arn>"

// SecretPlaceholder is the rendered stand-in of the secret name.
func SecretPlaceholder(name string) string { return "<secret:" + name + ">" }

// Get implements Secrets.
func (RenderSecrets) Get(_ context.Context, name string) (string, error) {
	return SecretPlaceholder(name), nil
}

// Lookup implements SecretLookup.
func (RenderSecrets) Lookup(_ context.Context, name string) (string, bool, error) {
	return SecretPlaceholder(name), true, nil
}

// HostTLS implements HostTLSSource, as Secrets Manager does on EC2 (so the jump role renders
// its AWS path, where Terraform is the CA): the PEMs are placeholders, which no rendered
// step parses.
func (RenderSecrets) HostTLS(_ context.Context, host string) (cert, key, ca []byte, ok bool, err error) {
	return []byte(SecretPlaceholder("tls/"+host+"/certificate") + "\n"), []byte(SecretPlaceholder("tls/"+host+"/private_key") + "\n"),
		[]byte(SecretPlaceholder("tls/"+host+"/ca_certificate") + "\n"), true, nil
}

// FreshHostRunner is the command runner of a rendering: it runs nothing, records what it was
// asked, and answers as a fresh host would (nothing installed, no unit active): every
// command fails. The walk of Render does not call it; it is there so that a role that
// queries its platform while planning gets a fresh host's answers instead of this machine's.
type FreshHostRunner struct {
	mu    sync.Mutex
	Asked []string
}

// Run implements Runner.
func (f *FreshHostRunner) Run(_ context.Context, c Command) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Asked = append(f.Asked, ShellCommand(c.Args))
	return nil, fmt.Errorf("%s: not run (rendering a fresh host)", ShellCommand(c.Args))
}

// NoBucket is the bucket of a rendering: there is none, every access fails.
type NoBucket struct{}

func (NoBucket) List(context.Context, string) ([]Object, error) {
	return nil, errors.New("rendering: no bucket access")
}
func (NoBucket) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("rendering: no bucket access")
}
func (NoBucket) Describe() string { return "s3://<environment bucket>" }
