//go:build !linux

package cli

import "errors"

// loadLocalKeysTarget: the local target, its shared key store and its agents are Linux
// only; on AWS (--env) the key sets are read and rotated through the bucket and Systems
// Manager from any OS.
func loadLocalKeysTarget(*Globals, string) (keysTarget, error) {
	return keysTarget{}, Exit(ExitUsage, errors.New("cso keys --local-dir runs on Linux only (the local target); --env NAME works on every OS"))
}
