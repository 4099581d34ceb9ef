//go:build !windows

package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/cwagent"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/local"
	"github.com/cso-ssp/platform/internal/roles/jump"
	"github.com/cso-ssp/platform/internal/target"
)

// MaxTailBytes bounds what is read of each file for a read without Follow: its end.
const MaxTailBytes = 8 << 20

// Local reads the local target's log files.
type Local struct {
	hosts map[string]map[string][]string // host -> log name -> files
}

// NewLocal describes the logs of the local target in dir (its target.json names the
// hosts). Per host: the logs the CloudWatch agent ships on EC2 under the same names, at
// the roles' local paths (agent, keystone, keystone-httpd, rabbitmq, nginx-access, ...;
// not setup and cloud-init, which only EC2 user data writes), and the supervisor's output
// of each daemon, <log>/<service>.log, under the service's name.
func NewLocal(dir string) (*Local, error) {
	l, err := local.NewLayout(dir)
	if err != nil {
		return nil, err
	}
	t, err := target.Load(l.TargetFile())
	if err != nil {
		return nil, err
	}
	r := &Local{hosts: map[string]map[string][]string{}}
	add := func(host, name string, files ...string) {
		if r.hosts[host] == nil {
			r.hosts[host] = map[string][]string{}
		}
		r.hosts[host][name] = append(r.hosts[host][name], files...)
	}
	hosts := append([]inventory.Host{{Name: local.MySQLHost}}, t.Hosts...)
	for _, h := range hosts {
		p := l.Paths(h.Name)
		known := map[string]bool{}
		if h.Role != "" {
			for _, lg := range cwagent.Logs(h, p) {
				switch lg.Name {
				case cwagent.LogSetup, cwagent.LogCloudInit, cwagent.LogApplication:
					continue // EC2 only; the application's services are listed by name below
				case cwagent.LogAdmin:
					lg.File = filepath.Join(p.Log, jump.AdminService+".log") // the supervisor's file
				}
				add(h.Name, lg.Name, lg.File)
				known[lg.File] = true
			}
		}
		// The supervisor's files (one per daemon), MariaDB's own log: every <log>/*.log.
		entries, _ := os.ReadDir(p.Log)
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".log")
			f := filepath.Join(p.Log, e.Name())
			if !ok || e.IsDir() || known[f] {
				continue
			}
			add(h.Name, name, f)
		}
		if r.hosts[h.Name] == nil {
			r.hosts[h.Name] = map[string][]string{}
		}
	}
	return r, nil
}

// Hosts implements Reader.
func (r *Local) Hosts() []string { return sortedKeys(r.hosts) }

// Services implements Reader.
func (r *Local) Services(host string) ([]string, error) {
	s, ok := r.hosts[host]
	if !ok {
		return nil, &UnknownError{What: "host", Name: host, Valid: r.Hosts()}
	}
	return sortedKeys(s), nil
}

type source struct {
	service, file string
	offset        int64
	inode         uint64
	partial       []byte
	last          time.Time
}

// Read implements Reader.
func (r *Local) Read(ctx context.Context, q Query, emit func(Line) error) error {
	if err := Check(r, q); err != nil {
		return err
	}
	var srcs []*source
	for _, svc := range sortedKeys(r.hosts[q.Host]) {
		if q.Service != "" && svc != q.Service {
			continue
		}
		for _, f := range r.hosts[q.Host][svc] {
			srcs = append(srcs, &source{service: svc, file: f})
		}
	}
	var lines []Line
	for _, s := range srcs {
		ls, err := s.tail(q)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	if err := emitNewest(lines, q, emit); err != nil {
		return err
	}
	if !q.Follow {
		return nil
	}
	poll := q.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, s := range srcs {
			ls, err := s.more(q)
			if err != nil {
				return err
			}
			for _, l := range ls {
				if err := emit(l); err != nil {
					return err
				}
			}
		}
	}
}

// tail reads the end of s's file (at most MaxTailBytes) and leaves the offset at its end.
func (s *source) tail(q Query) ([]Line, error) {
	f, err := os.Open(s.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // not written yet: Follow picks it up when it appears
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	s.inode = inode(st)
	start := max(st.Size()-MaxTailBytes, 0)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, st.Size()-start))
	if err != nil {
		return nil, err
	}
	if start > 0 { // the first line is cut: drop it
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	s.offset = start + int64(len(data))
	lines := s.split(q, data, st.ModTime(), true)
	return lines, nil
}

// more reads what was appended to s's file since the last read (from the start when the
// file was replaced or truncated: a rotation).
func (s *source) more(q Query) ([]Line, error) {
	f, err := os.Open(s.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if ino := inode(st); ino != s.inode || st.Size() < s.offset {
		s.inode, s.offset, s.partial = ino, 0, nil
	}
	if st.Size() == s.offset {
		return nil, nil
	}
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, min(st.Size()-s.offset, MaxTailBytes)))
	if err != nil {
		return nil, err
	}
	s.offset += int64(len(data))
	return s.split(q, data, time.Now(), false), nil
}

// split turns data into lines, keeping an unterminated last line for later (following) or
// taking it as it is (a first read). A line without a timestamp takes the one before it
// (a stack trace's lines), or the next one's, or the file's modification time.
func (s *source) split(q Query, data []byte, fallback time.Time, final bool) []Line {
	data = append(s.partial, data...)
	s.partial = nil
	var out []Line
	var pending []int // lines still without a time
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxTailBytes)
	complete := len(data) > 0 && data[len(data)-1] == '\n'
	var all []string
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if !complete && !final && len(all) > 0 {
		s.partial = []byte(all[len(all)-1])
		all = all[:len(all)-1]
	}
	for _, text := range all {
		text = strings.TrimRight(text, "\r")
		if text == "" {
			continue
		}
		t := lineTime(text)
		if t.IsZero() {
			t = s.last
		} else {
			s.last = t
			for _, i := range pending {
				out[i].Time = t
			}
			pending = nil
		}
		out = append(out, Line{Time: t, Service: s.service, Message: text})
		if t.IsZero() {
			pending = append(pending, len(out)-1)
		}
	}
	for _, i := range pending {
		out[i].Time = fallback
	}
	var kept []Line
	for _, l := range out {
		if l.Time.Before(q.Since) || !q.match(l.Message) {
			continue
		}
		l.Host = q.Host
		kept = append(kept, l)
	}
	return kept
}

func inode(st fs.FileInfo) uint64 { return fileInode(st) }

// String is for error messages.
func (s *source) String() string { return fmt.Sprintf("%s (%s)", s.file, s.service) }
