package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The crash side of the supervisor: what the local target's watcher (`cso local supervise`)
// uses to restart a daemon that died after start-up, as systemd's Restart=on-failure does
// for the units on Amazon Linux (RenderUnit).

// Crash is one recorded death of a supervised daemon that nobody stopped, and its restart.
type Crash struct {
	Time time.Time `json:"time"` // when the watcher saw the process gone
	PID  int       `json:"pid"`
	// Exit is how the process ended: "signal: killed", "exit status 1", or "unknown" when
	// the watcher did not start it (only a parent learns a process's exit status).
	Exit       string    `json:"exit"`
	Signal     string    `json:"signal,omitempty"` // e.g. "SIGKILL", when known
	ExitCode   *int      `json:"exit_code,omitempty"`
	Uptime     Duration  `json:"uptime"` // how long the process had run
	Count      int       `json:"count"`  // consecutive crashes, this one included
	Delay      Duration  `json:"delay"`  // backoff before the restart
	Restarted  time.Time `json:"restarted,omitzero"`
	NewPID     int       `json:"new_pid,omitempty"`
	RestartErr string    `json:"restart_error,omitempty"`
}

// MaxCrashRecords bounds each service's crash file: the newest are kept.
const MaxCrashRecords = 100

func (s Supervisor) crashFile(name string) string {
	return filepath.Join(s.RunDir, "supervise", name+".crashes")
}

func (s Supervisor) lockFile(name string) string {
	return filepath.Join(s.RunDir, "supervise", "."+name+".lock")
}

func (s Supervisor) secretEnvFile(name string) string {
	return filepath.Join(s.RunDir, "supervise", name+".secret-env")
}

// Crashes returns the recorded crashes of name, oldest first (none: nil, no error).
func (s Supervisor) Crashes(name string) ([]Crash, error) {
	data, err := os.ReadFile(s.crashFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cs []Crash
	if err := json.Unmarshal(data, &cs); err != nil {
		return nil, fmt.Errorf("%s: %w", s.crashFile(name), err)
	}
	return cs, nil
}

// CrashesSince returns the crashes recorded since since, by service.
func (s Supervisor) CrashesSince(since time.Time) (map[string][]Crash, error) {
	entries, err := os.ReadDir(filepath.Join(s.RunDir, "supervise"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]Crash{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".crashes")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		cs, err := s.Crashes(name)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if !c.Time.Before(since) {
				out[name] = append(out[name], c)
			}
		}
	}
	return out, nil
}

// RecordCrash appends c to name's crash file, or replaces the last record when it is the
// same crash (same pid and time: its restart is being filled in).
func (s Supervisor) RecordCrash(name string, c Crash) error {
	cs, err := s.Crashes(name)
	if err != nil {
		cs = nil // a damaged file is replaced rather than blocking restarts
	}
	if n := len(cs); n > 0 && cs[n-1].PID == c.PID && cs[n-1].Time.Equal(c.Time) {
		cs[n-1] = c
	} else {
		cs = append(cs, c)
	}
	if len(cs) > MaxCrashRecords {
		cs = cs[len(cs)-MaxCrashRecords:]
	}
	return writeJSONAtomic(s.crashFile(name), cs, 0o644)
}

// lock takes name's lock (a flock on a file of the supervise directory), polling until
// ctx ends; unlock releases it.
func (s Supervisor) lock(ctx context.Context, name string) (unlock func(), err error) {
	for {
		unlock, ok, err := s.TryLock(name)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("service %s: waiting for its lock %s: %w", name, s.lockFile(name), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TryLock takes name's lock if nobody holds it: ok is false when another process (an
// agent starting or stopping the service, or the watcher) does.
func (s Supervisor) TryLock(name string) (unlock func(), ok bool, err error) {
	if err := os.MkdirAll(filepath.Join(s.RunDir, "supervise"), 0o755); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(s.lockFile(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	ok, err = flock(f.Fd(), true)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}

// writeSecretEnv keeps a service's SecretEnv for its restarts in a 0600 file (removed
// when there is none).
func (s Supervisor) writeSecretEnv(name string, env []string) error {
	p := s.secretEnvFile(name)
	if len(env) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return writeJSONAtomic(p, env, 0o600)
}

func (s Supervisor) readSecretEnv(name string) ([]string, error) {
	data, err := os.ReadFile(s.secretEnvFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var env []string
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%s: %w", s.secretEnvFile(name), err)
	}
	return env, nil
}

// Died reports whether name has a recorded state (nobody stopped it) and its process is
// gone: a crash. It does not take the lock.
func (s Supervisor) Died(name string) (bool, ServiceState, error) {
	running, st, err := s.Running(name)
	if err != nil || running || st.PID == 0 {
		return false, st, err
	}
	return true, st, nil
}

// DescribeExit tells how st's process ended, when this process started it.
func DescribeExit(st ServiceState) (exit, signal string, code *int) {
	ps, ok := ExitOf(st.PID)
	if !ok {
		return "unknown (not started by this watcher: only a process's parent learns its exit status)", "", nil
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ps.String(), SignalName(ws.Signal()), nil
	}
	c := ps.ExitCode()
	return ps.String(), "", &c
}

// SignalName is the conventional name of sig ("SIGKILL").
func SignalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGBUS:
		return "SIGBUS"
	}
	return "signal " + strconv.Itoa(int(sig))
}

// Revive starts name again from its recorded state after a crash: the same command,
// environment, user, directory and runtime directories, with the recorded configuration
// hash (the next agent run still restarts it when its configuration changed). It holds
// name's lock and does nothing (ok false) when another holds it, when nothing is
// recorded (a deliberate stop) or when the recorded process runs (someone started it
// meanwhile). It does not wait for readiness: systemd does not either for Type=simple.
func (s Supervisor) Revive(name string, died ServiceState) (newPID int, ok bool, err error) {
	unlock, got, err := s.TryLock(name)
	if err != nil || !got {
		return 0, false, err
	}
	defer unlock()
	dead, st, err := s.Died(name)
	if err != nil || !dead || st.PID != died.PID || st.StartTicks != died.StartTicks {
		return 0, false, err
	}
	secret, err := s.readSecretEnv(name)
	if err != nil {
		return 0, false, err
	}
	killLeftovers(st)
	spec := ServiceSpec{
		Name: st.Name, Command: st.Command, Env: st.Env, SecretEnv: secret, User: st.User,
		Dir: st.Dir, StopCommand: st.StopCommand, StopTimeout: time.Duration(st.StopTimeout),
		RuntimeDirs: st.RuntimeDirs,
	}
	pid, _, _, err := s.spawn(spec, st.Hash, st.ReloadHash)
	if err != nil {
		return 0, true, err
	}
	return pid, true, nil
}

// killLeftovers kills what remains of a dead daemon's session (setsid made its pid the
// session id): helpers such as Apache's children, which would keep its port. Only
// processes of that session started no earlier than the daemon are touched, so that a
// reused pid (after a reboot) never names someone else's processes.
func killLeftovers(st ServiceState) {
	if st.PID <= 0 || st.StartTicks == 0 {
		return
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == st.PID {
			continue
		}
		sid, start, err := procSession(pid)
		if err != nil || sid != st.PID || start < st.StartTicks {
			continue
		}
		_ = killProcess(pid, syscall.SIGKILL)
	}
}

// procSession reads the session id and start time of pid from /proc/<pid>/stat.
func procSession(pid int) (sid int, start uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, 0, errors.New("unexpected /proc stat format")
	}
	sid, err = strconv.Atoi(f[3])
	if err != nil {
		return 0, 0, err
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return sid, start, err
}
