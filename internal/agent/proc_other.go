//go:build !unix

package agent

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// The agent runs on Linux hosts only; this file lets the packages that share its types
// (check, apppkg) build into the operator's cso on Windows. Nothing here starts daemons.

func procAttr(_ bool, user string) (*syscall.SysProcAttr, error) {
	if user != "" {
		return nil, errors.New("running a command as another user needs a Linux host")
	}
	return nil, nil
}

func killGroup(pid int, sig syscall.Signal) error { return killProcess(pid, sig) }

func killProcess(pid int, _ syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// FileOwner: no uid/gid on this system, so ownership is never reported as differing.
func FileOwner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

// flock: no advisory locks here; nothing supervises daemons on this system.
func flock(uintptr, bool) (bool, error) { return true, nil }

// signalNamed: reloading a daemon by signal needs a Linux host.
func signalNamed(name string) (syscall.Signal, error) {
	return 0, errors.New("reload signal " + name + ": reloading a daemon needs a Linux host")
}
