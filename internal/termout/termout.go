// Package termout says whether progress output goes to a terminal and how wide it is
// (golang.org/x/term): on a terminal progress redraws one line cut to the terminal's
// width; anywhere else (a pipe, a file, CI, TERM=dumb) it writes plain lines, with no
// colour and no cursor movement.
package termout

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// DefaultWidth is the width assumed when neither the terminal nor $COLUMNS gives one.
const DefaultWidth = 80

// IsTerminal reports whether w is a terminal that understands cursor movement: an
// *os.File on a terminal, and $TERM is not "dumb".
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Width returns the number of columns of the terminal w writes to; when w is no terminal
// (or its size is unknown), $COLUMNS, else DefaultWidth.
func Width(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	return DefaultWidth
}

// Fit cuts s to width columns (counted in runes) with an ellipsis: a redrawn line that
// wraps cannot be redrawn with a carriage return.
func Fit(s string, width int) string {
	if width < 10 {
		width = 10
	}
	r := []rune(s)
	if len(r) < width {
		return s
	}
	return string(r[:width-2]) + "…"
}
