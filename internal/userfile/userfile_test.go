package userfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "env.fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{
		{fifo, "named pipe (FIFO)"}, {link, "named pipe (FIFO)"}, {dir, "directory"}, {"/dev/zero", "device"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Read(c.path, 1<<10); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), c.path+" is a "+c.kind+", not a regular file") {
				t.Errorf("%s: %v", c.path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Read blocked", c.path)
		}
	}
}

func TestReadFollowsSymlinksAndBoundsSize(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(f, []byte("12345678"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l.yaml")
	if err := os.Symlink(f, link); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(link, 8); err != nil || string(data) != "12345678" {
		t.Fatalf("read at the limit: %q %v", data, err)
	}
	_, err := Read(f, 7)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), f+" is larger than 7 bytes") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), 8); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 10: "64 KiB", 1 << 20: "1 MiB", 1000: "1000 bytes", 4 << 30: "4 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, été":            "plain text, été",
		"tab\tand\nnewline":          "tab\tand\nnewline",
		"esc \x1b[31mred":            `esc \x1b[31mred`,
		"cr\rbell\a nul\x00 del\x7f": `cr\rbell\a nul\x00 del\x7f`,
		"c1 \u0085 \u009b":           `c1 \u0085 \u009b`,
		"rlo \u202e txt.exe":         `rlo \u202e txt.exe`,
		"isolates \u2066\u2067\u2068\u2069 embeds \u202a\u202b\u202c\u202d": `isolates \u2066\u2067\u2068\u2069 embeds \u202a\u202b\u202c\u202d`,
		"marks \u200e\u200f\u061c sep \u2028":                               `marks \u200e\u200f\u061c sep \u2028`,
		"bad utf8 \xff\xfe":                                                 `bad utf8 \xff\xfe`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripBOM(t *testing.T) {
	if got := string(StripBOM([]byte("\xEF\xBB\xBFprod: false\n"))); got != "prod: false\n" {
		t.Errorf("%q", got)
	}
	if got := string(StripBOM([]byte("prod: false\n"))); got != "prod: false\n" {
		t.Errorf("%q", got)
	}
}

func TestCheckYAMLRefusesAnchorsAndAliases(t *testing.T) {
	for _, c := range []struct {
		src       string
		line, col int
		msg       string
	}{
		{"a: 1\nb: &x 2\n", 2, 4, "YAML anchor &x: anchors and aliases are not accepted"},
		{"a: 1\nb:\n  - c\n  - *x\n", 4, 5, "YAML alias *x: anchors and aliases are not accepted"},
		{"a: {<<: *base}\n", 1, 9, "YAML alias *base"},
	} {
		err := CheckYAML([]byte(c.src), MaxYAMLDepth)
		if err == nil || err.Line != c.line || err.Column != c.col || !strings.Contains(err.Message, c.msg) {
			t.Errorf("%q: %+v, want %d:%d %q", c.src, err, c.line, c.col, c.msg)
		}
	}
}

func TestCheckYAMLDepth(t *testing.T) {
	ok := []string{
		"a:\n  b:\n    c: 1\nd: [1, 2]\n",
		"services:\n  - name: x\n    env: {A: b}\n    command: [java, -jar]\n  - name: y\n",
		"a:\n- 1\n- 2\nb:\n- 3\n",
		"---\na: 1\n---\nb: 2\n",
		// & and * inside values are text, not anchors or aliases.
		"command: [sh, -c, a && b]\nenv: {GLOB: \"*\", Q: '&x'}\nc:\n  - x && y * z\n  - \"*x\"\nmail: a&b@example.com\n",
	}
	for _, src := range ok {
		if err := CheckYAML([]byte(src), 4); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	for _, c := range []struct {
		src   string
		depth int
	}{
		{"a:\n  b:\n    c:\n      d:\n        e: 1\n", 5},
		{"a: [[[[1]]]]\n", 5},
		{"- - - - - x\n", 5},
		{"a:\n- b:\n  - c: 1\n", 4}, // a sequence at its key's column is one level deeper
		{strings.Repeat("[", 30000), 30000},
		{strings.Repeat("- ", 30000) + "x\n", 30000},
	} {
		err := CheckYAML([]byte(c.src), c.depth-1)
		if err == nil || !strings.Contains(err.Message, fmt.Sprintf("nested more than %d levels deep", c.depth-1)) {
			t.Errorf("%.40q (depth %d): %v", c.src, c.depth, err)
		}
	}
}
