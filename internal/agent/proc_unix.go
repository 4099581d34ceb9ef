//go:build unix

package agent

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

// procAttr puts a child in its own process group (or session, for a daemon that outlives
// the agent) so that killGroup reaches its helpers too, running as user when given.
func procAttr(session bool, user string) (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{Setpgid: !session, Setsid: session}
	if user != "" {
		cred, err := credential(user)
		if err != nil {
			return nil, err
		}
		attr.Credential = cred
	}
	return attr, nil
}

// killGroup signals the process group that pid leads.
func killGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }

// killProcess signals pid alone.
func killProcess(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// credential resolves a user name to the uid, gid and groups a child process runs with.
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w (is the package that creates it installed?)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.Atoi(g); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// FileOwner is the uid and gid of a file's FileInfo; roles use it so that they build on
// Windows too (proc_other.go), where files have no uid/gid.
func FileOwner(st fs.FileInfo) (uid, gid int, ok bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(s.Uid), int(s.Gid), true
}

// flock takes an exclusive lock on f (blocking unless nonBlocking); it is released when f
// is closed. ok is false when nonBlocking and another holds it.
func flock(fd uintptr, nonBlocking bool) (ok bool, err error) {
	how := syscall.LOCK_EX
	if nonBlocking {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(fd), how)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EWOULDBLOCK {
			return false, nil
		}
		return err == nil, err
	}
}

// reloadSignals are the signals a ServiceSpec's Reload may name.
var reloadSignals = map[string]syscall.Signal{"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2}

// signalNamed returns the reload signal called name (kill -s's name without "SIG").
func signalNamed(name string) (syscall.Signal, error) {
	if s, ok := reloadSignals[name]; ok {
		return s, nil
	}
	return 0, fmt.Errorf("reload signal %q: use HUP, USR1 or USR2", name)
}
