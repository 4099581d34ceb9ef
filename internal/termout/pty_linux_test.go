package termout

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal side of a new pseudo-terminal (Linux /dev/ptmx).
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the terminal side: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// On a terminal the width is the terminal's own, whatever $COLUMNS says, and TERM=dumb
// turns redrawing off.
func TestTerminalWidth(t *testing.T) {
	tty := openPTY(t)
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 57}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COLUMNS", "200")
	t.Setenv("TERM", "xterm")
	if !IsTerminal(tty) {
		t.Fatal("a pseudo-terminal is not reported as a terminal")
	}
	if got := Width(tty); got != 57 {
		t.Errorf("Width = %d, want the terminal's 57 columns", got)
	}
	t.Setenv("TERM", "dumb")
	if IsTerminal(tty) {
		t.Error("TERM=dumb: cursor movement still used")
	}
}
