package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
)

func TestPasswordHash(t *testing.T) {
	h, err := passwordHash("s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if !passwordMatches(h, "rabbit_password_hashing_sha256", "s3cret-value") {
		t.Error("a hash does not match its own password")
	}
	if passwordMatches(h, "rabbit_password_hashing_sha256", "other") || passwordMatches("!!", "", "x") {
		t.Error("a wrong password or a broken hash matched")
	}
	// A hash made by RabbitMQ 3.10.8 itself (user u1 with password newpw, exported by rabbitmqctl export_definitions).
	if !passwordMatches("YSVjee0ZcG270CQyx0H7uJ352VEEiHA9uqkkkvlO6Cl0t0TX", "rabbit_password_hashing_sha256", "newpw") {
		t.Error("RabbitMQ's own hash does not match")
	}
}

func TestDifferences(t *testing.T) {
	h, _ := passwordHash("pw")
	doc := func(s string) *definitions {
		var d definitions
		if err := json.Unmarshal([]byte(strings.ReplaceAll(s, "HASH", h)), &d); err != nil {
			t.Fatal(err)
		}
		return &d
	}
	good := `{"vhosts":[{"name":"ssp","metadata":{"default_queue_type":"quorum"}}],
	  "users":[{"name":"ssp_user","password_hash":"HASH","hashing_algorithm":"rabbit_password_hashing_sha256","tags":["monitoring","policymaker"]}],
	  "permissions":[{"user":"ssp_user","vhost":"ssp","configure":".*","write":".*","read":".*"}]}`
	tests := []struct {
		name, doc string
		imp       []string
		guest     bool
		other     []string
	}{
		{"converged", good, nil, false, nil},
		{"fresh node", `{"vhosts":[{"name":"/"}],"users":[{"name":"guest","password_hash":"x","tags":["administrator"]}],
		  "permissions":[{"user":"guest","vhost":"/","configure":".*","write":".*","read":".*"}]}`,
			[]string{"create vhost ssp", "create user ssp_user", "grant ssp_user"}, true, nil},
		{"password changed", strings.Replace(good, "HASH", "YSVjee0ZcG270CQyx0H7uJ352VEEiHA9uqkkkvlO6Cl0t0TX", 1),
			[]string{"set the generated password"}, false, nil},
		{"classic vhost", strings.Replace(good, `"quorum"`, `"classic"`, 1), []string{"set default queue type of vhost ssp to quorum"}, false, nil},
		{"extra tag", strings.Replace(good, `["monitoring","policymaker"]`, `["administrator","monitoring","policymaker"]`, 1), []string{"set tags of ssp_user"}, false, nil},
		{"missing tag", strings.Replace(good, `["monitoring","policymaker"]`, `["monitoring"]`, 1), []string{"set tags of ssp_user"}, false, nil},
		{"permissions elsewhere", strings.Replace(good, `"permissions":[`, `"permissions":[{"user":"ssp_user","vhost":"/","configure":".*","write":".*","read":".*"},`, 1),
			nil, false, []string{"/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imp, guest, other := doc(tc.doc).differences("pw")
			if len(imp) != len(tc.imp) {
				t.Fatalf("import needed %v, want %v", imp, tc.imp)
			}
			for i := range imp {
				if !strings.HasPrefix(imp[i], tc.imp[i]) {
					t.Errorf("import[%d] %q, want %q...", i, imp[i], tc.imp[i])
				}
			}
			if guest != tc.guest || strings.Join(other, ",") != strings.Join(tc.other, ",") {
				t.Errorf("guest %v other %v, want %v %v", guest, other, tc.guest, tc.other)
			}
		})
	}
	if d, err := wantedDefinitions("pw"); err != nil || strings.Contains(string(d), `"pw"`) {
		t.Errorf("the import document must hold the hash, not the password: %s %v", d, err)
	}
}

// A node whose CLI times out (right after the other nodes join, on a loaded host) is asked
// again, visibly, at most checkAttempts times; any other failure is not repeated.
func TestAccessCheckAsksAgainWhileTheCLITimesOut(t *testing.T) {
	defer func(f func(context.Context, Node) (*definitions, error)) { readDefinitions = f }(readDefinitions)
	timeout := &CtlError{Node: "rabbit@n1", Args: []string{"export_definitions"}, Code: -1, Err: fmt.Errorf("timed out: %w", context.DeadlineExceeded)}
	if !timeout.TimedOut() || !strings.Contains(timeout.Error(), "export_definitions: no answer within 1m0s (killed)") {
		t.Errorf("a timed-out call says %q (timed out: %v)", timeout.Error(), timeout.TimedOut())
	}
	var progress bytes.Buffer
	rt := &agent.Runtime{Progress: &progress}
	for _, c := range []struct {
		name  string
		fails []error // the answers before a good one
		calls int
		ok    bool
	}{
		{"two timeouts, then an answer", []error{timeout, timeout}, 3, true},
		{"three timeouts", []error{timeout, timeout, timeout, timeout}, checkAttempts, false},
		{"a refusal is not repeated", []error{&CtlError{Node: "rabbit@n1", Code: 69, Err: errors.New("exit status 69")}}, 1, false},
	} {
		calls := 0
		readDefinitions = func(context.Context, Node) (*definitions, error) {
			calls++
			if calls <= len(c.fails) {
				return nil, c.fails[calls-1]
			}
			return &definitions{}, nil
		}
		st := &accessState{self: Node{Name: "rabbit@n1"}}
		progress.Reset()
		d, err := st.getPatient(context.Background(), rt)
		if calls != c.calls || (err == nil) != c.ok || (c.ok && d == nil) {
			t.Errorf("%s: %d calls, %v; want %d calls, ok %v", c.name, calls, err, c.calls, c.ok)
		}
		if want := min(len(c.fails), checkAttempts-1); c.fails[0] == timeout && strings.Count(progress.String(), "did not answer within 1m0s") != want {
			t.Errorf("%s: progress %q, want %d lines saying it asks again", c.name, progress.String(), want)
		}
	}
}
