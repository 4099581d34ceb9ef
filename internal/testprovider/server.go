package testprovider

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Server implements tfprotov5.ProviderServer over an extracted schema.
type Server struct {
	schema *ProviderSchema
	mu     sync.Mutex
	state  providerState

	protoOnce sync.Once
	proto     *tfprotov5.GetProviderSchemaResponse
}

var _ tfprotov5.ProviderServer = (*Server)(nil)

// NewServer serves ps.
func NewServer(ps *ProviderSchema) *Server {
	return &Server{schema: ps, state: providerState{name: ps.Name}}
}

func errDiag(summary, detail string) []*tfprotov5.Diagnostic {
	return []*tfprotov5.Diagnostic{{Severity: tfprotov5.DiagnosticSeverityError, Summary: summary, Detail: detail}}
}

// recoverDiag turns a panic in a handler into an error diagnostic naming the resource.
func recoverDiag(what string, diags *[]*tfprotov5.Diagnostic) {
	if r := recover(); r != nil {
		*diags = append(*diags, errDiag("testprovider internal error in "+what,
			fmt.Sprintf("%v\n%s", r, debug.Stack()))...)
	}
}

func (s *Server) GetMetadata(context.Context, *tfprotov5.GetMetadataRequest) (*tfprotov5.GetMetadataResponse, error) {
	resp := &tfprotov5.GetMetadataResponse{ServerCapabilities: &tfprotov5.ServerCapabilities{PlanDestroy: true}}
	for _, n := range sortedKeys(s.schema.Resources) {
		resp.Resources = append(resp.Resources, tfprotov5.ResourceMetadata{TypeName: n})
	}
	for _, n := range sortedKeys(s.schema.DataSources) {
		resp.DataSources = append(resp.DataSources, tfprotov5.DataSourceMetadata{TypeName: n})
	}
	return resp, nil
}

func sortedKeys(m map[string]*Block) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) GetProviderSchema(context.Context, *tfprotov5.GetProviderSchemaRequest) (*tfprotov5.GetProviderSchemaResponse, error) {
	s.protoOnce.Do(func() {
		r := &tfprotov5.GetProviderSchemaResponse{
			ServerCapabilities: &tfprotov5.ServerCapabilities{PlanDestroy: true},
			Provider:           &tfprotov5.Schema{Block: s.schema.Provider.Proto()},
			ResourceSchemas:    map[string]*tfprotov5.Schema{},
			DataSourceSchemas:  map[string]*tfprotov5.Schema{},
		}
		for n, b := range s.schema.Resources {
			r.ResourceSchemas[n] = &tfprotov5.Schema{Block: b.Proto()}
		}
		for n, b := range s.schema.DataSources {
			r.DataSourceSchemas[n] = &tfprotov5.Schema{Block: b.Proto()}
		}
		s.proto = r
	})
	return s.proto, nil
}

func (s *Server) GetResourceIdentitySchemas(context.Context, *tfprotov5.GetResourceIdentitySchemasRequest) (*tfprotov5.GetResourceIdentitySchemasResponse, error) {
	return &tfprotov5.GetResourceIdentitySchemasResponse{IdentitySchemas: map[string]*tfprotov5.ResourceIdentitySchema{}}, nil
}

func (s *Server) PrepareProviderConfig(_ context.Context, req *tfprotov5.PrepareProviderConfigRequest) (*tfprotov5.PrepareProviderConfigResponse, error) {
	return &tfprotov5.PrepareProviderConfigResponse{PreparedConfig: req.Config}, nil
}

func (s *Server) ConfigureProvider(_ context.Context, req *tfprotov5.ConfigureProviderRequest) (resp *tfprotov5.ConfigureProviderResponse, _ error) {
	resp = &tfprotov5.ConfigureProviderResponse{}
	defer recoverDiag("ConfigureProvider", &resp.Diagnostics)
	if req.Config == nil {
		return resp, nil
	}
	v, err := req.Config.Unmarshal(s.schema.Provider.ObjectType())
	if err != nil {
		resp.Diagnostics = errDiag("invalid provider configuration", err.Error())
		return resp, nil
	}
	if v.IsNull() || !v.IsKnown() {
		return resp, nil
	}
	m := objMap(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := str(m["region"]); ok {
		s.state.region = r
	}
	if dt, ok := m["default_tags"]; ok && dt.IsKnown() && !dt.IsNull() {
		for _, e := range elems(dt) {
			if e.IsKnown() && !e.IsNull() {
				if tags, ok := strMap(objMap(e)["tags"]); ok {
					s.state.defaultTags = tags
				}
			}
		}
	}
	return resp, nil
}

func (s *Server) StopProvider(context.Context, *tfprotov5.StopProviderRequest) (*tfprotov5.StopProviderResponse, error) {
	return &tfprotov5.StopProviderResponse{}, nil
}

func (s *Server) snapshot() *providerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.state
	return &c
}

