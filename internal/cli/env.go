package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/subnets"
)

func init() {
	register(10, func(g *Globals) *cobra.Command {
		env := &cobra.Command{
			Use:   "env",
			Short: "Validate and describe environment files (environments/env.<name>.yaml)",
		}
		env.AddCommand(newEnvValidate(g), newEnvShow(g))
		return env
	})
}

// envFiles resolves the files a command works on: FILE arguments, --env NAME (in
// --env-dir), or every env.*.yaml of --env-dir.
func envFiles(g *Globals, name string, args []string) ([]string, error) {
	switch {
	case name != "" && len(args) > 0:
		return nil, Exit(ExitUsage, errors.New("give either --env NAME or FILE arguments, not both"))
	case name != "":
		return []string{envfile.PathFor(g.EnvDir, name)}, nil
	case len(args) > 0:
		return args, nil
	}
	var files []string
	for _, pat := range []string{"env.*.yaml", "env.*.yml"} {
		m, err := filepath.Glob(filepath.Join(g.EnvDir, pat))
		if err != nil {
			return nil, Exit(ExitUsage, err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, Exit(ExitUsage, fmt.Errorf("no env.<name>.yaml files in %s: pass --env-dir, --env NAME or FILE", g.EnvDir))
	}
	return files, nil
}

// jsonProblem is a Problem as JSON.
type jsonProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

type validateResult struct {
	File     string        `json:"file"`
	Env      string        `json:"env,omitempty"`
	Valid    bool          `json:"valid"`
	Problems []jsonProblem `json:"problems"`
	// Placeholders are documentation examples still in the file (envfile.Env.Placeholders):
	// warnings, since the committed sample files carry them; errors with --strict.
	Placeholders []jsonProblem `json:"placeholders"`
}

// loadProblems loads path and returns the environment and its problems (a file that
// cannot be read is one problem).
func loadProblems(path string) (*envfile.Env, envfile.Problems) {
	env, err := envfile.Load(path)
	if err == nil {
		return env, nil
	}
	var ps envfile.Problems
	if errors.As(err, &ps) {
		return env, ps
	}
	return env, envfile.Problems{{File: path, Message: err.Error() + "; check the path, --env-dir or --env"}}
}

func newEnvValidate(g *Globals) *cobra.Command {
	var name string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate [--env NAME | FILE...]",
		Short: "Check environment files: every problem as file:line:col: field: message",
		Long: `Validate environment files against the schema of docs/environments.md: unknown keys,
types, CIDRs (syntax, private ranges, overlaps, room for the subnet plan), zones in the
region, ha requirements, counts, e-mail, ARNs. Without arguments every env.*.yaml of
--env-dir is checked.

Values that are still documentation examples (account 111122223333, example ARNs, an
e-mail at example.com or company.com) are reported as warnings: the committed sample files
carry them, and cso plan / cso deploy refuse them. --strict makes them errors.

Exit codes: 0 all valid, 2 at least one file is invalid (or, with --strict, holds examples).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := envFiles(g, name, args)
			if err != nil {
				return err
			}
			var results []validateResult
			invalid := 0
			for _, f := range files {
				env, ps := loadProblems(f)
				r := validateResult{File: f, Valid: len(ps) == 0, Problems: []jsonProblem{}, Placeholders: []jsonProblem{}}
				if env != nil {
					r.Env = env.Name
					for _, p := range env.Placeholders() {
						r.Placeholders = append(r.Placeholders, jsonProblem(p))
					}
				}
				if strict && len(r.Placeholders) > 0 {
					r.Valid = false
				}
				for _, p := range ps {
					r.Problems = append(r.Problems, jsonProblem(p.Escaped()))
				}
				if !r.Valid {
					invalid++
				}
				results = append(results, r)
			}
			if g.JSON() {
				if err := writeJSON(g.Stdout, map[string]any{"valid": invalid == 0, "files": results}); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					for _, p := range r.Problems {
						fmt.Fprintln(g.Stdout, envfile.Problem(p).String())
					}
					word := "warning"
					if strict {
						word = "error"
					}
					for _, p := range r.Placeholders {
						fmt.Fprintf(g.Stdout, "%s: %s\n", word, envfile.Problem(p).String())
					}
					switch {
					case r.Valid && len(r.Placeholders) > 0:
						fmt.Fprintf(g.Stdout, "%s: valid, with %d example value(s) that cso plan and cso deploy refuse\n", r.File, len(r.Placeholders))
					case r.Valid:
						fmt.Fprintf(g.Stdout, "%s: valid\n", r.File)
					}
				}
			}
			if invalid > 0 {
				return Exit(ExitUsage, fmt.Errorf("%d of %d environment files invalid", invalid, len(results)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "env", "", "environment name: validate <env-dir>/env.NAME.yaml")
	cmd.Flags().BoolVar(&strict, "strict", false, "documentation examples (placeholders) are errors, as for cso plan and cso deploy")
	return cmd
}

// EnvView is what `cso env show` reports.
type EnvView struct {
	Name       string           `json:"env"`
	File       string           `json:"file"`
	Region     string           `json:"region"`
	AccountID  string           `json:"account_id"`
	Prod       bool             `json:"prod"`
	HA         bool             `json:"ha"`
	VPCName    string           `json:"vpc_name"`
	VPCCIDR    string           `json:"vpc_cidr"`
	Zone       string           `json:"private_zone"`
	Subnets    []subnets.Subnet `json:"subnets"`
	Hosts      []inventory.Host `json:"hosts"`
	Database   DatabaseView     `json:"database"`
	HAAdds     []string         `json:"ha_adds"`
	StatusPath string           `json:"status_documents"`
}

// DatabaseView describes the RDS instance.
type DatabaseView struct {
	Engine        string `json:"engine"`
	InstanceClass string `json:"instance_class"`
	MultiAZ       bool   `json:"multi_az"`
	Endpoint      string `json:"endpoint_alias"`
}

// NewEnvView derives everything `env show` prints from a valid environment.
func NewEnvView(env *envfile.Env) (*EnvView, error) {
	sn, err := subnets.Plan(env.VPCCIDR, env.AvailabilityZones)
	if err != nil {
		return nil, err
	}
	v := &EnvView{
		Name: env.Name, File: env.Path, Region: env.Region, AccountID: env.AccountID, Prod: env.Prod, HA: env.HA,
		VPCName: env.Name + "-" + env.VPCName, VPCCIDR: env.VPCCIDR, Zone: env.ZoneName(), Subnets: sn,
		Hosts: inventory.Hosts(env),
		Database: DatabaseView{Engine: "mysql " + env.DBEngineVersion(), InstanceClass: env.DBInstanceClass(),
			MultiAZ: env.HA, Endpoint: env.FQDN("mysql")},
		HAAdds:     []string{},
		StatusPath: fmt.Sprintf("s3://%s/status/<host>.json", env.FilesBucket()),
	}
	if env.HA {
		v.HAAdds = []string{
			fmt.Sprintf("internet-facing ALB %s-frontend-lb in the public subnets: HTTPS 443 with the ACM certificate and Cognito authentication, HTTP 80 redirected to 443; frontends on 8102, /api/idm/* to Keystone on 5000", env.Name),
			fmt.Sprintf("internal ALB %s-backend-alb in the private subnets: one target group per backend service (%d services)", env.Name, len(inventory.BackendServices)),
			"RDS MySQL Multi-AZ (a standby in the second zone)",
			fmt.Sprintf("%d frontends, %d backends, %d Keystone nodes, %d RabbitMQ nodes (quorum queues) across both zones",
				env.Count(envfile.RoleFrontend), env.Count(envfile.RoleBackend), env.Count(envfile.RoleKeystone), env.Count(envfile.RoleRabbitMQ)),
		}
	}
	return v, nil
}

func newEnvShow(g *Globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "show [--env NAME | FILE...]",
		Short: "Show what an environment will be: subnets, hosts, DNS names, ports, what ha adds",
		Long: `Show the environment that Terraform will build from an env file: the subnets per zone and
tier (the cidrsubnets arithmetic of LLD 2.2.2), every host with role, instance type, zone,
DNS names and ports, the database, and what ha adds. Without arguments, every env file.

Exit codes: 0 shown, 2 the file is invalid (its problems are printed).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := envFiles(g, name, args)
			if err != nil {
				return err
			}
			var views []*EnvView
			for _, f := range files {
				env, ps := loadProblems(f)
				if len(ps) > 0 {
					for _, p := range ps {
						fmt.Fprintln(g.Stderr, p.String())
					}
					return Exit(ExitUsage, fmt.Errorf("%s is invalid: run cso env validate", f))
				}
				v, err := NewEnvView(env)
				if err != nil {
					return Exit(ExitUsage, err)
				}
				views = append(views, v)
			}
			if g.JSON() {
				if len(views) == 1 {
					return writeJSON(g.Stdout, views[0])
				}
				return writeJSON(g.Stdout, views)
			}
			for i, v := range views {
				if i > 0 {
					fmt.Fprintln(g.Stdout)
				}
				writeEnvView(g.Stdout, v)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "env", "", "environment name: show <env-dir>/env.NAME.yaml")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeEnvView(w io.Writer, v *EnvView) {
	fmt.Fprintf(w, "Environment %s (%s)\n", v.Name, v.File)
	fmt.Fprintf(w, "  region %s, account %s, prod: %s, ha: %s\n", v.Region, v.AccountID, yesNo(v.Prod), yesNo(v.HA))
	fmt.Fprintf(w, "  VPC %s %s, private zone %s\n\n", v.VPCName, v.VPCCIDR, v.Zone)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIER\tZONE\tCIDR\tUSABLE ADDRESSES")
	for _, s := range v.Subnets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Tier, s.AZ, s.CIDR, s.Usable)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tROLE\tINSTANCE TYPE\tZONE\tFQDN\tALIASES\tPORTS")
	for _, h := range v.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Role, h.InstanceType, h.AZ, h.FQDN,
			dash(strings.Join(h.Aliases, ",")), ports(h.Ports))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDatabase: RDS %s, %s, Multi-AZ: %s, reached as %s\n", v.Database.Engine, v.Database.InstanceClass, yesNo(v.Database.MultiAZ), v.Database.Endpoint)
	fmt.Fprintf(w, "Host status documents: %s\n", v.StatusPath)
	if v.HA {
		fmt.Fprintln(w, "ha adds:")
		for _, a := range v.HAAdds {
			fmt.Fprintf(w, "  - %s\n", a)
		}
	} else {
		fmt.Fprintln(w, "ha: no (one host per role, no load balancers, single-AZ RDS)")
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ports prints name:port pairs sorted by port.
func ports(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return m[names[i]] < m[names[j]] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s:%d", n, m[n])
	}
	return strings.Join(parts, " ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
