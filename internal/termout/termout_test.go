package termout

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Pipes, files and buffers are no terminals: progress then writes plain lines.
func TestNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, out := range map[string]any{"pipe": w, "file": f, "buffer": &bytes.Buffer{}, "nil": nil} {
		if IsTerminal(out) {
			t.Errorf("%s reported as a terminal", name)
		}
	}
}

// Without a terminal the width comes from $COLUMNS, else the default.
func TestWidthFallbacks(t *testing.T) {
	_, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t.Setenv("COLUMNS", "132")
	if got := Width(w); got != 132 {
		t.Errorf("Width with COLUMNS=132 = %d", got)
	}
	t.Setenv("COLUMNS", "")
	if got := Width(&bytes.Buffer{}); got != DefaultWidth {
		t.Errorf("Width without a terminal or COLUMNS = %d, want %d", got, DefaultWidth)
	}
}

func TestFit(t *testing.T) {
	long := strings.Repeat("é", 50)
	if got := Fit(long, 40); len([]rune(got)) != 39 || !strings.HasSuffix(got, "…") {
		t.Errorf("Fit to 40 columns: %q (%d runes)", got, len([]rune(got)))
	}
	if got := Fit("short", 40); got != "short" {
		t.Errorf("Fit of a short line: %q", got)
	}
}