func (s *Server) resource(name string) (*Block, []*tfprotov5.Diagnostic) {
	b := s.schema.Resources[name]
	if b == nil {
		return nil, errDiag("unknown resource type", fmt.Sprintf("%s does not serve resource type %q", s.schema.Name, name))
	}
	return b, nil
}

func (s *Server) ValidateResourceTypeConfig(_ context.Context, req *tfprotov5.ValidateResourceTypeConfigRequest) (*tfprotov5.ValidateResourceTypeConfigResponse, error) {
	_, d := s.resource(req.TypeName)
	return &tfprotov5.ValidateResourceTypeConfigResponse{Diagnostics: d}, nil
}

// UpgradeResourceState passes the stored JSON through, ignoring attributes the schema
// no longer has.
func (s *Server) UpgradeResourceState(_ context.Context, req *tfprotov5.UpgradeResourceStateRequest) (resp *tfprotov5.UpgradeResourceStateResponse, _ error) {
	resp = &tfprotov5.UpgradeResourceStateResponse{}
	defer recoverDiag("UpgradeResourceState "+req.TypeName, &resp.Diagnostics)
	b, d := s.resource(req.TypeName)
	if d != nil {
		resp.Diagnostics = d
		return resp, nil
	}
	typ := b.ObjectType()
	if req.RawState == nil || (req.RawState.JSON == nil && req.RawState.Flatmap == nil) {
		dv, err := tfprotov5.NewDynamicValue(typ, tftypes.NewValue(typ, nil))
		must(err)
		resp.UpgradedState = &dv
		return resp, nil
	}
	v, err := req.RawState.UnmarshalWithOpts(typ, tfprotov5.UnmarshalOpts{
		ValueFromJSONOpts: tftypes.ValueFromJSONOpts{IgnoreUndefinedAttributes: true},
	})
	if err != nil {
		resp.Diagnostics = errDiag("cannot read stored state of "+req.TypeName, err.Error())
		return resp, nil
	}
	dv, err := tfprotov5.NewDynamicValue(typ, v)
	must(err)
	resp.UpgradedState = &dv
	return resp, nil
}

// ReadResource returns the state unchanged: nothing exists outside Terraform's state.
func (s *Server) ReadResource(_ context.Context, req *tfprotov5.ReadResourceRequest) (*tfprotov5.ReadResourceResponse, error) {
	return &tfprotov5.ReadResourceResponse{NewState: req.CurrentState, Private: req.Private}, nil
}

func (s *Server) PlanResourceChange(_ context.Context, req *tfprotov5.PlanResourceChangeRequest) (resp *tfprotov5.PlanResourceChangeResponse, _ error) {
	resp = &tfprotov5.PlanResourceChangeResponse{}
	defer recoverDiag("PlanResourceChange "+req.TypeName, &resp.Diagnostics)
	b, d := s.resource(req.TypeName)
	if d != nil {
		resp.Diagnostics = d
		return resp, nil
	}
	typ := b.ObjectType()
	proposed, err := req.ProposedNewState.Unmarshal(typ)
	must(err)
	prior, err := req.PriorState.Unmarshal(typ)
	must(err)
	resp.PlannedPrivate = req.PriorPrivate
	if proposed.IsNull() { // destroy
		resp.PlannedState = req.ProposedNewState
		return resp, nil
	}
	st := s.snapshot()
	planned := applyPlanDefaults(req.TypeName, proposed)
	if prior.IsNull() {
		planned = markUnknown(b, planned, false)
		if h := planHooks[req.TypeName]; h != nil {
			m := objMap(planned)
			h(m)
			planned = tftypes.NewValue(planned.Type(), m)
		}
	} else {
		resp.RequiresReplace = requiresReplace(req.TypeName, b, prior, planned)
	}
	planned = planTagsAll(b, planned, st.defaultTags)
	dv, err := tfprotov5.NewDynamicValue(typ, planned)
	must(err)
	resp.PlannedState = &dv
	return resp, nil
}

