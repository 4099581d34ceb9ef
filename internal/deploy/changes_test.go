package deploy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

// planJSON is a plan as `terraform show -json` prints it: a replacement forced by ami, an
// update of a secret (sensitive) and of tags, a create with unknown values, a delete.
const planJSON = `{"format_version":"1.2","resource_changes":[
{"address":"module.compute.aws_instance.this[\"keystone02\"]","mode":"managed","type":"aws_instance","name":"this",
 "change":{"actions":["delete","create"],
  "before":{"ami":"ami-old","id":"i-0abc","instance_type":"t3.medium","user_data":"#!/bin/sh\nexit 0\n","tags":{"Name":"keystone02"}},
  "after":{"ami":"ami-new","instance_type":"t3.medium","user_data":"#!/bin/sh\nexit 0\n","tags":{"Name":"keystone02"}},
  "after_unknown":{"id":true,"private_ip":true},
  "before_sensitive":{"user_data":true},"after_sensitive":{"user_data":true},
  "replace_paths":[["ami"]]},
 "action_reason":"replace_because_cannot_update"},
{"address":"aws_secretsmanager_secret_version.db","mode":"managed","type":"aws_secretsmanager_secret_version","name":"db",
 "change":{"actions":["update"],
  "before":{"secret_string":"hunter2-old","version_stages":["AWSCURRENT"],"tags":{"Env":"dev","kubernetes.io/role":"x"}},
  "after":{"secret_string":"hunter2-new","version_stages":["AWSCURRENT"],"tags":{"Env":"prod","kubernetes.io/role":"x","Owner":"ops"}},
  "after_unknown":{},
  "before_sensitive":{"secret_string":true},"after_sensitive":{"secret_string":true}}},
{"address":"aws_security_group.web","mode":"managed","type":"aws_security_group","name":"web",
 "change":{"actions":["create"],"before":null,
  "after":{"name":"web","description":"","ingress":[{"from_port":443,"cidr_blocks":["10.0.0.0/16"]}],"egress":[]},
  "after_unknown":{"id":true,"ingress":[{"cidr_blocks":[false]}]},
  "before_sensitive":false,"after_sensitive":{"ingress":[{"cidr_blocks":[false]}]}}},
{"address":"aws_subnet.old","mode":"managed","type":"aws_subnet","name":"old",
 "change":{"actions":["delete"],"before":{"id":"subnet-1","cidr_block":"10.0.9.0/24"},"after":null},
 "action_reason":"delete_because_no_resource_config"}
]}`

func TestChangesResourceByResource(t *testing.T) {
	var p tfjson.Plan
	if err := json.Unmarshal([]byte(planJSON), &p); err != nil {
		t.Fatal(err)
	}
	s := Summarize(&p)
	if len(s.Changes) != 4 {
		t.Fatalf("changes %+v", s.Changes)
	}
	attrs := func(c Change) map[string]AttrChange {
		m := map[string]AttrChange{}
		for _, a := range c.Attributes {
			m[a.Path] = a
		}
		return m
	}

	inst := s.Changes[0]
	if inst.Action != "replace" || strings.Join(inst.ReplacePaths, ",") != "ami" || inst.Reason != "replace_because_cannot_update" {
		t.Errorf("replacement: %+v", inst)
	}
	ia := attrs(inst)
	if a := ia["ami"]; a.Before != `"ami-old"` || a.After != `"ami-new"` || !a.ForcesReplacement {
		t.Errorf("ami: %+v", a)
	}
	if a := ia["id"]; a.Before != `"i-0abc"` || a.After != KnownAfterApply || a.ForcesReplacement {
		t.Errorf("id: %+v", a)
	}
	if a := ia["private_ip"]; a.Before != "" || a.After != KnownAfterApply {
		t.Errorf("private_ip: %+v", a)
	}
	for _, unchanged := range []string{"instance_type", "user_data", "tags.Name"} {
		if a, ok := ia[unchanged]; ok {
			t.Errorf("unchanged attribute listed: %+v", a)
		}
	}

	sec := attrs(s.Changes[1])
	if a := sec["secret_string"]; !a.Sensitive || a.Before != SensitiveValue || a.After != SensitiveValue {
		t.Errorf("secret_string: %+v", a)
	}
	if a := sec["tags.Env"]; a.Before != `"dev"` || a.After != `"prod"` {
		t.Errorf("tags.Env: %+v", a)
	}
	if a := sec["tags.Owner"]; a.Before != "" || a.After != `"ops"` {
		t.Errorf("tags.Owner: %+v", a)
	}
	if _, ok := sec[`tags["kubernetes.io/role"]`]; ok || len(sec) != 3 {
		t.Errorf("secret version attributes: %+v", s.Changes[1].Attributes)
	}

	sg := attrs(s.Changes[2])
	if a := sg["ingress[0].from_port"]; a.After != "443" {
		t.Errorf("created attributes: %+v", s.Changes[2].Attributes)
	}
	if _, ok := sg["description"]; ok {
		t.Error("an empty attribute of a created resource is listed")
	}
	if _, ok := sg["egress"]; ok {
		t.Error("an empty list of a created resource is listed")
	}
	if a := sg["id"]; a.After != KnownAfterApply {
		t.Errorf("id of a created resource: %+v", a)
	}
	if del := s.Changes[3]; del.Action != "delete" || len(del.Attributes) != 0 {
		t.Errorf("delete: %+v", del)
	}

	var b bytes.Buffer
	WriteChanges(&b, s)
	out := b.String()
	for _, want := range []string{
		`-/+ replace module.compute.aws_instance.this["keystone02"]  (forced by ami)`,
		`ami  "ami-old" -> "ami-new"  # forces replacement`,
		"      (and 2 attribute(s) known after apply)\n~   update",
		`~   update  aws_secretsmanager_secret_version.db`,
		`secret_string  (sensitive value) -> (sensitive value)`,
		`tags.Env       "dev" -> "prod"`,
		`+   create  aws_security_group.web`,
		`ingress[0].cidr_blocks  = ["10.0.0.0/16"]`,
		"(and 1 attribute(s) known after apply)",
		`-   delete  aws_subnet.old  (no longer in the configuration)`,
		"Plan: 2 to add, 1 to change, 2 to destroy.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2", "exit 0"} {
		if strings.Contains(out, secret) {
			t.Errorf("a sensitive value is printed:\n%s", out)
		}
		j, _ := json.Marshal(s)
		if strings.Contains(string(j), secret) {
			t.Errorf("a sensitive value is in the JSON: %s", j)
		}
	}
}

func TestShortenLongValues(t *testing.T) {
	long := `"` + strings.Repeat("a", 300) + `"`
	if got := shorten(long); len(got) > maxValue || !strings.HasSuffix(got, "...") {
		t.Errorf("shorten: %q", got)
	}
	script := `"#!/bin/sh\n` + strings.Repeat("echo hi\n", 40) + `"`
	if got := shorten(script); !strings.Contains(got, "characters)") {
		t.Errorf("shorten script: %q", got)
	}
	if pathString([]any{"tags", "kubernetes.io/role"}) != `tags["kubernetes.io/role"]` || pathString([]any{"ingress", float64(0), "from_port"}) != "ingress[0].from_port" {
		t.Error("pathString")
	}
}
