package release

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cso-ssp/platform/internal/awstest"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// createVPC makes a VPC in moto through the EC2 query API (target groups need one; the
// project has no EC2 client otherwise).
func createVPC(t *testing.T, m *awstest.Server) string {
	t.Helper()
	form := url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"10.0.0.0/16"}, "Version": {"2016-11-15"}}
	req, err := http.NewRequest(http.MethodPost, m.URL+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+awstest.AccessKeyID+"/20260101/"+awstest.Region+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	id := regexp.MustCompile(`<vpcId>(vpc-[0-9a-f]+)</vpcId>`).FindSubmatch(body)
	if id == nil {
		t.Fatalf("CreateVpc: HTTP %d %s", resp.StatusCode, body)
	}
	return string(id[1])
}

// members lists the instance IDs registered in a target group.
func members(t *testing.T, c *elb.Client, arn string) []string {
	t.Helper()
	out, err := c.DescribeTargetHealth(context.Background(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		ids = append(ids, aws.ToString(d.Target.Id))
	}
	slices.Sort(ids)
	return ids
}

// TestAWSDrainAndRestore: through moto's ELBv2, a host leaves every target group of its
// environment it is in (the frontend's and a backend service's), and only those; its
// peer and another environment's groups are untouched; Restore puts it back where it was,
// healthy.
func TestAWSDrainAndRestore(t *testing.T) {
	m := awstest.Moto(t)
	c := elb.NewFromConfig(m.Config())
	ctx := context.Background()
	vpc := createVPC(t, m)
	tg := func(name string, port int32) string {
		out, err := c.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(port), VpcId: aws.String(vpc), TargetType: elbtypes.TargetTypeEnumInstance})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.TargetGroups[0].TargetGroupArn)
	}
	reg := func(arn string, port int32, ids ...string) {
		var ts []elbtypes.TargetDescription
		for _, id := range ids {
			ts = append(ts, elbtypes.TargetDescription{Id: aws.String(id), Port: aws.Int32(port)})
		}
		if _, err := c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: ts}); err != nil {
			t.Fatal(err)
		}
	}
	const me, peer = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"
	front := tg("rel-frontend-tg", 8102)
	cust := tg("rel-be-customers", 8090)
	other := tg("other-frontend-tg", 8102)
	reg(front, 8102, me, peer)
	reg(cust, 8090, me)
	reg(other, 8102, me)

	a := &AWS{ELB: c, Env: "rel", Instances: map[string]string{"frontend-server-1": me}, Poll: 50 * time.Millisecond,
		DrainTimeout: 20 * time.Second, HealthyTimeout: 20 * time.Second}
	h := inventory.Host{Name: "frontend-server-1", Role: envfile.RoleFrontend, Index: 1}
	if err := a.Drain(ctx, h); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := members(t, c, front); !slices.Equal(got, []string{peer}) {
		t.Errorf("frontend group after drain: %v, want only the peer", got)
	}
	if got := members(t, c, cust); len(got) != 0 {
		t.Errorf("backend service group after drain: %v, want empty", got)
	}
	if got := members(t, c, other); !slices.Equal(got, []string{me}) {
		t.Errorf("another environment's group was touched: %v", got)
	}
	if err := a.Restore(ctx, h); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := members(t, c, front); !slices.Equal(got, []string{me, peer}) {
		t.Errorf("frontend group after restore: %v", got)
	}
	if got := members(t, c, cust); !slices.Equal(got, []string{me}) {
		t.Errorf("backend service group after restore: %v", got)
	}
	// A host in no group has nothing to drain.
	a.Instances["backend-server-9"] = "i-0ccccccccccccccc3"
	if err := a.Drain(ctx, inventory.Host{Name: "backend-server-9", Role: envfile.RoleBackend}); err != nil {
		t.Errorf("drain of a host in no group: %v", err)
	}
	if err := a.Drain(ctx, inventory.Host{Name: "frontend-server-7"}); err == nil || !strings.Contains(err.Error(), "no EC2 instance") {
		t.Errorf("drain of an unknown host: %v", err)
	}
}
