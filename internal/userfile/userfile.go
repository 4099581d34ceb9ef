// Package userfile reads the files an operator names (environment files, application
// packages, target descriptions, CA bundles) defensively, and makes text taken from them
// safe to print: only regular files are read, never more than a limit, and control or
// bidirectional characters never reach the terminal raw.
package userfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// ErrNotRegular is wrapped by the error for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error for a file larger than its limit.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading when it is a regular file, after following symlinks. A
// directory, FIFO, socket or device is refused at once: opening a FIFO blocks until a
// writer comes, and reading a device may never end.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	// O_NONBLOCK: should path become a FIFO after the Stat, the open still returns at once
	// and the check of the opened file below refuses it. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, notRegular(path, st.Mode())
	}
	return f, nil
}

func notRegular(path string, m fs.FileMode) error {
	kind := "special file"
	switch {
	case m.IsDir():
		kind = "directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		kind = "socket"
	case m&fs.ModeDevice != 0:
		kind = "device"
	}
	return fmt.Errorf("%s is a %s, not a regular file: give the path of a file: %w", Escape(path), kind, ErrNotRegular)
}

// Read returns the content of the regular file path, refusing a file larger than limit
// bytes without reading more than limit+1 of it.
func Read(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s, the limit for this file: %w", Escape(path), Size(limit), ErrTooLarge)
	}
	return data, nil
}

// Size prints a byte count in the largest binary unit that divides it (64 KiB, 1 MiB).
func Size(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// bom is the UTF-8 byte-order mark some editors (Windows Notepad) write at the start.
var bom = []byte("\xEF\xBB\xBF")

// StripBOM removes a leading UTF-8 byte-order mark.
func StripBOM(data []byte) []byte { return bytes.TrimPrefix(data, bom) }

// Escape returns s with every character that could mislead a terminal written as a Go
// escape (\x1b, \u202e): C0 controls except tab and newline, DEL, C1 controls, the
// bidirectional overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069), the
// directional marks and line separators, and bytes that are not UTF-8. Everything else,
// accented letters included, is kept. Error messages pass text from a file through it.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafe(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r, size):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func unsafe(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size == 1:
		return true
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c || r == 0x2028 || r == 0x2029:
		return true
	}
	return false
}
