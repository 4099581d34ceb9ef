package buildinfo

import "testing"

func TestOlder(t *testing.T) {
	for _, tc := range []struct {
		a, b         Info
		older, known bool
	}{
		{Info{Version: "v1.2.3"}, Info{Version: "v1.10.0"}, true, true},
		{Info{Version: "v1.10.0"}, Info{Version: "v1.2.3"}, false, true},
		{Info{Version: "v1.0.0-rc.1"}, Info{Version: "v1.0.0"}, true, true},
		{Info{Version: "v1.0.0-rc.2"}, Info{Version: "v1.0.0-rc.10"}, true, true},
		// Pseudo-versions order by their commit time stamp.
		{Info{Version: "v0.0.0-20261201100000-aaaaaaaaaaaa"}, Info{Version: "v0.0.0-20261205100000-bbbbbbbbbbbb"}, true, true},
		// Without semantic versions, the commit times decide.
		{Info{Version: Devel, Time: "2026-12-05T10:00:00Z"}, Info{Version: Devel, Time: "2026-12-04T10:00:00Z"}, false, true},
		{Info{Version: Devel, Time: "2026-12-03T10:00:00Z"}, Info{Version: Devel, Time: "2026-12-04T10:00:00Z"}, true, true},
		// Nothing to order by.
		{Info{Version: Devel}, Info{Version: Devel, Time: "2026-12-04T10:00:00Z"}, false, false},
		{Info{Version: "v1.0.0"}, Info{Version: "v1.0.0"}, false, false},
	} {
		older, known := Older(tc.a, tc.b)
		if older != tc.older || known != tc.known {
			t.Errorf("Older(%q %q, %q %q) = %v, %v; want %v, %v", tc.a.Version, tc.a.Time, tc.b.Version, tc.b.Time, older, known, tc.older, tc.known)
		}
	}
}

func TestSameAndShort(t *testing.T) {
	a := Info{Version: Devel, Revision: "0123456789abcdef0123"}
	b := a
	if !Same(a, b) {
		t.Fatal("identical builds differ")
	}
	b.Modified = true
	if Same(a, b) {
		t.Fatal("a dirty build is the same as a clean one")
	}
	if got, want := b.Short(), "(devel) 0123456789ab+dirty"; got != want {
		t.Fatalf("Short() = %q, want %q", got, want)
	}
	if Same(Info{Version: "v1.0.0"}, Info{Version: "v1.0.1"}) {
		t.Fatal("different versions are the same")
	}
}
