package deploy

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	tfjson "github.com/hashicorp/terraform-json"
)

// Counts are add/change/destroy numbers, as Terraform reports them (a replacement counts
// as one add and one destroy).
type Counts struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

func (c Counts) String() string {
	return fmt.Sprintf("%d to add, %d to change, %d to destroy", c.Add, c.Change, c.Destroy)
}

// Change is one resource change of a plan.
type Change struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Action  string `json:"action"` // create, update, delete, replace
}

// Summary is what a plan will do.
type Summary struct {
	Counts
	ByType  map[string]Counts `json:"by_type"`
	Changes []Change          `json:"changes"`
}

// Empty reports whether the plan changes nothing.
func (s Summary) Empty() bool { return len(s.Changes) == 0 }

// Steps is how many apply operations Terraform will report complete: one per change, two
// for a replacement (delete and create).
func (s Summary) Steps() int {
	n := 0
	for _, c := range s.Changes {
		n++
		if c.Action == "replace" {
			n++
		}
	}
	return n
}

// Summarize counts the managed resource changes of a plan.
func Summarize(p *tfjson.Plan) Summary {
	s := Summary{ByType: map[string]Counts{}}
	if p == nil {
		return s
	}
	for _, rc := range p.ResourceChanges {
		if rc.Mode != tfjson.ManagedResourceMode || rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		var action string
		c := s.ByType[rc.Type]
		switch {
		case a.Replace():
			action = "replace"
			c.Add++
			c.Destroy++
			s.Add++
			s.Destroy++
		case a.Create():
			action = "create"
			c.Add++
			s.Add++
		case a.Update():
			action = "update"
			c.Change++
			s.Change++
		case a.Delete():
			action = "delete"
			c.Destroy++
			s.Destroy++
		default:
			continue // no-op, read
		}
		s.ByType[rc.Type] = c
		s.Changes = append(s.Changes, Change{Address: rc.Address, Type: rc.Type, Action: action})
	}
	return s
}

// WriteSummary prints the plan summary as a table by resource type.
func WriteSummary(w io.Writer, s Summary) {
	if s.Empty() {
		fmt.Fprintln(w, "No changes: the infrastructure matches the configuration.")
		return
	}
	types := make([]string, 0, len(s.ByType))
	for t := range s.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE TYPE\tADD\tCHANGE\tDESTROY")
	for _, t := range types {
		c := s.ByType[t]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", t, c.Add, c.Change, c.Destroy)
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\n", s.Add, s.Change, s.Destroy)
	tw.Flush()
	var notable []string
	for _, c := range s.Changes {
		if c.Action == "replace" || c.Action == "delete" {
			notable = append(notable, fmt.Sprintf("  %s %s", c.Action, c.Address))
		}
	}
	if n := len(notable); n > 20 {
		notable = append(notable[:20], fmt.Sprintf("  ... and %d more", n-20))
	}
	if len(notable) > 0 {
		fmt.Fprintln(w, "Replaced or destroyed:")
		fmt.Fprintln(w, strings.Join(notable, "\n"))
	}
	fmt.Fprintf(w, "Plan: %s.\n", s.Counts)
}