// planTagsAll sets tags_all to the provider's default_tags merged with tags, as the AWS
// provider does.
func planTagsAll(b *Block, v tftypes.Value, defaults map[string]string) tftypes.Value {
	a := b.Attr("tags_all")
	if a == nil || !a.Computed || b.Attr("tags") == nil || v.IsNull() || !v.IsKnown() {
		return v
	}
	m := objMap(v)
	tags, ok := strMap(m["tags"])
	if !ok {
		m["tags_all"] = unknown(m["tags_all"].Type())
		return tftypes.NewValue(v.Type(), m)
	}
	all := map[string]string{}
	for k, x := range defaults {
		all[k] = x
	}
	for k, x := range tags {
		all[k] = x
	}
	m["tags_all"] = newStrMap(all)
	return tftypes.NewValue(v.Type(), m)
}

// requiresReplace: tls and random resources are immutable (every argument forces a new
// resource, as in the real providers); AWS resources update in place here.
func requiresReplace(typeName string, b *Block, prior, proposed tftypes.Value) []*tftypes.AttributePath {
	if !isImmutableType(typeName) {
		return nil
	}
	pm, nm := objMap(prior), objMap(proposed)
	var out []*tftypes.AttributePath
	for _, a := range b.Attributes {
		if a.Computed && !a.Optional {
			continue
		}
		if !pm[a.Name].Equal(nm[a.Name]) {
			out = append(out, tftypes.NewAttributePath().WithAttributeName(a.Name))
		}
	}
	for _, nb := range b.Blocks {
		if !pm[nb.Name].Equal(nm[nb.Name]) {
			out = append(out, tftypes.NewAttributePath().WithAttributeName(nb.Name))
		}
	}
	return out
}

func isImmutableType(typeName string) bool {
	switch typeName {
	case "tls_private_key", "tls_self_signed_cert", "tls_locally_signed_cert", "tls_cert_request",
		"random_password", "random_string", "random_id", "random_uuid", "random_integer",
		"random_pet", "random_shuffle", "random_bytes":
		return true
	}
	return false
}

func (s *Server) ApplyResourceChange(_ context.Context, req *tfprotov5.ApplyResourceChangeRequest) (resp *tfprotov5.ApplyResourceChangeResponse, _ error) {
	resp = &tfprotov5.ApplyResourceChangeResponse{}
	defer recoverDiag("ApplyResourceChange "+req.TypeName, &resp.Diagnostics)
	b, d := s.resource(req.TypeName)
	if d != nil {
		resp.Diagnostics = d
		return resp, nil
	}
	typ := b.ObjectType()
	planned, err := req.PlannedState.Unmarshal(typ)
	must(err)
	resp.Private = req.PlannedPrivate
	if planned.IsNull() { // delete
		resp.NewState = req.PlannedState
		return resp, nil
	}
	st := s.snapshot()
	f := &filler{p: st, typeName: req.TypeName, seed: canonical(planned), counts: map[string]int{}}
	m := objMap(planned)
	if h := resourceHooks[req.TypeName]; h != nil {
		if err := h(f, m); err != nil {
			resp.Diagnostics = errDiag(req.TypeName+": cannot create", err.Error())
			return resp, nil
		}
	}
	if strings.HasPrefix(req.TypeName, "aws_") {
		awsNaming(f, m)
	}
	newState := f.block(b, tftypes.NewValue(planned.Type(), m), "")
	dv, err := tfprotov5.NewDynamicValue(typ, newState)
	must(err)
	resp.NewState = &dv
	return resp, nil
}

func (s *Server) ImportResourceState(_ context.Context, req *tfprotov5.ImportResourceStateRequest) (*tfprotov5.ImportResourceStateResponse, error) {
	return &tfprotov5.ImportResourceStateResponse{Diagnostics: errDiag("import not supported by the test provider",
		"terraform import of "+req.TypeName+" needs a real cloud; the test provider has nothing to import")}, nil
}

func (s *Server) MoveResourceState(_ context.Context, req *tfprotov5.MoveResourceStateRequest) (*tfprotov5.MoveResourceStateResponse, error) {
	return &tfprotov5.MoveResourceStateResponse{Diagnostics: errDiag("moving state between resource types is not supported by the test provider", req.TargetTypeName)}, nil
}

