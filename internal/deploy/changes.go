package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Placeholders shown instead of values (never the value itself when sensitive).
const (
	SensitiveValue  = "(sensitive value)"
	KnownAfterApply = "(known after apply)"
)

// AttrChange is one attribute of a resource change: its path (a.b[0].c), the value before
// and after as Terraform literals (JSON), "" for absent. Sensitive values are replaced by
// SensitiveValue, unknown ones by KnownAfterApply.
type AttrChange struct {
	Path   string `json:"path"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Sensitive: the value before or after is sensitive; neither is shown.
	Sensitive bool `json:"sensitive,omitempty"`
	// ForcesReplacement: Terraform must replace the resource because of this attribute.
	ForcesReplacement bool `json:"forces_replacement,omitempty"`
}

// resourceDetail fills c's attributes, reason and replacement paths from rc.
func resourceDetail(c *Change, rc *tfjson.ResourceChange) {
	ch := rc.Change
	c.Reason = string(rc.ActionReason)
	if ch.Actions.Replace() && ch.Actions.CreateBeforeDestroy() {
		c.CreateBeforeDestroy = true
	}
	for _, p := range ch.ReplacePaths {
		if steps, ok := p.([]any); ok {
			c.ReplacePaths = append(c.ReplacePaths, pathString(steps))
		}
	}
	if c.Action == "delete" {
		return // everything goes: the address says it all
	}
	d := differ{replace: c.ReplacePaths}
	d.walk(nil, ch.Before, ch.After, ch.BeforeSensitive, ch.AfterSensitive, ch.AfterUnknown)
	c.Attributes = d.out
}

type differ struct {
	replace []string
	out     []AttrChange
}

// walk compares before and after at path, descending into objects and into lists whose
// elements are objects; masks are Terraform's before_sensitive, after_sensitive and
// after_unknown, shaped like the values (true for the whole subtree).
func (d *differ) walk(path []any, before, after, bSens, aSens, unknown any) {
	if unknown == true {
		d.add(path, before, nil, bSens == true, false, true)
		return
	}
	if bSens == true || aSens == true {
		// Compare (values are in the plan JSON) but never print them.
		if !reflect.DeepEqual(before, after) {
			d.add(path, before, after, true, true, false)
		}
		return
	}
	bm, bIsMap := before.(map[string]any)
	am, aIsMap := after.(map[string]any)
	if (bIsMap || before == nil) && (aIsMap || after == nil) && (bIsMap || aIsMap) {
		keys := map[string]bool{}
		for k := range bm {
			keys[k] = true
		}
		for k := range am {
			keys[k] = true
		}
		for k := range maskKeys(unknown) {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			d.walk(append(path[:len(path):len(path)], k), bm[k], am[k], maskAt(bSens, k), maskAt(aSens, k), maskAt(unknown, k))
		}
		return
	}
	bl, bIsList := before.([]any)
	al, aIsList := after.([]any)
	if (bIsList || before == nil) && (aIsList || after == nil) && (hasObject(bl) || hasObject(al) || hasMask(unknown) || hasMask(bSens) || hasMask(aSens)) {
		n := max(len(bl), len(al))
		for i := range n {
			var b, a any
			if i < len(bl) {
				b = bl[i]
			}
			if i < len(al) {
				a = al[i]
			}
			d.walk(append(path[:len(path):len(path)], i), b, a, maskAt(bSens, i), maskAt(aSens, i), maskAt(unknown, i))
		}
		return
	}
	if isEmpty(before) && isEmpty(after) || reflect.DeepEqual(before, after) {
		return
	}
	d.add(path, before, after, false, true, false)
}

func (d *differ) add(path []any, before, after any, sensitive, hasAfter, unknown bool) {
	a := AttrChange{Path: pathString(path), Sensitive: sensitive}
	switch {
	case sensitive:
		if before != nil {
			a.Before = SensitiveValue
		}
		if after != nil || unknown {
			a.After = SensitiveValue
		}
	default:
		a.Before = literal(before)
		if hasAfter {
			a.After = literal(after)
		}
	}
	if unknown {
		a.After = KnownAfterApply
	}
	for _, r := range d.replace {
		if a.Path == r || strings.HasPrefix(a.Path, r+".") || strings.HasPrefix(a.Path, r+"[") {
			a.ForcesReplacement = true
		}
	}
	d.out = append(d.out, a)
}

// maskAt is the part of a sensitivity or unknown mask for key (a string or an index).
func maskAt(mask any, key any) any {
	switch m := mask.(type) {
	case bool:
		if m {
			return true
		}
	case map[string]any:
		if k, ok := key.(string); ok {
			return m[k]
		}
	case []any:
		if i, ok := key.(int); ok && i < len(m) {
			return m[i]
		}
	}
	return nil
}

func maskKeys(mask any) map[string]any {
	m, _ := mask.(map[string]any)
	return m
}

// hasMask reports whether a mask marks anything below it.
func hasMask(mask any) bool {
	switch m := mask.(type) {
	case bool:
		return m
	case map[string]any:
		for _, v := range m {
			if hasMask(v) {
				return true
			}
		}
	case []any:
		for _, v := range m {
			if hasMask(v) {
				return true
			}
		}
	}
	return false
}

func hasObject(l []any) bool {
	for _, v := range l {
		if _, ok := v.(map[string]any); ok {
			return true
		}
	}
	return false
}

// isEmpty: null, "", an empty list or map (unset in Terraform's eyes for display).
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// literal renders a value as compact JSON ("" for null).
func literal(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// pathString renders a Terraform attribute path: a.b[0]["key with dots"].
func pathString(steps []any) string {
	var b strings.Builder
	for _, s := range steps {
		switch x := s.(type) {
		case string:
			if !identifier(x) {
				fmt.Fprintf(&b, "[%s]", strconv.Quote(x))
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(x)
		case int:
			fmt.Fprintf(&b, "[%d]", x)
		case float64: // JSON numbers in replace_paths
			fmt.Fprintf(&b, "[%d]", int(x))
		default:
			fmt.Fprintf(&b, "[%v]", x)
		}
	}
	return b.String()
}

// actionSigns are Terraform's own markers.
func actionSign(c Change) string {
	switch c.Action {
	case "create":
		return "+"
	case "update":
		return "~"
	case "delete":
		return "-"
	case "replace":
		if c.CreateBeforeDestroy {
			return "+/-"
		}
		return "-/+"
	}
	return "?"
}

// reasons in words, for the keywords an operator meets.
var reasons = map[string]string{
	"replace_because_tainted":           "tainted",
	"replace_by_request":                "replacement requested",
	"replace_by_triggers":               "replace_triggered_by changed",
	"delete_because_no_resource_config": "no longer in the configuration",
	"delete_because_wrong_repetition":   "count/for_each changed",
	"delete_because_count_index":        "count decreased",
	"delete_because_each_key":           "for_each key removed",
	"delete_because_no_module":          "its module is gone",
	"delete_because_no_move_target":     "moved to an address without configuration",
	"read_because_config_unknown":       "",
}

// maxValue bounds a value in the text view (user data, policies); -o json has it whole.
const maxValue = 100

func shorten(s string) string {
	if s == SensitiveValue || s == KnownAfterApply {
		return s
	}
	if strings.Contains(s, `\n`) && len(s) > maxValue {
		return fmt.Sprintf("%s... (%d characters)", s[:maxValue-30], len(s))
	}
	if len(s) > maxValue {
		return s[:maxValue-3] + "..."
	}
	return s
}

// WriteChanges prints the plan resource by resource, as Terraform's markers (+ create,
// ~ update, -/+ replace, - delete), with the attributes that change; a replacement names
// the attributes that force it; sensitive values are never printed.
func WriteChanges(w io.Writer, s Summary) {
	if s.Empty() {
		fmt.Fprintln(w, "No changes: the infrastructure matches the configuration.")
		return
	}
	for _, c := range s.Changes {
		head := fmt.Sprintf("%-3s %-7s %s", actionSign(c), c.Action, c.Address)
		var why []string
		if len(c.ReplacePaths) > 0 {
			why = append(why, "forced by "+strings.Join(c.ReplacePaths, ", "))
		}
		if r := reasons[c.Reason]; r != "" {
			why = append(why, r)
		}
		if len(why) > 0 {
			head += "  (" + strings.Join(why, "; ") + ")"
		}
		fmt.Fprintln(w, head)
		// A created or replaced resource's values that only the cloud knows are counted,
		// not listed: there are many (ids, ARNs, addresses) and they say nothing yet.
		// -o json has them.
		shown, later := c.Attributes, 0
		if c.Action == "create" || c.Action == "replace" {
			shown = nil
			for _, a := range c.Attributes {
				if a.After == KnownAfterApply && !a.ForcesReplacement {
					later++
				} else {
					shown = append(shown, a)
				}
			}
		}
		width := 0
		for _, a := range shown {
			width = max(width, len(a.Path))
		}
		for _, a := range shown {
			fmt.Fprintf(w, "      %-*s  %s\n", width, a.Path, attrText(c.Action, a))
		}
		if later > 0 {
			fmt.Fprintf(w, "      (and %d attribute(s) known after apply)\n", later)
		}
	}
	fmt.Fprintf(w, "Plan: %s.\n", s.Counts)
}

func attrText(action string, a AttrChange) string {
	var s string
	switch {
	case action == "create":
		s = "= " + shorten(a.After)
	case a.Before == "":
		s = "+ " + shorten(a.After)
	case a.After == "":
		s = "- " + shorten(a.Before) + " (removed)"
	default:
		s = shorten(a.Before) + " -> " + shorten(a.After)
	}
	if a.ForcesReplacement {
		s += "  # forces replacement"
	}
	return s
}

// identifier: a key that reads well after a dot (attribute names, most map keys).
func identifier(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if r != '_' && r != '-' && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z') && !(i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
