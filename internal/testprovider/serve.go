package testprovider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tfprotov5/tf5server"
)

// Serve loads the schema of provider name and serves it to Terraform until it exits.
func Serve(ctx context.Context, name string) error {
	ps, err := LoadSchema(name)
	if err != nil {
		return err
	}
	addr := "registry.terraform.io/hashicorp/" + name
	return tf5server.Serve(addr, func() tfprotov5.ProviderServer { return NewServer(ps) })
}

// Describe is a one-line summary for humans (used by the binary's -describe flag).
func Describe(ps *ProviderSchema) string {
	return fmt.Sprintf("%s %s: %d resources, %d data sources", ps.Name, ps.Version, len(ps.Resources), len(ps.DataSources))
}
