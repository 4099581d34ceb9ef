// Package buildinfo reads the version of the running cso binary from the build information
// the Go toolchain embeds (module version, VCS revision, dirty flag, commit time), and
// compares two such versions: `cso version` prints it, every agent publishes it in its
// status document, and `cso check` warns when hosts run different or older versions.
package buildinfo

import (
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Info is the version of one cso binary.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified"`
	Time      string `json:"time,omitempty"`
	GoVersion string `json:"go_version"`
}

// Devel is the module version of a binary built from a work tree without version
// information (`go build` outside a VCS checkout, `go test`).
const Devel = "(devel)"

// Read returns the running binary's build information.
func Read() Info {
	v := Info{Module: "unknown", Version: Devel}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.GoVersion = info.GoVersion
	if info.Main.Path != "" {
		v.Module = info.Main.Path
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "vcs.time":
			v.Time = s.Value
		}
	}
	return v
}

// String is the one-line form: "cso <version> (<module>) revision <rev>[+dirty] <time> <go>".
func (v Info) String() string {
	parts := []string{"cso", v.Version, "(" + v.Module + ")"}
	if v.Revision != "" {
		rev := v.Revision
		if v.Modified {
			rev += "+dirty"
		}
		parts = append(parts, "revision "+rev)
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	if v.GoVersion != "" {
		parts = append(parts, v.GoVersion)
	}
	return strings.Join(parts, " ")
}

// Short is the compact form shown in check details and on the dashboard:
// "<version> <revision, 12 digits>[+dirty]".
func (v Info) Short() string {
	s := v.Version
	if s == "" {
		s = Devel
	}
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if v.Modified {
			rev += "+dirty"
		}
		s += " " + rev
	}
	return s
}

// Same reports whether a and b are the same build of the code: same module version and,
// when both know it, the same revision and dirty flag.
func Same(a, b Info) bool {
	if a.Version != b.Version {
		return false
	}
	if a.Revision != "" && b.Revision != "" {
		return a.Revision == b.Revision && a.Modified == b.Modified
	}
	return a.Revision == b.Revision
}

// Older reports whether a is older than b. known is false when the two cannot be ordered:
// the order comes from their module versions when both are semantic versions (tags and
// pseudo-versions), else from their commit times when both have one.
func Older(a, b Info) (older, known bool) {
	if c, ok := compareSemver(a.Version, b.Version); ok && c != 0 {
		return c < 0, true
	}
	ta, errA := time.Parse(time.RFC3339, a.Time)
	tb, errB := time.Parse(time.RFC3339, b.Time)
	if errA == nil && errB == nil {
		return ta.Before(tb), true
	}
	return false, false
}

// compareSemver compares two semantic versions "vMAJOR.MINOR.PATCH[-pre][+build]" (the
// form of Go module versions, pseudo-versions included) as semver.org orders them.
func compareSemver(a, b string) (int, bool) {
	pa, ok1 := parseSemver(a)
	pb, ok2 := parseSemver(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	for i := range 3 {
		if pa.nums[i] != pb.nums[i] {
			return cmpInt(pa.nums[i], pb.nums[i]), true
		}
	}
	switch {
	case pa.pre == "" && pb.pre == "":
		return 0, true
	case pa.pre == "":
		return 1, true // a release is newer than its pre-releases
	case pb.pre == "":
		return -1, true
	}
	ia, ib := strings.Split(pa.pre, "."), strings.Split(pb.pre, ".")
	for i := 0; i < len(ia) && i < len(ib); i++ {
		if ia[i] == ib[i] {
			continue
		}
		na, errA := strconv.ParseUint(ia[i], 10, 64)
		nb, errB := strconv.ParseUint(ib[i], 10, 64)
		switch {
		case errA == nil && errB == nil:
			return cmpInt(na, nb), true
		case errA == nil:
			return -1, true // numeric identifiers sort before alphanumeric ones
		case errB == nil:
			return 1, true
		}
		return strings.Compare(ia[i], ib[i]), true
	}
	return cmpInt(uint64(len(ia)), uint64(len(ib))), true
}

type semver struct {
	nums [3]uint64
	pre  string
}

func parseSemver(s string) (semver, bool) {
	var v semver
	rest, ok := strings.CutPrefix(s, "v")
	if !ok {
		return v, false
	}
	rest, _, _ = strings.Cut(rest, "+")
	rest, v.pre, _ = strings.Cut(rest, "-")
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || p == "" {
			return v, false
		}
		v.nums[i] = n
	}
	return v, true
}

func cmpInt(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
