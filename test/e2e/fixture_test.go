package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/apppkg/fixture"
)

// mainTB lets TestMain use helpers written for tests (fixture.Build): Fatal and Skip
// end the helper with a panic that buildFixture turns into an error.
type mainTB struct{ testing.TB }

type tbStop struct{ msg string }

func (mainTB) Helper()                         {}
func (mainTB) Name() string                    { return "TestMain" }
func (mainTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...) }
func (mainTB) Fatal(args ...any)               { panic(tbStop{fmt.Sprint(args...)}) }
func (mainTB) Fatalf(f string, args ...any)    { panic(tbStop{fmt.Sprintf(f, args...)}) }
func (mainTB) Skip(args ...any)                { panic(tbStop{fmt.Sprint(args...)}) }
func (mainTB) Skipf(f string, args ...any)     { panic(tbStop{fmt.Sprintf(f, args...)}) }
func (mainTB) Errorf(f string, args ...any)    { panic(tbStop{fmt.Sprintf(f, args...)}) }
func (mainTB) Cleanup(func())                  {}

// buildFixture builds the application package of the project's test fixtures into dir.
func buildFixture(dir string) (path string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(tbStop)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("build the fixture application package: %s", s.msg)
		}
	}()
	// A real client of its bindings (mysql, rabbitmq, keystone): test/e2e/bindings_test.go.
	return fixture.Build(mainTB{}, dir, fixture.WithBindings), nil
}

// writeEnvDir writes an environment directory holding env.dev.yaml of the repository with
// application.package pointing at pkg.
func writeEnvDir(repo, dir, pkg string) error {
	src, err := os.ReadFile(filepath.Join(repo, "environments", "env.dev.yaml"))
	if err != nil {
		return err
	}
	if strings.Contains(string(src), "\napplication:") {
		return fmt.Errorf("env.dev.yaml already names an application package")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out := string(src) + "application:\n  package: " + pkg + "\n"
	return os.WriteFile(filepath.Join(dir, "env.dev.yaml"), []byte(out), 0o644)
}
