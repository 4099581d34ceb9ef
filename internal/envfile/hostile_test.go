package envfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// parseFast parses data and fails the test when it takes more than a second: hostile
// input is refused before the YAML library can spend memory or time on it.
func parseFast(t *testing.T, name string, data []byte) (*Env, error) {
	t.Helper()
	start := time.Now()
	env, err := Parse(name, data)
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing took %s", d)
	}
	return env, err
}

func onlyProblem(t *testing.T, err error) Problem {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
	return ps[0]
}

// A 560-byte "billion laughs" file: nine levels of nine aliases decode to 9^9 strings,
// which exhausted the process's memory before the pre-pass existed.
func TestAliasBombIsRefused(t *testing.T) {
	path := "testdata/hostile/env.laughs.yaml"
	data, err := os.ReadFile(path)
	if err != nil || len(data) != 560 {
		t.Fatalf("attack file: %d bytes, %v", len(data), err)
	}
	_, err = parseFast(t, path, data)
	p := onlyProblem(t, err)
	want := "testdata/hostile/env.laughs.yaml:12:5: YAML anchor &a: anchors and aliases are not accepted (this file needs none"
	if !strings.HasPrefix(p.String(), want) {
		t.Errorf("got %q\nwant prefix %q", p.String(), want)
	}
}

func TestAnchorsAndAliasesAreRefusedWithTheirLine(t *testing.T) {
	data := strings.Replace(base, "region: eu-west-2\naccount", "region: &r eu-west-2\naccount", 1)
	_, err := parseFast(t, "env.t.yaml", []byte(data))
	if p := onlyProblem(t, err); p.Line != 5 || !strings.Contains(p.Message, "YAML anchor &r") {
		t.Errorf("anchor: %v", p)
	}
	data = strings.Replace(base, "  region: eu-west-2\nload", "  region: *r\nload", 1)
	_, err = parseFast(t, "env.t.yaml", []byte(data))
	if p := onlyProblem(t, err); p.String() != "env.t.yaml:17:11: YAML alias *r: anchors and aliases are not accepted (this file needs none, and nested aliases can expand a few hundred bytes into gigabytes); write the value out" {
		t.Errorf("alias: %v", p)
	}
}

func TestDeepNestingIsRefusedBeforeParsing(t *testing.T) {
	for name, data := range map[string]string{
		"flow":  "prod: " + strings.Repeat("[", 30000),
		"block": "prod:\n" + strings.Repeat("- ", 30000) + "x\n",
		"maps":  "a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g:\n       h:\n        i:\n         j:\n          k:\n           l:\n            m:\n             n:\n              o:\n               p:\n                q: 1\n",
	} {
		_, err := parseFast(t, "env.t.yaml", []byte(data))
		p := onlyProblem(t, err)
		if p.Line == 0 || p.Message != "nested more than 16 levels deep; this file needs a few levels at most" {
			t.Errorf("%s: %v", name, p)
		}
	}
}

func TestSizeIsBounded(t *testing.T) {
	data := base + strings.Repeat("# comment\n", MaxFileSize/10)
	_, err := parseFast(t, "env.t.yaml", []byte(data))
	if p := onlyProblem(t, err); p.String() != "env.t.yaml: larger than 64 KiB: an environment file is a few dozen lines" {
		t.Errorf("%v", p)
	}
	path := filepath.Join(t.TempDir(), "env.t.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); onlyProblem(t, err).Message != "larger than 64 KiB: an environment file is a few dozen lines" {
		t.Errorf("Load: %v", err)
	}
	// Under the limit, comments are fine.
	if _, err := Parse("env.t.yaml", []byte(base+strings.Repeat("# comment\n", 1000))); err != nil {
		t.Errorf("a commented file: %v", err)
	}
}

func TestLoadRefusesFIFOAndDirectoryAtOnce(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "env.fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "env.dir.yaml")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "named pipe (FIFO)", sub: "directory"} {
		done := make(chan error, 1)
		go func() { _, err := Load(path); done <- err }()
		select {
		case err := <-done:
			want := "read environment file: " + path + " is a " + kind + ", not a regular file"
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %v\nwant %s", err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) blocked", path)
		}
	}
}

func TestByteOrderMarkIsAccepted(t *testing.T) {
	env, err := Parse("env.t.yaml", []byte("\xEF\xBB\xBF"+base))
	if err != nil || env.VPCName != "CSO-t" {
		t.Fatalf("a file starting with a UTF-8 BOM: %v", err)
	}
	// Positions stay those of the file.
	_, err = Parse("env.t.yaml", []byte("\xEF\xBB\xBF"+strings.Replace(base, "vpc_cidr: 10.2.0.0/16", "vpc_cidr: 10.2.0/16", 1)))
	if p := onlyProblem(t, err); p.Line != 4 || p.Field != "vpc_cidr" {
		t.Errorf("%v", p)
	}
}

// Control and bidirectional characters from the file are escaped in every message.
func TestControlAndBidiCharactersAreNotEchoed(t *testing.T) {
	cases := map[string]struct{ data, want string }{
		"unknown key with a right-to-left override": {
			strings.Replace(base, "domain_suffix: cso.ss", "domain_suffix: cso.ss\n\"adm\u202enimda\": x", 1),
			`unknown field "adm\u202enimda"`},
		"value with a terminal escape": {
			strings.Replace(base, "domain_suffix: cso.ss", "domain_suffix: \"cso\\e[2J.ss\"", 1),
			`"cso\x1b[2J.ss" is not a DNS name`},
		"value with an isolate": {
			strings.Replace(base, "vpc_name: CSO-t", "vpc_name: CSO-t\nregion2: \"\u2066x\u2069\"", 1),
			`unknown field "region2"`},
	}
	for name, c := range cases {
		_, err := Parse("env.t.yaml", []byte(c.data))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q does not contain %q", name, msg, c.want)
		}
		if strings.ContainsAny(msg, "\x1b\u202e\u2066\u2069") {
			t.Errorf("%s: raw control or bidi character in %q", name, msg)
		}
		var ps Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				if e := p.Escaped(); strings.ContainsAny(e.Field+e.Message+e.File, "\x1b\u202e\u2066\u2069") {
					t.Errorf("%s: Escaped keeps a raw character: %+v", name, e)
				}
			}
		}
	}
}

func TestS3PackageKeyWithDotSegmentsIsRefused(t *testing.T) {
	for _, pkg := range []string{
		"s3://t-cso-files-111122223333/packages/..", "s3://t-cso-files-111122223333/packages/.", "s3://t-cso-files-111122223333/packages/../scripts/env.t.yaml",
		"s3://t-cso-files-111122223333/packages//app.tar.gz", "s3://t-cso-files-111122223333/../packages/app.tar.gz", "s3://t-cso-files-111122223333//packages/app.tar.gz",
	} {
		_, err := Parse("env.t.yaml", []byte(base+"application:\n  package: "+pkg+"\n"))
		p := onlyProblem(t, err)
		if p.Line != 25 || p.Field != "application.package" || !strings.Contains(p.Message, `segment; expected s3://<bucket>/packages/<file>`) {
			t.Errorf("%s: %v", pkg, p)
		}
	}
	// Outside packages/ is refused as before.
	_, err := Parse("env.t.yaml", []byte(base+"application:\n  package: s3://t-cso-files-111122223333/scripts/app.tar.gz\n"))
	if p := onlyProblem(t, err); p.Line != 25 || !strings.Contains(p.Message, "the hosts get packages from s3://t-cso-files-111122223333/packages/<file> only") {
		t.Errorf("outside packages/: %v", p)
	}
}
