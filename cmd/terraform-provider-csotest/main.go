// Command terraform-provider-csotest is the offline test provider: one binary that
// serves hashicorp/aws, hashicorp/tls or hashicorp/random (decided by its file name,
// e.g. terraform-provider-aws_v6.25.0, or $CSO_TESTPROVIDER_NAME) with the real schemas
// extracted from the cdktf provider packages. Terraform starts it; run by hand with
// -describe NAME to check the schema loads.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/cso-ssp/platform/internal/testprovider"
)

func main() {
	describe := flag.String("describe", "", "print a summary of provider `NAME`'s schema (aws, tls, random) and exit")
	flag.Parse()
	if *describe != "" {
		ps, err := testprovider.LoadSchema(*describe)
		if err != nil {
			fmt.Fprintln(os.Stderr, "terraform-provider-csotest:", err)
			os.Exit(1)
		}
		fmt.Println(testprovider.Describe(ps))
		return
	}
	name, err := testprovider.ProviderNameFromExecutable(os.Args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "terraform-provider-csotest:", err)
		os.Exit(1)
	}
	if err := testprovider.Serve(context.Background(), name); err != nil {
		fmt.Fprintln(os.Stderr, "terraform-provider-csotest:", err)
		os.Exit(1)
	}
}
