package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Parallel is a task whose children are independent: Check asks each child, Apply makes the
// needed changes side by side (keystone db_sync next to the Apache start, for example).
type Parallel struct {
	TaskName string
	Tasks    []Task
}

func (p Parallel) Name() string { return p.TaskName }

func (p Parallel) Check(ctx context.Context, rt *Runtime) (Change, error) {
	return checkAll(ctx, rt, p.Tasks)
}

func (p Parallel) Apply(ctx context.Context, rt *Runtime) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(p.Tasks))
	var wg sync.WaitGroup
	for i, t := range p.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := applyIfNeeded(ctx, rt, t); err != nil {
				errs[i] = err
				cancel() // a failed sibling makes the rest pointless; stop waiting on them
			}
		}()
	}
	wg.Wait()
	return firstRealError(errs)
}

// Sequence is a task whose children depend on each other: each is checked right before it
// is applied, so a later child sees what an earlier one changed.
type Sequence struct {
	TaskName string
	Tasks    []Task
}

func (s Sequence) Name() string { return s.TaskName }

func (s Sequence) Check(ctx context.Context, rt *Runtime) (Change, error) {
	return checkAll(ctx, rt, s.Tasks)
}

func (s Sequence) Apply(ctx context.Context, rt *Runtime) error {
	for _, t := range s.Tasks {
		if err := applyIfNeeded(ctx, rt, t); err != nil {
			return err
		}
	}
	return nil
}

func checkAll(ctx context.Context, rt *Runtime, tasks []Task) (Change, error) {
	var sums []string
	for _, t := range tasks {
		c, err := t.Check(ctx, rt)
		if err != nil {
			return Change{}, fmt.Errorf("%s: check: %w", t.Name(), err)
		}
		if c.Needed {
			s := c.Summary
			if s == "" {
				s = t.Name()
			}
			sums = append(sums, s)
		}
	}
	if len(sums) == 0 {
		return NoChange, nil
	}
	return Change{Needed: true, Summary: strings.Join(sums, "; ")}, nil
}

func applyIfNeeded(ctx context.Context, rt *Runtime, t Task) error {
	c, err := t.Check(ctx, rt)
	if err != nil {
		return fmt.Errorf("%s: check: %w", t.Name(), err)
	}
	if !c.Needed {
		return nil
	}
	if err := t.Apply(ctx, rt); err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	return nil
}

// firstRealError prefers a task's own error over the cancellations it caused in siblings.
func firstRealError(errs []error) error {
	var canceled error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, context.Canceled) {
			if canceled == nil {
				canceled = err
			}
			continue
		}
		return err
	}
	return canceled
}

// PermanentError ends a WaitFor at once: waiting longer cannot help (the process died).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// WaitFor polls probe until it returns nil, for at most timeout, and writes a progress line
// about every five seconds so that a long wait is visible. The error says what was awaited,
// for how long, and the probe's last answer.
func WaitFor(ctx context.Context, rt *Runtime, what string, timeout time.Duration, probe func(ctx context.Context) error) error {
	start := time.Now()
	deadline := start.Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	interval := 50 * time.Millisecond
	lastReport := start
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		last = probe(pctx)
		pcancel()
		var perm *PermanentError
		if errors.As(last, &perm) {
			return fmt.Errorf("%s: %w", what, perm.Err)
		}
		if last == nil {
			if time.Since(start) > time.Second && rt != nil {
				rt.progressf("  %s: ready after %s", what, time.Since(start).Round(100*time.Millisecond))
			}
			return nil
		}
		if rt != nil && time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			rt.progressf("  waiting for %s (%s of %s): %v", what, time.Since(start).Round(time.Second), timeout, last)
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
				return parent
			}
			return fmt.Errorf("gave up waiting for %s after %s: %w", what, timeout, last)
		case <-time.After(interval):
		}
		if interval < time.Second {
			interval = interval * 3 / 2
		}
	}
}

// Command is one external command run by a task. Secrets go in SecretEnv or Stdin, never
// in Args (argument lists are visible to every user through ps).
type Command struct {
	Args      []string
	Env       []string // KEY=VALUE added to a minimal environment
	SecretEnv []string
	Stdin     []byte
	User      string // run as this user ("" = the agent's user)
	Dir       string
	Timeout   time.Duration // default 5 minutes
}

// BaseEnv is the environment every command and daemon starts from. PATH is fixed so that
// Debian's tools find /usr/bin/python3 and not another python3 earlier on an operator's PATH.
func BaseEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}
}

// Run runs c and returns its combined output. The error names the command (without
// environment or input) and carries the last lines of its output.
func (c Command) Run(ctx context.Context) ([]byte, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("empty command")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(append(BaseEnv(), c.Env...), c.SecretEnv...)
	cmd.Dir = c.Dir
	attr, err := procAttr(false, c.User)
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		return out.Bytes(), fmt.Errorf("%s: %w%s", strings.Join(c.Args, " "), err, tail(out.Bytes(), 15))
	}
	return out.Bytes(), nil
}

// tail returns the last n lines of out, indented, for error messages.
func tail(out []byte, n int) string {
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

// LookupIDs returns the numeric uid and gid of a user and group name (group "" = the
// user's primary group).
func LookupIDs(owner, group string) (uid, gid int, err error) { return lookupOwner(owner, group) }
