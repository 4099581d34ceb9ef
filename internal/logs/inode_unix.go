//go:build unix

package logs

import (
	"io/fs"
	"syscall"
)

func fileInode(st fs.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Ino)
	}
	return 0
}
