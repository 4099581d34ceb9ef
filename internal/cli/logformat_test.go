package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// --log-format json makes the diagnostic log (the logger of the agent and of the
// dashboard) one JSON object per line, which CloudWatch Logs Insights splits into fields;
// text stays key=value; anything else exits 2 before the command runs.
func TestLogFormat(t *testing.T) {
	var out, errb bytes.Buffer
	root, g := NewRoot(strings.NewReader(""), &out, &errb)
	root.SetArgs([]string{"--log-format", "json", "version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	g.Logger().Info("admin dashboard serving", "url", "https://127.0.0.1:8081/admin/")
	var rec map[string]any
	if err := json.Unmarshal(errb.Bytes(), &rec); err != nil {
		t.Fatalf("--log-format json: %v: %q", err, errb.String())
	}
	if rec["msg"] != "admin dashboard serving" || rec["url"] != "https://127.0.0.1:8081/admin/" || rec["level"] != "INFO" || rec["time"] == nil {
		t.Errorf("record %v", rec)
	}

	root, g = NewRoot(strings.NewReader(""), &out, &errb)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	g.Logger().Info("hello", "k", "v")
	if s := errb.String(); !strings.Contains(s, "msg=hello k=v") || strings.HasPrefix(s, "{") {
		t.Errorf("default text log: %q", s)
	}

	t.Setenv("CSO_LOG_FORMAT", "json")
	root, g = NewRoot(strings.NewReader(""), &out, &errb)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if g.LogFormat != LogJSON {
		t.Errorf("$CSO_LOG_FORMAT=json gave %q", g.LogFormat)
	}

	errb.Reset()
	if code := Run([]string{"--log-format", "xml", "version"}, strings.NewReader(""), &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), `--log-format "xml": expected text or json`) {
		t.Errorf("--log-format xml: exit %d, %q", code, errb.String())
	}
}
