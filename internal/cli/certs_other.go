//go:build !linux

package cli

import "github.com/spf13/cobra"

// certsRenewCmd: renewing on the local target drives its Linux daemons; on AWS the jump
// server's timer renews.
func certsRenewCmd(*Globals) *cobra.Command {
	return hostOnlyCmd("renew", "Re-issue the local target's certificates (Linux only)", "cso certs renew runs on Linux only (the local target); on AWS the jump server's timer renews certificates")
}
