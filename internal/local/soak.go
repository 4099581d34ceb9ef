package local

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Daemons lists every running daemon of the local target in dir that its supervisors
// started, as "<host>/<service>" -> pid (`cso bench soak` watches their memory).
func Daemons(dir string) (map[string]int, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	hosts, err := l.hostDirs()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, h := range hosts {
		sup := l.Platform(h).Supervisor
		names, err := sup.Services()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h, err)
		}
		for _, n := range names {
			running, st, err := sup.Running(n)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", h, n, err)
			}
			if running {
				out[h+"/"+n] = st.PID
			}
		}
	}
	return out, nil
}

// AgentHosts lists the hosts of the local target in dir that have an agent and were
// converged (a directory under hosts/): what `cso agent --local-dir dir --host H` may re-run.
// The database is not an agent host.
func AgentHosts(dir string) ([]string, error) {
	l, err := NewLayout(dir)
	if err != nil {
		return nil, err
	}
	names, err := l.hostDirs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range names {
		if h != MySQLHost {
			out = append(out, h)
		}
	}
	return out, nil
}

var changesRE = regexp.MustCompile(`: converged, (\d+) change\(s\) made$`)

// RunAgent runs `<cso> agent --local-dir dir --host host` (as an operator would, in its own
// process) and returns the number of changes it reported.
func RunAgent(ctx context.Context, cso, envDir, dir, host string) (int, error) {
	cmd := exec.CommandContext(ctx, cso, "--env-dir", envDir, "agent", "--local-dir", dir, "--host", host)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, lastLines(out.String(), 5))
	}
	sc := bufio.NewScanner(&out)
	last := ""
	for sc.Scan() {
		last = sc.Text()
	}
	if m := changesRE.FindStringSubmatch(last); m != nil {
		return strconv.Atoi(m[1])
	}
	if strings.HasSuffix(last, ": converged, no change") {
		return 0, nil
	}
	return 0, fmt.Errorf("no converge summary: %s", last)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
