package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/cso-ssp/platform/internal/agent"
)

// CopyFile installs a copy of Src (read when checked, so it may appear during the run) at
// Dst with Mode and Owner: services that run as their own user get their own copy of a key
// the shared store keeps for root.
type CopyFile struct {
	Src, Dst string
	Mode     fs.FileMode
	Owner    string
	Secret   bool
}

func (c CopyFile) Name() string { return "copy " + c.Src + " to " + c.Dst }

func (c CopyFile) file() (agent.File, error) {
	data, err := os.ReadFile(c.Src)
	if err != nil {
		return agent.File{}, err
	}
	return agent.File{Path: c.Dst, Content: data, Mode: c.Mode, Owner: c.Owner, Secret: c.Secret}, nil
}

func (c CopyFile) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	f, err := c.file()
	if errors.Is(err, fs.ErrNotExist) && rt.DryRun {
		return agent.Change{Needed: true, Summary: fmt.Sprintf("copy %s to %s (source not there yet)", c.Src, c.Dst)}, nil
	}
	if err != nil {
		return agent.Change{}, err
	}
	return f.Check(ctx, rt)
}

func (c CopyFile) Apply(ctx context.Context, rt *agent.Runtime) error {
	f, err := c.file()
	if err != nil {
		return err
	}
	return f.Apply(ctx, rt)
}

// SecretFile writes a secret of rt.Secrets to Path (0400 or as Mode says). The secret is
// fetched when the task runs, and never printed.
type SecretFile struct {
	Path   string
	Secret string // secret name, e.g. agent.SecretErlangCookie
	Mode   fs.FileMode
	Owner  string
}

func (s SecretFile) Name() string { return "secret file " + s.Path }

func (s SecretFile) file(ctx context.Context, rt *agent.Runtime) (agent.File, error) {
	v, ok, err := rt.Secret(ctx, s.Secret)
	if err != nil {
		return agent.File{}, fmt.Errorf("secret %s: %w", s.Secret, err)
	}
	if !ok {
		return agent.File{}, errNoSecret
	}
	mode := s.Mode
	if mode == 0 {
		mode = 0o400
	}
	return agent.File{Path: s.Path, Content: []byte(v), Mode: mode, Owner: s.Owner, Secret: true}, nil
}

func (s SecretFile) Check(ctx context.Context, rt *agent.Runtime) (agent.Change, error) {
	f, err := s.file(ctx, rt)
	if errors.Is(err, errNoSecret) {
		return agent.Change{Needed: true, Summary: "generate secret " + s.Secret + " and write it to " + s.Path}, nil
	}
	if err != nil {
		return agent.Change{}, err
	}
	c, err := f.Check(ctx, rt)
	if c.Needed {
		c.Summary = "write secret " + s.Secret + " to " + s.Path
	}
	return c, err
}

func (s SecretFile) Apply(ctx context.Context, rt *agent.Runtime) error {
	f, err := s.file(ctx, rt)
	if err != nil {
		return err
	}
	return f.Apply(ctx, rt)
}

// Reachable checks that User can traverse every directory above Path: a daemon that drops
// to its own user cannot use a tree below a 0700 directory such as /root. It changes
// nothing; its check fails with what to do.
type Reachable struct {
	Path string
	User string
}

func (r Reachable) Name() string { return "user " + r.User + " reaches " + r.Path }

func (r Reachable) Check(_ context.Context, rt *agent.Runtime) (agent.Change, error) {
	if r.User == "" {
		return agent.NoChange, nil
	}
	uid, gid, err := agent.LookupIDs(r.User, "")
	if err != nil && rt != nil && rt.DryRun {
		// A dry run on a fresh host: the package that creates the user is not installed.
		return agent.Change{Needed: true, Summary: fmt.Sprintf("check that user %s reaches %s once the user exists", r.User, r.Path)}, nil
	}
	if err != nil {
		return agent.Change{}, fmt.Errorf("%s: user %s: %w", r.Name(), r.User, err)
	}
	for dir := filepath.Dir(filepath.Clean(r.Path)); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err == nil {
			mode := st.Mode().Perm()
			ok := mode&0o001 != 0
			if s, isUnix := st.Sys().(*syscall.Stat_t); isUnix {
				ok = ok || (int(s.Uid) == uid && mode&0o100 != 0) || (int(s.Gid) == gid && mode&0o010 != 0)
			}
			if !ok {
				return agent.Change{}, fmt.Errorf("%s runs as user %s, which cannot enter %s (mode %o): "+
					"put the tree elsewhere (e.g. `cso local up --dir` outside %s) or make %s traversable (chmod o+x)", r.Path, r.User, dir, mode, dir, dir)
			}
		}
		if dir == "/" || dir == "." {
			return agent.NoChange, nil
		}
	}
}

// Apply changes nothing: it repeats the check, which Check may have deferred in a dry run.
func (r Reachable) Apply(ctx context.Context, rt *agent.Runtime) error {
	_, err := r.Check(ctx, nil)
	return err
}

// errNoSecret: a dry run found that a secret is not generated yet.
var errNoSecret = errors.New("secret not generated yet")
