package deploy

import (
	"fmt"

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
	// Reason is Terraform's action_reason keyword (replace_because_tainted,
	// delete_because_no_resource_config...), when it gives one.
	Reason string `json:"reason,omitempty"`
	// ReplacePaths are the attributes whose change forces the replacement.
	ReplacePaths        []string `json:"replace_paths,omitempty"`
	CreateBeforeDestroy bool     `json:"create_before_destroy,omitempty"`
	// Attributes that change (all set attributes of a created resource; none for a
	// delete). Sensitive values are never included.
	Attributes []AttrChange `json:"attributes,omitempty"`
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
		ch := Change{Address: rc.Address, Type: rc.Type, Action: action}
		resourceDetail(&ch, rc)
		s.Changes = append(s.Changes, ch)
	}
	return s
}
