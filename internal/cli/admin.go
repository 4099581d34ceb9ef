package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cso-ssp/platform/internal/admin"
	"github.com/cso-ssp/platform/internal/target"
	"github.com/cso-ssp/platform/internal/userfile"
)

func init() {
	register(70, func(g *Globals) *cobra.Command {
		cmd := &cobra.Command{Use: "admin", Short: "The jump server's admin dashboard"}
		cmd.AddCommand(adminServeCmd(g))
		return cmd
	})
}

// adminServeOptions are the flags of `cso admin serve`.
type adminServeOptions struct {
	tf                              targetFlags
	listen, certFile, keyFile       string
	cfg                             admin.Config
	albSigner, albRegion, albKeyURL string
	cognito                         admin.CognitoConfig
	keystoneURLs                    []string
}

func adminServeCmd(g *Globals) *cobra.Command {
	var o adminServeOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the dashboard under /admin/ (JSON at /admin/api/status, /health for the load balancer)",
		Long: `serve runs the jump server's dashboard: every host and service of the environment (the
probes of cso check, cached for a few seconds), the Keystone and RabbitMQ clusters,
certificates, each host's setup progress and recent log lines, and the last deployment.

Operators sign in with Keystone credentials (a token scoped to --project with role
--require-role); the session lives as long as Keystone accepts the token, re-checked every
--revalidate. Behind the ALB, --alb-signer enables the load balancer's x-amzn-oidc-data
header instead; such users are admitted only when the Cognito access token the ALB
forwards (x-amzn-oidc-accesstoken) is valid for --cognito-client-id of --cognito-user-pool
and names --admin-group (others get 403). Serve TLS with --cert/--key (the jump server's
certificate).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g) },
	}
	o.addFlags(cmd)
	return cmd
}

// targetPath is the target description the dashboard shows: --target, --local-dir's, else
// the local target's default directory's, else the jump server's.
func (o *adminServeOptions) targetPath() string {
	switch {
	case o.tf.file != "":
		return o.tf.file
	case o.tf.localDir != "":
		return filepath.Join(o.tf.localDir, target.FileName)
	}
	path := filepath.Join(localDirDefault(), target.FileName)
	if _, err := os.Stat(path); err != nil {
		path = ec2TargetFile
	}
	o.tf.file = path
	return path
}

func (o *adminServeOptions) run(ctx context.Context, g *Globals) error {
	path := o.targetPath()
	// The jump host may start the dashboard before the target description exists; it is
	// read again on every refresh.
	t, err := o.tf.load(ctx, g)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	envName := o.tf.env
	if t != nil {
		envName = t.Env
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return Exit(ExitUsage, errors.New("give both --cert and --key, or neither"))
	}
	cfg := o.config()
	cfg.TargetFile, _ = filepath.Abs(path)
	cfg.Logger = g.Logger()
	srv, err := admin.New(cfg)
	if err != nil {
		return Exit(ExitUsage, err)
	}
	hs := &http.Server{Addr: o.listen, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: nil}
	if o.certFile != "" {
		if err := reloadingTLS(g, hs, o.certFile, o.keyFile); err != nil {
			return err
		}
	}
	return serve(ctx, g, hs, envName, cfg.TargetFile)
}

// config is the dashboard's configuration from the flags: sign-in through Keystone, and
// through the ALB with Cognito when --alb-signer or a user pool is given.
func (o *adminServeOptions) config() admin.Config {
	cfg := o.cfg
	cfg.KeystoneURLs = o.keystoneURLs
	if o.albSigner != "" {
		cfg.ALB = &admin.ALBConfig{Signer: o.albSigner, Region: o.albRegion, KeyURL: o.albKeyURL}
	}
	if o.cognito.UserPoolID != "" || o.cognito.ClientID != "" {
		cognito := o.cognito
		if cognito.Region == "" {
			cognito.Region = o.albRegion
		}
		cfg.Cognito = &cognito
	}
	return cfg
}

func (o *adminServeOptions) addFlags(cmd *cobra.Command) {
	o.tf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on")
	f.StringVar(&o.certFile, "cert", "", "TLS certificate (PEM) to serve HTTPS")
	f.StringVar(&o.keyFile, "key", "", "TLS private key (PEM)")
	f.StringSliceVar(&o.keystoneURLs, "keystone-url", nil, "Keystone base URL for sign-in (default: every Keystone host of the target)")
	f.StringVar(&o.cfg.Project, "project", "admin", "Keystone project the sign-in token is scoped to")
	f.StringVar(&o.cfg.Domain, "domain", "Default", "Keystone domain of users and project")
	f.StringVar(&o.cfg.RequireRole, "require-role", "admin", "role required on --project (\"-\" accepts any)")
	f.DurationVar(&o.cfg.Revalidate, "revalidate", 30*time.Second, "how long Keystone's validation of a session's token is trusted")
	f.DurationVar(&o.cfg.SessionTTL, "session-ttl", 8*time.Hour, "longest session (never beyond the token's expiry)")
	f.DurationVar(&o.cfg.CacheFor, "cache", 5*time.Second, "how long one check run is shown before probing again")
	f.DurationVar(&o.cfg.CheckTimeout, "check-timeout", 3*time.Second, "timeout of each probe")
	f.DurationVar(&o.cfg.Refresh, "refresh", 30*time.Second, "how often the page reloads itself (at least 1s)")
	f.IntVar(&o.cfg.History, "history", admin.DefaultHistory, "how many check runs the charts remember (at most 10000)")
	f.StringVar(&o.cfg.KeystoneKeys, "keystone-keys", "", "directory of the shared Keystone key sets whose ages are shown (default "+admin.AWSKeystoneKeys+" on AWS, <shared>/ssl-certs/keystone locally)")
	f.BoolVar(&o.cfg.HSTS, "hsts", false, "send Strict-Transport-Security on plain HTTP too (TLS terminated by the load balancer)")
	f.StringVar(&o.albSigner, "alb-signer", "", "ARN of the ALB whose x-amzn-oidc-data header is accepted (enables ALB authentication)")
	f.StringVar(&o.albRegion, "alb-region", "", "region of the ALB's public key endpoint")
	f.StringVar(&o.albKeyURL, "alb-key-url", admin.DefaultALBKeyURL, "ALB public key URL template ({region}, {kid})")
	f.StringVar(&o.cognito.UserPoolID, "cognito-user-pool", "", "Cognito user pool id (<region>_<id>) whose access tokens are checked (required with --alb-signer)")
	f.StringVar(&o.cognito.Region, "cognito-region", "", "region of the user pool (default: --alb-region)")
	f.StringVar(&o.cognito.ClientID, "cognito-client-id", "", "the ALB's Cognito app client id (the access token's client_id)")
	f.StringVar(&o.cognito.Group, "admin-group", admin.DefaultAdminGroup, "Cognito group whose members may use the dashboard through the ALB")
	f.StringVar(&o.cognito.JWKSURL, "cognito-jwks-url", "", "the pool's key set (default https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json)")
}

// loadKeyPair is tls.LoadX509KeyPair reading only regular, bounded files (userfile).
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := userfile.Read(certFile, target.MaxCertFileSize)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := userfile.Read(keyFile, target.MaxCertFileSize)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}

// reloadingTLS serves hs with the certificate files, re-read when they change: a renewed
// certificate needs no restart.
func reloadingTLS(g *Globals, hs *http.Server, certFile, keyFile string) error {
	pair, err := admin.NewKeyPair(certFile, keyFile, loadKeyPair)
	if err != nil {
		return Exit(ExitUsage, fmt.Errorf("--cert/--key: %w", err))
	}
	log := g.Logger()
	pair.OnReload = func(err error) {
		if err != nil {
			log.Warn("new certificate files do not load yet; serving the previous pair", "cert", certFile, "error", err)
			return
		}
		log.Info("serving the renewed certificate", "cert", certFile)
	}
	hs.TLSConfig = admin.ReloadingTLSConfig(pair)
	return nil
}

// serve listens on hs.Addr and serves until SIGINT or SIGTERM, then shuts down (bounded).
func serve(ctx context.Context, g *Globals, hs *http.Server, envName, targetFile string) error {
	ln, err := net.Listen("tcp", hs.Addr)
	if err != nil {
		return Exit(ExitFailure, fmt.Errorf("listen on %s: %w", hs.Addr, err))
	}
	scheme := "http"
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	g.Logger().Info("admin dashboard serving", "url", fmt.Sprintf("%s://%s/admin/", scheme, ln.Addr()), "env", envName, "target", targetFile)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return Exit(ExitFailure, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return Exit(ExitFailure, err)
	}
	return nil
}
