package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Supervisor runs daemons without systemd (the local target). Each service is started
// detached in its own session with stdout and stderr appended to <LogDir>/<name>.log; its
// pid, process start time and configuration hash are kept in <RunDir>/supervise/<name>.json.
// A service is restarted when it does not run or its configuration changed; stopping is
// StopCommand or SIGTERM to its process group, then SIGKILL after a bounded wait.
type Supervisor struct {
	RunDir string
	LogDir string
}

// ServiceState is what the supervisor records about a service it started. It never holds
// SecretEnv (only its share in the hash).
type ServiceState struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"` // /proc/<pid>/stat starttime: tells a reused pid apart
	Hash       string `json:"hash"`
	// ReloadHash is ReloadHash(spec) when the daemon last (re)loaded its ReloadFiles.
	ReloadHash  string    `json:"reload_hash,omitempty"`
	Command     []string  `json:"command"`
	Env         []string  `json:"env,omitempty"`
	StopCommand []string  `json:"stop_command,omitempty"`
	StopTimeout Duration  `json:"stop_timeout"`
	Log         string    `json:"log"`
	StartedAt   time.Time `json:"started_at"`
	// What a restart after a crash needs besides Command and Env (Revive); SecretEnv, when
	// there is one, is kept apart in a 0600 file (secretEnvFile), as systemd keeps it in
	// a 0600 EnvironmentFile.
	User        string       `json:"user,omitempty"`
	Dir         string       `json:"dir,omitempty"`
	RuntimeDirs []RuntimeDir `json:"runtime_dirs,omitempty"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// ReadyProbeTimeout bounds the one readiness probe of a running service during Check.
const ReadyProbeTimeout = 5 * time.Second

var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,100}$`)

// children remembers the processes this process started, so that they are reaped (a dead
// daemon must not linger as a zombie that still looks alive), an early exit is seen at once
// while waiting for readiness, and the crash watcher learns how a daemon it started ended.
var children sync.Map // pid -> *child

// child is a process started by this process.
type child struct {
	done  chan struct{} // closed on exit, after state is set
	state *os.ProcessState
}

// ExitOf returns how pid ended when this process started it. A child that died is a
// zombie until its Wait returns, and /proc already shows it gone: wait up to a moment.
func ExitOf(pid int) (*os.ProcessState, bool) {
	v, ok := children.Load(pid)
	if !ok {
		return nil, false
	}
	c := v.(*child)
	select {
	case <-c.done:
		return c.state, c.state != nil
	case <-time.After(2 * time.Second):
		return nil, false
	}
}

func (s Supervisor) pidFile(name string) string {
	return filepath.Join(s.RunDir, "supervise", name+".pid")
}

func (s Supervisor) stateFile(name string) string {
	return filepath.Join(s.RunDir, "supervise", name+".json")
}

// State returns the recorded state of name, or fs.ErrNotExist.
func (s Supervisor) State(name string) (ServiceState, error) {
	var st ServiceState
	data, err := os.ReadFile(s.stateFile(name))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w (remove the file if the service is not running)", s.stateFile(name), err)
	}
	return st, nil
}

// Services lists the names of the services with a recorded state.
func (s Supervisor) Services() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.RunDir, "supervise"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Running reports whether the recorded process of name is alive (and is the one we started).
func (s Supervisor) Running(name string) (bool, ServiceState, error) {
	st, err := s.State(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, st, nil
	}
	if err != nil {
		return false, st, err
	}
	return alive(st.PID, st.StartTicks), st, nil
}

// Hash is the identity of a service's configuration: command, environment, user, working
// directory and the content of its configuration files (restartFiles: not the ReloadFiles
// of a service that reloads gracefully, which ReloadHash covers).
func Hash(spec ServiceSpec) string {
	h := sha256.New()
	fmt.Fprintf(h, "cmd\x00%q\x00env\x00%q\x00secret\x00%q\x00user\x00%s\x00dir\x00%s\x00", spec.Command, spec.Env, spec.SecretEnv, spec.User, spec.Dir)
	// Only when there are some, so that the hash of a service without any stays the same.
	for _, d := range spec.RuntimeDirs {
		fmt.Fprintf(h, "rundir\x00%s\x00%s\x00%s\x00%o\x00", d.Path, d.Owner, d.Group, d.mode())
	}
	hashFiles(h, spec.restartFiles())
	if !spec.Reload.IsZero() {
		fmt.Fprintf(h, "reload\x00%s\x00%q\x00", spec.Reload.Signal, spec.Reload.Command)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ReloadHash is the identity of the files a service re-reads on a graceful reload; "" when
// it has none (or no Reload: they are in Hash then).
func ReloadHash(spec ServiceSpec) string {
	if spec.Reload.IsZero() || len(spec.ReloadFiles) == 0 {
		return ""
	}
	h := sha256.New()
	hashFiles(h, spec.ReloadFiles)
	return hex.EncodeToString(h.Sum(nil))
}

func hashFiles(h io.Writer, files []string) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(h, "file\x00%s\x00missing\x00", f)
			continue
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "file\x00%s\x00%x\x00", f, sum)
	}
}

