package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/check"
)

func init() {
	register(62, func(g *Globals) *cobra.Command {
		tf := targetFlags{terraform: true}
		var timeout time.Duration
		var warnDays, failDays int
		cmd := &cobra.Command{
			Use:   "certs",
			Short: "List every certificate of an environment with its days left (renew: issue new ones)",
			Long: `certs lists every certificate of an environment as the check engine reads it: the
project CA, and the certificate each host presents on each TLS port (Keystone, AMQPS, the
RabbitMQ management API, the admin dashboard), with subject, names (SANs), issuer,
not-after and days left. A certificate fails under --fail-days (7) days left and warns
under --warn-days (30), as in cso check.

Exit code 1 when a certificate fails (expired, not yet valid, under 7 days, or
unreadable), 2 on bad input.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if timeout <= 0 {
					return Exit(ExitUsage, fmt.Errorf("--timeout %s: must be positive", timeout))
				}
				if warnDays <= 0 || failDays <= 0 || failDays > warnDays {
					return Exit(ExitUsage, fmt.Errorf("--warn-days %d, --fail-days %d: both positive, fail-days not above warn-days", warnDays, failDays))
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
				defer stop()
				t, err := tf.load(ctx, g)
				if err != nil {
					return err
				}
				rep := check.New(t, check.Options{Timeout: timeout, WarnDays: warnDays, FailDays: failDays}).RunCerts(ctx)
				if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return Exit(ExitAborted, errors.New("certs interrupted"))
				}
				if g.JSON() {
					err = writeCertsJSON(g.Stdout, rep)
				} else {
					err = writeCertsTable(g.Stdout, rep)
				}
				if err != nil {
					return Exit(ExitFailure, err)
				}
				if rep.Failed() {
					return Exit(ExitFailure, fmt.Errorf("environment %s: %d of %d certificates fail", t.Env, rep.Summary.Fail, len(rep.Results)))
				}
				return nil
			},
		}
		tf.add(cmd)
		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "timeout of each probe")
		cmd.Flags().IntVar(&warnDays, "warn-days", 30, "warn when a certificate expires in fewer days")
		cmd.Flags().IntVar(&failDays, "fail-days", 7, "fail when a certificate expires in fewer days")
		cmd.AddCommand(certsRenewCmd(g))
		return cmd
	})
}

// certRow is one certificate of `cso certs -o json`.
type certRow struct {
	Target string          `json:"target"` // "ca" or host:port
	Host   string          `json:"host,omitempty"`
	Port   string          `json:"port,omitempty"` // the port's name (keystone, amqps, management, admin)
	Status check.Status    `json:"status"`
	Detail string          `json:"detail"`
	Cert   *check.CertInfo `json:"cert,omitempty"`
}

func certRows(rep *check.Report) []certRow {
	rows := make([]certRow, 0, len(rep.Results))
	for _, r := range rep.Results {
		port, _ := strings.CutPrefix(r.Check, "cert ")
		if r.Target == "ca" {
			port = ""
		}
		rows = append(rows, certRow{Target: r.Target, Host: r.Host, Port: port, Status: r.Status, Detail: r.Detail, Cert: r.Cert})
	}
	return rows
}

func writeCertsJSON(w io.Writer, rep *check.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Env     string        `json:"env"`
		Certs   []certRow     `json:"certificates"`
		Summary check.Summary `json:"summary"`
	}{rep.Env, certRows(rep), rep.Summary})
}

func writeCertsTable(w io.Writer, rep *check.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tPORT\tSTATUS\tSUBJECT\tISSUER\tNOT AFTER\tDAYS LEFT\tSANS")
	for _, r := range certRows(rep) {
		port := r.Port
		if port == "" {
			port = "-"
		}
		if r.Cert == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%s\n", r.Target, port, strings.ToUpper(string(r.Status)), oneLine(r.Detail))
			continue
		}
		c := r.Cert
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Target, port, strings.ToUpper(string(r.Status)), c.Subject, c.Issuer,
			c.NotAfter.UTC().Format(time.RFC3339), c.DaysLeft, strings.Join(c.SANs, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s: %d ok, %d warn, %d fail\n", strings.ToUpper(string(rep.Summary.Worst)), rep.Summary.OK, rep.Summary.Warn, rep.Summary.Fail)
	return err
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", "; ")
}
