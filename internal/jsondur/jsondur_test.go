package jsondur

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		d  time.Duration
		ms float64
	}{{1500 * time.Microsecond, 1.5}, {2 * time.Minute, 120000}, {1234567 * time.Nanosecond, 1.234}, {0, 0}} {
		if got := Millis(tc.d); got != tc.ms {
			t.Errorf("Millis(%s) = %v, want %v", tc.d, got, tc.ms)
		}
		if got := FromMillis(tc.ms); got != tc.d.Truncate(time.Microsecond) {
			t.Errorf("FromMillis(%v) = %s, want %s", tc.ms, got, tc.d.Truncate(time.Microsecond))
		}
	}
}

// otherUnit matches JSON keys that name a duration in a unit other than milliseconds.
var otherUnit = regexp.MustCompile(`_(ns|nanos|us|micros|s|sec|secs|seconds|min|mins|minutes|hours)$`)

// durationWord matches JSON keys that name a duration, which must then end in _ms.
var durationWord = regexp.MustCompile(`duration|latency|elapsed|timeout|took`)

// foreign are keys in other units that are no output of cso: formats it reads, and
// private state files that must stay readable across upgrades.
var foreign = map[string]string{
	"internal/deploy/stream.go elapsed_seconds": "Terraform's machine-readable UI, which cso parses",
	"internal/agent/supervisor.go stop_timeout": "the local supervisor's own state file (\"1.5s\"), read back by later runs, never printed",
}

// TestOneUnitInJSON reads every Go source file of the module (tests aside) and fails on a
// struct field that would put a duration in JSON in another unit than milliseconds: a
// time.Duration field with a JSON name (encoding/json writes nanoseconds) or a key such
// as duration_seconds or latency_ns.
func TestOneUnitInJSON(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var problems []string
	seen := 0
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			seen++
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			ast.Inspect(f, func(n ast.Node) bool {
				st, ok := n.(*ast.StructType)
				if !ok {
					return true
				}
				for _, field := range st.Fields.List {
					key := jsonKey(field)
					if key == "" || key == "-" {
						continue
					}
					where := fset.Position(field.Pos())
					if isDuration(field.Type) {
						problems = append(problems, rel+":"+strconv.Itoa(where.Line)+": time.Duration marshalled as "+key+" (nanoseconds); use jsondur.Millis and a _ms key")
					}
					if otherUnit.MatchString(key) || (durationWord.MatchString(key) && !strings.HasSuffix(key, "_ms")) {
						if _, ok := foreign[rel+" "+key]; !ok {
							problems = append(problems, rel+":"+strconv.Itoa(where.Line)+": key "+key+" is not in milliseconds (_ms)")
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen < 50 {
		t.Fatalf("read only %d source files: wrong root?", seen)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func jsonKey(f *ast.Field) string {
	if f.Tag == nil {
		return ""
	}
	tag, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return ""
	}
	v, ok := reflect.StructTag(tag).Lookup("json")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(v, ",")
	if name == "" && len(f.Names) > 0 {
		name = f.Names[0].Name // encoding/json uses the field name
	}
	return name
}

func isDuration(e ast.Expr) bool {
	if p, ok := e.(*ast.StarExpr); ok {
		e = p.X
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "time" && sel.Sel.Name == "Duration"
}