// Check says whether spec must be started or restarted.
func (s Supervisor) Check(spec ServiceSpec) (Change, error) {
	if !serviceNameRE.MatchString(spec.Name) {
		return Change{}, fmt.Errorf("service name %q: use letters, digits, '.', '_', '-'", spec.Name)
	}
	running, st, err := s.Running(spec.Name)
	if err != nil {
		return Change{}, err
	}
	if !running {
		return Change{Needed: true, Summary: "start service " + spec.Name}, nil
	}
	if st.Hash != Hash(spec) {
		return Change{Needed: true, Summary: "restart service " + spec.Name + " (configuration changed)"}, nil
	}
	// Running is not enough: a daemon that runs but does not answer is restarted.
	if spec.Ready != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ReadyProbeTimeout)
		defer cancel()
		if err := spec.Ready(ctx); err != nil {
			return Change{Needed: true, Summary: fmt.Sprintf("restart service %s (running but not ready: %v)", spec.Name, err)}, nil
		}
	}
	if st.ReloadHash != ReloadHash(spec) {
		return Change{Needed: true, Summary: "reload service " + spec.Name + " gracefully (certificate changed)"}, nil
	}
	return NoChange, nil
}

// Ensure (re)starts spec when Check says so and waits for it to be ready; a service whose
// only change is in its ReloadFiles is reloaded gracefully instead. It holds the service's
// lock throughout, so that the crash watcher does not start it at the same time.
func (s Supervisor) Ensure(ctx context.Context, rt *Runtime, spec ServiceSpec) error {
	c, err := s.Check(spec)
	if err != nil || !c.Needed {
		return err
	}
	unlock, err := s.lock(ctx, spec.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if running, st, err := s.Running(spec.Name); err == nil && running && st.Hash == Hash(spec) && st.ReloadHash != ReloadHash(spec) {
		err := s.reload(ctx, rt, spec, st)
		if err == nil || ctx.Err() != nil {
			return err
		}
		// A reload that fails leaves the daemon on its old files: restart it instead, so
		// that the host converges (the restart is what happened before reloads existed).
		if rt != nil {
			rt.Progressf("  %v; restarting %s instead", err, spec.Name)
		}
	}
	if err := s.stopLocked(ctx, spec.Name); err != nil {
		return err
	}
	return s.Start(ctx, rt, spec)
}

// ReloadCommandTimeout bounds a Reload.Command: rabbitmqctl starts an Erlang VM, which
// took 35 s on a loaded two-core machine.
const ReloadCommandTimeout = 3 * time.Minute

// ReloadAttempts and ReloadRetryDelay bound the tries of a Reload.Command.
const (
	ReloadAttempts   = 3
	ReloadRetryDelay = 5 * time.Second
)

// reload asks the running daemon to reload gracefully (spec.Reload), waits for it to be
// ready again and records the files it now serves. The daemon keeps its process and its
// listening sockets.
func (s Supervisor) reload(ctx context.Context, rt *Runtime, spec ServiceSpec, st ServiceState) error {
	hash := ReloadHash(spec) // before: a file that changes meanwhile is reloaded next run
	start := time.Now()
	if spec.Reload.Signal != "" {
		sig, err := signalNamed(spec.Reload.Signal)
		if err != nil {
			return fmt.Errorf("service %s: %w", spec.Name, err)
		}
		if err := killProcess(st.PID, sig); err != nil {
			return fmt.Errorf("service %s: reload (SIG%s to pid %d): %w", spec.Name, spec.Reload.Signal, st.PID, err)
		}
	}
	if len(spec.Reload.Command) > 0 {
		// A CLI that cannot reach its daemon for a moment (rabbitmqctl: exit 69 while the
		// node is busy) is tried again, a few times, before the reload counts as failed.
		var err error
		for attempt := 1; attempt <= ReloadAttempts; attempt++ {
			if _, err = (Command{Args: spec.Reload.Command, Env: spec.Env, Dir: spec.Dir, Timeout: ReloadCommandTimeout}).Run(ctx); err == nil || ctx.Err() != nil {
				break
			}
			if attempt < ReloadAttempts {
				select {
				case <-ctx.Done():
				case <-time.After(ReloadRetryDelay):
				}
			}
		}
		if err != nil {
			return fmt.Errorf("service %s: reload: %w", spec.Name, err)
		}
	}
	if spec.Ready != nil {
		if err := WaitFor(ctx, rt, spec.Name+" after its reload", spec.readyWait(), spec.Ready); err != nil {
			return fmt.Errorf("service %s: %w", spec.Name, err)
		}
	}
	if !alive(st.PID, st.StartTicks) {
		return fmt.Errorf("service %s (pid %d) ended during its reload; see %s", spec.Name, st.PID, st.Log)
	}
	st.ReloadHash = hash
	if err := writeJSONAtomic(s.stateFile(spec.Name), st, 0o644); err != nil {
		return fmt.Errorf("service %s: record state: %w", spec.Name, err)
	}
	if rt != nil {
		rt.Progressf("  reloaded %s gracefully in %s (pid %d kept)", spec.Name, time.Since(start).Round(time.Millisecond), st.PID)
	}
	return nil
}

// StartAttempts and StartRetryDelay: a daemon that exits during start-up is started again,
// as systemd's Restart=on-failure with RestartSec=5 does for the units on Amazon Linux
// (RenderUnit). Some start-up failures are races with peers that are starting at the same
// moment (a RabbitMQ node that finds a booting peer's feature flags not yet loaded exits
// with incompatible_feature_flags), and a second start succeeds.
const (
	StartAttempts   = 3
	StartRetryDelay = 5 * time.Second
)

// errExitedDuringStartup: the daemon's process ended before it was ready.
var errExitedDuringStartup = errors.New("exited during start-up")

// Start starts spec detached and waits (bounded) until spec.Ready answers; a daemon that
// exits during start-up is started again, StartAttempts times in all.
func (s Supervisor) Start(ctx context.Context, rt *Runtime, spec ServiceSpec) error {
	var err error
	for attempt := 1; attempt <= StartAttempts; attempt++ {
		if err = s.startOnce(ctx, rt, spec); err == nil || !errors.Is(err, errExitedDuringStartup) || attempt == StartAttempts {
			return err
		}
		if rt != nil && rt.Progress != nil {
			fmt.Fprintf(rt.Progress, "%s exited during start-up (attempt %d of %d); starting it again in %s\n", spec.Name, attempt, StartAttempts, StartRetryDelay)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(StartRetryDelay):
		}
	}
	return err
}

func (s Supervisor) startOnce(ctx context.Context, rt *Runtime, spec ServiceSpec) error {
	pid, st, exited, err := s.spawn(spec, Hash(spec), ReloadHash(spec))
	if err != nil {
		return err
	}
	if spec.Ready == nil {
		return nil
	}
	err = WaitFor(ctx, rt, spec.Name, spec.readyWait(), func(ctx context.Context) error {
		select {
		case <-exited:
			return &PermanentError{Err: exitedError{}}
		default:
		}
		return spec.Ready(ctx)
	})
	var ee exitedError
	if errors.As(err, &ee) || (err != nil && !alive(pid, st.StartTicks)) {
		return fmt.Errorf("service %s %w; last lines of %s:%s", spec.Name, errExitedDuringStartup, st.Log, tailFile(st.Log, 20))
	}
	if err != nil {
		return fmt.Errorf("service %s: %w (log: %s)", spec.Name, err, st.Log)
	}
	return nil
}

// spawn starts spec detached and records its state with hash; exited is closed when the
// process ends.
func (s Supervisor) spawn(spec ServiceSpec, hash, reloadHash string) (pid int, st ServiceState, exited chan struct{}, err error) {
	if len(spec.Command) == 0 {
		return 0, st, nil, fmt.Errorf("service %s: no command", spec.Name)
	}
	if err := os.MkdirAll(filepath.Join(s.RunDir, "supervise"), 0o755); err != nil {
		return 0, st, nil, err
	}
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return 0, st, nil, err
	}
	if err := CreateRuntimeDirs(spec.RuntimeDirs); err != nil {
		return 0, st, nil, fmt.Errorf("service %s: %w", spec.Name, err)
	}
	if err := s.writeSecretEnv(spec.Name, spec.SecretEnv); err != nil {
		return 0, st, nil, fmt.Errorf("service %s: %w", spec.Name, err)
	}
	logPath := filepath.Join(s.LogDir, spec.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return 0, st, nil, fmt.Errorf("service %s: open log: %w", spec.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s supervisor: starting %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(spec.Command, " "))
	// Not CommandContext: the daemon outlives this run of the agent.
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Env = append(append(BaseEnv(), spec.Env...), spec.SecretEnv...)
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	attr, err := procAttr(true, spec.User)
	if err != nil {
		return 0, st, nil, fmt.Errorf("service %s: %w", spec.Name, err)
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return 0, st, nil, fmt.Errorf("service %s: start %s: %w", spec.Name, spec.Command[0], err)
	}
	pid = cmd.Process.Pid
	c := &child{done: make(chan struct{})}
	children.Store(pid, c)
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	st = ServiceState{
		Name: spec.Name, PID: pid, StartTicks: startTicks(pid), Hash: hash, ReloadHash: reloadHash, Command: spec.Command,
		Env: spec.Env, StopCommand: spec.StopCommand, StopTimeout: Duration(spec.StopTimeout),
		Log: logPath, StartedAt: time.Now().UTC(),
		User: spec.User, Dir: spec.Dir, RuntimeDirs: spec.RuntimeDirs,
	}
	if err := writeJSONAtomic(s.stateFile(spec.Name), st, 0o644); err != nil {
		_ = killGroup(pid, syscall.SIGKILL)
		return 0, st, nil, fmt.Errorf("service %s: record state: %w", spec.Name, err)
	}
	// A plain pid file too, for operators' tools (kill $(cat ...)); the JSON state is what
	// the supervisor trusts (it also tells a reused pid apart).
	_ = os.WriteFile(s.pidFile(spec.Name), []byte(fmt.Sprintf("%d\n", pid)), 0o644)
	return pid, st, c.done, nil
}

// CreateRuntimeDirs creates dirs (parents 0755) and sets their owner and mode, as systemd
// does for a unit's runtime directories at every start: the supervisor calls it before
// each start, so a daemon finds them after the run tree was emptied (a reboot's tmpfs).
// Their content is kept (like tmpfiles.d's "d").
func CreateRuntimeDirs(dirs []RuntimeDir) error {
	for _, d := range dirs {
		if !filepath.IsAbs(d.Path) {
			return fmt.Errorf("runtime directory %q is not absolute", d.Path)
		}
		if err := (Dir{Path: d.Path, Mode: d.mode(), Owner: d.Owner, Group: d.Group}).Apply(context.Background(), nil); err != nil {
			return fmt.Errorf("runtime directory %s: %w", d.Path, err)
		}
	}
	return nil
}

type exitedError struct{}

func (exitedError) Error() string { return "process exited" }

// Stop stops name if it runs: its StopCommand, or SIGTERM to its process group; SIGKILL
// when it is still there after the stop timeout. The state file is removed, so that the
// crash watcher, which waits for the service's lock meanwhile, sees a deliberate stop.
func (s Supervisor) Stop(ctx context.Context, name string) error {
	unlock, err := s.lock(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	return s.stopLocked(ctx, name)
}

func (s Supervisor) stopLocked(ctx context.Context, name string) error {
	running, st, err := s.Running(name)
	if err != nil {
		return err
	}
	if !running {
		// Helpers a crashed daemon left behind (Apache's children keep its port).
		killLeftovers(st)
		_ = os.Remove(s.pidFile(name))
		_ = os.Remove(s.secretEnvFile(name))
		if err := os.Remove(s.stateFile(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	timeout := time.Duration(st.StopTimeout)
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	if len(st.StopCommand) > 0 {
		_, _ = Command{Args: st.StopCommand, Env: st.Env, Timeout: timeout}.Run(ctx)
	} else {
		_ = killGroup(st.PID, syscall.SIGTERM)
	}
	if !waitGone(ctx, st.PID, st.StartTicks, timeout) {
		_ = killGroup(st.PID, syscall.SIGKILL)
		_ = killProcess(st.PID, syscall.SIGKILL)
		if !waitGone(ctx, st.PID, st.StartTicks, 5*time.Second) {
			return fmt.Errorf("service %s (pid %d) did not stop after SIGKILL", name, st.PID)
		}
	}
	// Processes left in the group (a daemon's helpers) go too.
	_ = killGroup(st.PID, syscall.SIGKILL)
	_ = os.Remove(s.pidFile(name))
	_ = os.Remove(s.secretEnvFile(name))
	if err := os.Remove(s.stateFile(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func waitGone(ctx context.Context, pid int, ticks uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !alive(pid, ticks) {
			return true
		}
		if c, ok := children.Load(pid); ok {
			select {
			case <-c.(*child).done:
				return true
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return false
			}
			continue
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return false
		}
	}
	return !alive(pid, ticks)
}

// alive reports whether pid runs, is not a zombie, and started at ticks (0 = don't compare).
func alive(pid int, ticks uint64) bool {
	if pid <= 0 {
		return false
	}
	state, start, err := procStat(pid)
	if err != nil {
		return false
	}
	if state == "Z" || state == "X" {
		return false
	}
	return ticks == 0 || start == ticks
}

func startTicks(pid int) uint64 {
	_, t, _ := procStat(pid)
	return t
}

// procStat reads the state and start time (clock ticks after boot) of pid.
func procStat(pid int) (state string, start uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", 0, errors.New("unexpected /proc stat format")
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return f[0], start, err
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return tail(data, n)
}

func writeJSONAtomic(path string, v any, mode fs.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), mode)
}
