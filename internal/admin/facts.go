package admin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/target"
)

// AWSKeystoneKeys is where the jump server mounts the Keystone key sets' EFS access point
// (the agent's Paths.KeystoneKeys on EC2).
const AWSKeystoneKeys = "/opt/keystone-keys"

// KeySetView is one shared Keystone key set (fernet or credential) with each key's age.
// The check engine compares the nodes' sets by digest only; the ages come from the files
// of the shared set the nodes install from. A rotation (internal/roles/keystone rotate.go)
// writes the new primary and a new staged key 0 and leaves the secondaries alone, so a
// key's file time is when it took its place: the primary's is the last rotation, a
// secondary's when it was the primary.
type KeySetView struct {
	Name  string   `json:"name"`
	Dir   string   `json:"dir"`
	Keys  []KeyAge `json:"keys,omitempty"`
	Error string   `json:"error,omitempty"`
	// LastRotation is when the primary key took its place: the last rotation (or setup).
	LastRotation time.Time `json:"last_rotation,omitzero"`
}

// KeyAge is one key of a set.
type KeyAge struct {
	Index   int       `json:"index"`
	Role    string    `json:"role"` // staged (0), primary (highest), secondary
	Created time.Time `json:"created"`
	AgeDays float64   `json:"age_days"`
}

// keystoneKeysDir is where the shared key sets are: the configured directory, the EFS mount
// on AWS, or inside the local target's shared store.
func (c *Config) keystoneKeysDir(t *target.Target) string {
	switch {
	case c.KeystoneKeys != "":
		return c.KeystoneKeys
	case t.Kind == target.KindAWS:
		return AWSKeystoneKeys
	case t.SharedDir != "":
		return filepath.Join(t.SharedDir, "ssl-certs", "keystone")
	}
	return ""
}

func keySets(dir string, now time.Time) []KeySetView {
	if dir == "" {
		return nil
	}
	var out []KeySetView
	for _, name := range []string{"fernet", "credential"} {
		kv := KeySetView{Name: name, Dir: filepath.Join(dir, name+"-keys")}
		entries, err := os.ReadDir(kv.Dir)
		if err != nil {
			kv.Error = err.Error()
			out = append(out, kv)
			continue
		}
		for _, e := range entries {
			i, err := strconv.Atoi(e.Name())
			if err != nil || !e.Type().IsRegular() {
				continue // keys are files 0, 1, 2 ...
			}
			info, err := e.Info()
			if err != nil {
				continue // removed by a rotation meanwhile
			}
			kv.Keys = append(kv.Keys, KeyAge{Index: i, Created: info.ModTime().UTC(), AgeDays: now.Sub(info.ModTime()).Hours() / 24})
		}
		sort.Slice(kv.Keys, func(i, j int) bool { return kv.Keys[i].Index < kv.Keys[j].Index })
		for i := range kv.Keys {
			switch {
			case kv.Keys[i].Index == 0:
				kv.Keys[i].Role = "staged"
			case i == len(kv.Keys)-1:
				kv.Keys[i].Role = "primary"
				kv.LastRotation = kv.Keys[i].Created
			default:
				kv.Keys[i].Role = "secondary"
			}
		}
		if len(kv.Keys) == 0 {
			kv.Error = kv.Dir + " holds no keys (files 0, 1, ...)"
		}
		out = append(out, kv)
	}
	return out
}

// DeploySummary is the last deployment's document said in words: its scalar fields, its
// hosts with what each did, and a count for every other list. It reads the document
// generically so that it stays readable when the document gains fields.
type DeploySummary struct {
	Fields []Field      `json:"fields"`
	Hosts  []DeployHost `json:"hosts,omitempty"`
	Lists  []Field      `json:"lists,omitempty"`
	Failed bool         `json:"failed"`
}

// Field is one labelled value.
type Field struct{ Name, Value string }

// DeployHost is one host's part of a deployment.
type DeployHost struct {
	Host, Role, Result, Changed, Duration string
	Failed                                bool
}

func summarizeDeploy(doc any) *DeploySummary {
	m, isObj := doc.(map[string]any)
	if !isObj {
		return nil
	}
	d := &DeploySummary{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case []any:
			if k == "hosts" {
				d.Hosts = deployHosts(v)
				for _, h := range d.Hosts {
					d.Failed = d.Failed || h.Failed
				}
				continue
			}
			d.Lists = append(d.Lists, Field{label(k), listSummary(v)})
		case map[string]any:
			d.Lists = append(d.Lists, Field{label(k), fmt.Sprintf("%d entries", len(v))})
		default:
			d.Fields = append(d.Fields, Field{label(k), scalar(k, v)})
		}
	}
	return d
}

func deployHosts(items []any) []DeployHost {
	var out []DeployHost
	for _, it := range items {
		h, isObj := it.(map[string]any)
		if !isObj {
			continue
		}
		dh := DeployHost{Host: str(h["host"]), Role: str(h["role"]), Result: "ok"}
		switch {
		case str(h["error"]) != "":
			dh.Result, dh.Failed = "failed: "+str(h["error"]), true
		case str(h["skipped"]) != "":
			dh.Result = "skipped: " + str(h["skipped"])
		}
		if ch, isList := h["changed"].([]any); isList && len(ch) > 0 {
			names := make([]string, 0, len(ch))
			for _, c := range ch {
				names = append(names, str(c))
			}
			dh.Changed = strings.Join(names, ", ")
		} else {
			dh.Changed = "nothing"
		}
		for k, v := range h {
			if strings.HasPrefix(k, "duration") {
				dh.Duration = scalar(k, v)
			}
		}
		out = append(out, dh)
	}
	return out
}

// listSummary counts a list, and its good entries when they say so (ok, or a status).
func listSummary(items []any) string {
	good, judged := 0, 0
	for _, it := range items {
		m, isObj := it.(map[string]any)
		if !isObj {
			continue
		}
		if ok, has := m["ok"].(bool); has {
			judged++
			if ok {
				good++
			}
		} else if st, has := m["status"].(string); has {
			judged++
			if st == "ok" || st == "skip" {
				good++
			}
		}
	}
	if judged > 0 {
		return fmt.Sprintf("%d of %d ok", good, len(items))
	}
	return fmt.Sprintf("%d entries", len(items))
}

func label(k string) string {
	k = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(k, "_ns"), "_ms"), "_seconds")
	k = strings.ReplaceAll(k, "_", " ")
	if k == "" {
		return k
	}
	return strings.ToUpper(k[:1]) + k[1:]
}

// scalar says one value, durations by the unit their name ends with.
func scalar(k string, v any) string {
	if n, isNum := v.(float64); isNum {
		switch {
		case strings.HasSuffix(k, "_ns"):
			return time.Duration(n).Round(time.Millisecond).String()
		case strings.HasSuffix(k, "_ms"):
			return (time.Duration(n) * time.Millisecond).String()
		case strings.HasSuffix(k, "_seconds"):
			return (time.Duration(n * float64(time.Second))).Round(time.Millisecond).String()
		}
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	if b, isBool := v.(bool); isBool {
		if b {
			return "yes"
		}
		return "no"
	}
	s := str(v)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	return s
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}