func (s *Server) UpgradeResourceIdentity(context.Context, *tfprotov5.UpgradeResourceIdentityRequest) (*tfprotov5.UpgradeResourceIdentityResponse, error) {
	return &tfprotov5.UpgradeResourceIdentityResponse{Diagnostics: errDiag("resource identity is not supported by the test provider", "")}, nil
}

func (s *Server) GenerateResourceConfig(context.Context, *tfprotov5.GenerateResourceConfigRequest) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{Diagnostics: errDiag("config generation is not supported by the test provider", "")}, nil
}

func (s *Server) ValidateDataSourceConfig(_ context.Context, req *tfprotov5.ValidateDataSourceConfigRequest) (*tfprotov5.ValidateDataSourceConfigResponse, error) {
	resp := &tfprotov5.ValidateDataSourceConfigResponse{}
	if s.schema.DataSources[req.TypeName] == nil {
		resp.Diagnostics = errDiag("unknown data source", fmt.Sprintf("%s does not serve data source %q", s.schema.Name, req.TypeName))
	}
	return resp, nil
}

// ReadDataSource answers from fixtures; computed attributes the fixtures do not know get
// plausible generated values.
func (s *Server) ReadDataSource(_ context.Context, req *tfprotov5.ReadDataSourceRequest) (resp *tfprotov5.ReadDataSourceResponse, _ error) {
	resp = &tfprotov5.ReadDataSourceResponse{}
	defer recoverDiag("ReadDataSource "+req.TypeName, &resp.Diagnostics)
	b := s.schema.DataSources[req.TypeName]
	if b == nil {
		resp.Diagnostics = errDiag("unknown data source", fmt.Sprintf("%s does not serve data source %q", s.schema.Name, req.TypeName))
		return resp, nil
	}
	typ := b.ObjectType()
	cfg, err := req.Config.Unmarshal(typ)
	must(err)
	st := s.snapshot()
	f := &filler{p: st, typeName: "data." + req.TypeName, seed: canonical(cfg), counts: map[string]int{}}
	m := objMap(markUnknown(b, cfg, true))
	if h := dataHooks[req.TypeName]; h != nil {
		if err := h(f, m); err != nil {
			resp.Diagnostics = errDiag("data."+req.TypeName+": cannot read", err.Error())
			return resp, nil
		}
	}
	state := f.block(b, tftypes.NewValue(cfg.Type(), m), "")
	dv, err := tfprotov5.NewDynamicValue(typ, state)
	must(err)
	resp.State = &dv
	return resp, nil
}

func (s *Server) CallFunction(context.Context, *tfprotov5.CallFunctionRequest) (*tfprotov5.CallFunctionResponse, error) {
	return &tfprotov5.CallFunctionResponse{Error: &tfprotov5.FunctionError{Text: "provider functions are not supported by the test provider"}}, nil
}

func (s *Server) GetFunctions(context.Context, *tfprotov5.GetFunctionsRequest) (*tfprotov5.GetFunctionsResponse, error) {
	return &tfprotov5.GetFunctionsResponse{Functions: map[string]*tfprotov5.Function{}}, nil
}

func (s *Server) ValidateEphemeralResourceConfig(context.Context, *tfprotov5.ValidateEphemeralResourceConfigRequest) (*tfprotov5.ValidateEphemeralResourceConfigResponse, error) {
	return &tfprotov5.ValidateEphemeralResourceConfigResponse{Diagnostics: errDiag("ephemeral resources are not supported by the test provider", "")}, nil
}

func (s *Server) OpenEphemeralResource(context.Context, *tfprotov5.OpenEphemeralResourceRequest) (*tfprotov5.OpenEphemeralResourceResponse, error) {
	return &tfprotov5.OpenEphemeralResourceResponse{Diagnostics: errDiag("ephemeral resources are not supported by the test provider", "")}, nil
}

func (s *Server) RenewEphemeralResource(context.Context, *tfprotov5.RenewEphemeralResourceRequest) (*tfprotov5.RenewEphemeralResourceResponse, error) {
	return &tfprotov5.RenewEphemeralResourceResponse{}, nil
}

func (s *Server) CloseEphemeralResource(context.Context, *tfprotov5.CloseEphemeralResourceRequest) (*tfprotov5.CloseEphemeralResourceResponse, error) {
	return &tfprotov5.CloseEphemeralResourceResponse{}, nil
}
