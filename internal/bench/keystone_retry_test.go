package bench

import (
	"context"
	"testing"
)

// With RetryOtherNode, a node that is gone costs a retry on the other node, not a failed
// request; without it, every request to that node fails.
func TestKeystoneRetryOnOtherNode(t *testing.T) {
	tg, ks := fakePair(t, "pw")
	nodes, err := KeystoneNodes(tg)
	if err != nil {
		t.Fatal(err)
	}
	ks[0].Server.Close() // keystone01 goes away (a reboot)
	o := goodOptions()
	o.Op, o.Password, o.Requests, o.Clients = OpIssue, "pw", 20, 2

	res, err := Keystone(context.Background(), tg, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 10 || res.Failed != 10 || res.Retried != 0 {
		t.Errorf("without retry: %+v, want 10 ok (keystone02) and 10 failed (keystone01)", res)
	}

	o.RetryOtherNode = true
	res, err = Keystone(context.Background(), tg, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 20 || res.Failed != 0 || res.Retried != 10 || res.PerNode["keystone02"] != 20 {
		t.Errorf("with retry: %+v, want 20 ok, 10 retried on keystone02", res)
	}
	if got := len(ks[1].Issued()); got != 30 {
		t.Errorf("keystone02 issued %d tokens, want 30", got)
	}
}
