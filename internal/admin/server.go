// Package admin is the jump server's dashboard, `cso admin serve` (LLD 3.5.1): a
// server-rendered page of every host and service, the Keystone and RabbitMQ clusters,
// certificates, each host's setup progress and log tail and the last deployment, charts of
// the recent check runs, RabbitMQ queues and Keystone key ages; it reloads itself. The same
// data is JSON at /admin/api/status and Prometheus metrics at /admin/metrics; /health is an
// unauthenticated answer for the load balancer. Operators sign in with Keystone credentials (a server-side session bound to
// their Keystone token, re-validated so that a revoked token ends it) or, behind the ALB,
// with the load balancer's signed x-amzn-oidc-data header and a Cognito access token that
// names the administrators' group.
package admin

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/cso-ssp/platform/internal/check"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/logs"
	"github.com/cso-ssp/platform/internal/target"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is the dashboard's configuration.
type Config struct {
	// TargetFile is the environment's target description, re-read on each refresh (the
	// local target rewrites it); Target is used when TargetFile is empty.
	TargetFile string
	Target     *target.Target
	// KeystoneURLs are the Keystone base URLs for sign-in (default: every Keystone host
	// of the target, in order).
	KeystoneURLs []string
	// KeystoneClient talks to Keystone (default: a client of the target, verifying its CA);
	// tests wrap it to observe tokens.
	KeystoneClient *http.Client
	// Project and Domain scope the sign-in token (default admin, Default); RequireRole is
	// the role the operator needs on that project (default admin; "-" accepts any).
	Project, Domain, RequireRole string
	// Revalidate is how long Keystone's word on a token is trusted (default 30 s).
	Revalidate time.Duration
	// SessionTTL bounds a session (default 8 h; never beyond the token's expiry).
	SessionTTL time.Duration
	// CacheFor is how long a check run is reused (default 5 s).
	CacheFor time.Duration
	// CheckTimeout is the timeout of each probe (default 3 s).
	CheckTimeout time.Duration
	// ALB, when set, accepts users authenticated by the load balancer; Cognito (required
	// with ALB) admits only those of them in the administrators' group.
	ALB     *ALBConfig
	Cognito *CognitoConfig
	// MaxFailures is how many sign-in attempts that did not succeed one user name, and
	// one client address, may make in FailureWindow (default 4 in 30 minutes: fewer than
	// Keystone's lockout, 5 failures, in its lockout_duration, so that the form never
	// locks an account in Keystone).
	MaxFailures   int
	FailureWindow time.Duration
	// LogLines is how many recent lines of each log file are shown (default 15).
	LogLines int
	// Logs reads the hosts' logs for /admin/logs (default: the local target's files next
	// to TargetFile; on AWS the hosts' CloudWatch Logs groups).
	Logs logs.Reader
	// History is how many check runs the charts remember (default DefaultHistory).
	History int
	// Refresh is how often the page reloads itself (default 30 s).
	Refresh time.Duration
	// KeystoneKeys is the directory of the shared Keystone key sets (fernet-keys,
	// credential-keys) whose ages are shown (default: AWSKeystoneKeys on AWS, inside the
	// shared store locally).
	KeystoneKeys string
	// HSTS: send Strict-Transport-Security also on plain HTTP (TLS terminated in front).
	HSTS   bool
	Now    func() time.Time
	Logger *slog.Logger
}

// Server serves the dashboard.
type Server struct {
	cfg      Config
	ksMu     sync.Mutex
	ks       *keystoneClient
	ksStamp  time.Time // modification time of the target file ks was built from
	alb      *albVerifier
	cognito  *cognitoVerifier
	sessions *sessionStore
	throttle *throttle
	tmpl     *template.Template
	mux      *http.ServeMux

	cwMu     sync.Mutex // guards the CloudWatch Logs client of /admin/logs on AWS
	cwClient *cloudwatchlogs.Client
	cwRegion string

	mu       sync.Mutex // held while a check runs, so concurrent requests share one run
	cached   *View
	cachedAt time.Time
	history  history
}

// The sign-in throttle's defaults: fewer attempts than Keystone's lockout
// (lockout_failure_attempts 5) within its lockout_duration (30 minutes).
const (
	DefaultMaxFailures   = 4
	DefaultFailureWindow = 30 * time.Minute
)

// Cookie names. __Host- cookies are Secure, host-only and Path=/ by rule of the browser.
const (
	sessionCookie = "__Host-cso-admin"
	csrfCookie    = "__Host-cso-csrf"
)

// New checks cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, sessions: newSessionStore(), throttle: newThrottle(cfg.MaxFailures, cfg.FailureWindow),
		history: history{max: cfg.History}}
	// The target is read now only to report a broken description early; a missing file is
	// fine (the jump host starts the dashboard before the local target has written it).
	if _, err := s.keystone(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := s.setUpALBSignIn(); err != nil {
		return nil, err
	}
	var err error
	s.tmpl, err = template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

// setDefaults fills what cfg leaves out and refuses a refresh or history out of bounds.
func (cfg *Config) setDefaults() error {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Project == "" {
		cfg.Project = "admin"
	}
	if cfg.Domain == "" {
		cfg.Domain = "Default"
	}
	switch cfg.RequireRole {
	case "":
		cfg.RequireRole = "admin"
	case "-":
		cfg.RequireRole = ""
	}
	if cfg.Revalidate <= 0 {
		cfg.Revalidate = 30 * time.Second
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = 5 * time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 3 * time.Second
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = DefaultFailureWindow
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = 15
	}
	if cfg.Refresh > 0 && cfg.Refresh < time.Second {
		return fmt.Errorf("--refresh %s: the page reloads every whole second at most; give 1s or more", cfg.Refresh)
	}
	if cfg.History > MaxHistory {
		return fmt.Errorf("--history %d: at most %d check runs are kept in memory", cfg.History, MaxHistory)
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 30 * time.Second
	}
	return nil
}

// setUpALBSignIn builds the verifiers of the ALB's signed headers and of the Cognito
// administrators' group; each needs the other.
func (s *Server) setUpALBSignIn() error {
	cfg := s.cfg
	var err error
	if cfg.ALB != nil {
		if s.alb, err = newALBVerifier(*cfg.ALB, cfg.Now); err != nil {
			return err
		}
		// Every user of the pool passes the ALB's Cognito sign-in (portal customers too):
		// without the group check the dashboard would be open to all of them.
		if cfg.Cognito == nil {
			return errors.New("ALB sign-in needs the Cognito administrators' group check: give --cognito-user-pool and --cognito-client-id with --alb-signer")
		}
	}
	if cfg.Cognito != nil {
		if cfg.ALB == nil {
			return errors.New("the Cognito group check applies to ALB sign-in: give --alb-signer too")
		}
		if s.cognito, err = newCognitoVerifier(*cfg.Cognito, cfg.Now); err != nil {
			return err
		}
	}
	return nil
}

// routes are the dashboard's pages and APIs: everything under /admin/ but the sign-in
// form and the static files needs a session; /health is the load balancer's.
func (s *Server) routes() *http.ServeMux {
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	m.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /admin/login", s.loginForm)
	m.HandleFunc("POST /admin/login", s.login)
	m.Handle("POST /admin/logout", s.authed(http.HandlerFunc(s.logout)))
	m.Handle("GET /admin/{$}", s.authed(http.HandlerFunc(s.dashboard)))
	m.Handle("GET /admin/api/status", s.authed(http.HandlerFunc(s.apiStatus)))
	m.Handle("GET /admin/metrics", s.authed(s.metricsHandler()))
	m.Handle("GET /admin/logs", s.authed(http.HandlerFunc(s.logsPage)))
	m.Handle("/", s.authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin" || r.URL.Path == "/" {
			http.Redirect(w, r, "/admin/", http.StatusSeeOther)
			return
		}
		http.NotFound(w, r)
	})))
	return m
}

// keystone returns the Keystone client for the current target description, rebuilt when
// the file changes (the local target rewrites it on every `cso local up`).
func (s *Server) keystone() (*keystoneClient, error) {
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	var stamp time.Time
	if s.cfg.TargetFile != "" {
		st, err := os.Stat(s.cfg.TargetFile)
		if err != nil {
			return nil, fmt.Errorf("target description: %w", err)
		}
		stamp = st.ModTime()
	}
	if s.ks != nil && stamp.Equal(s.ksStamp) {
		return s.ks, nil
	}
	t, err := s.cfg.loadTarget()
	if err != nil {
		return nil, err
	}
	client := s.cfg.KeystoneClient
	if client == nil {
		if client, err = check.HTTPClient(t, 10*time.Second); err != nil {
			return nil, fmt.Errorf("keystone client: %w", err)
		}
	}
	urls := s.cfg.KeystoneURLs
	if len(urls) == 0 {
		for _, h := range inventory.ByRole(t.Hosts, envfile.RoleKeystone) {
			urls = append(urls, fmt.Sprintf("https://%s:%d", h.FQDN, h.Ports[inventory.PortKeystone]))
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("no Keystone to sign in against: the target has no keystone host and no --keystone-url was given")
	}
	s.ks = &keystoneClient{urls: urls, client: client, project: s.cfg.Project, domain: s.cfg.Domain}
	s.ksStamp = stamp
	return s.ks, nil
}

func (c *Config) loadTarget() (*target.Target, error) {
	if c.TargetFile != "" {
		return target.Load(c.TargetFile)
	}
	if c.Target == nil {
		return nil, errors.New("no target description (--target FILE)")
	}
	return c.Target, nil
}

// Handler is the whole dashboard with its security headers.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil || s.cfg.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		if !strings.HasPrefix(r.URL.Path, "/admin/static/") {
			h.Set("Cache-Control", "no-store")
		}
		s.mux.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

// principal is who a request is from.
type principal struct {
	User    string
	Via     string   // "keystone" or "alb"
	Session *session // nil behind the ALB
	// Forbidden is set when the user is authenticated but may not use the dashboard (not
	// in the administrators' group); it says why, for the 403 page.
	Forbidden string
}

func from(r *http.Request) principal { p, _ := r.Context().Value(ctxKey{}).(principal); return p }

// authed lets a request through when it carries a valid ALB header or session; otherwise
// the API answers 401 and pages redirect to the sign-in form.
func (s *Server) authed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, why, err := s.authenticate(r)
		if err != nil {
			s.cfg.Logger.Error("authentication unavailable", "path", r.URL.Path, "err", err)
			// The detail is logged, not shown: the request is not authenticated yet.
			msg := "Keystone cannot be reached to check your session; try again shortly"
			if errors.Is(err, errUnavailable) {
				msg = "Cognito's signing keys cannot be fetched to check your sign-in; try again shortly"
			}
			s.deny(w, r, http.StatusServiceUnavailable, msg)
			return
		}
		if p.Forbidden != "" {
			s.cfg.Logger.Info("request forbidden", "path", r.URL.Path, "user", p.User, "reason", why)
			s.forbidden(w, r, p)
			return
		}
		if p.User == "" {
			if why != "" {
				s.cfg.Logger.Info("request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", why)
			}
			if machine(r.URL.Path) || r.Header.Get(ALBHeader) != "" {
				w.Header().Set("WWW-Authenticate", `Cookie realm="cso-admin"`)
				s.deny(w, r, http.StatusUnauthorized, "authentication required")
				return
			}
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	})
}

// forbidden answers 403 to a signed-in user who is not an administrator: a page that says
// so (the user can do nothing about it but ask to be added to the group), JSON for the API.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, p principal) {
	if machine(r.URL.Path) {
		s.deny(w, r, http.StatusForbidden, p.Forbidden)
		return
	}
	s.render(w, http.StatusForbidden, "forbidden.html", struct{ User, Reason string }{p.User, p.Forbidden})
}

// machine reports whether path is read by programs (the JSON API, /admin/metrics): they get
// a status code and JSON, never a redirect to the sign-in form.
func machine(path string) bool {
	return strings.HasPrefix(path, "/admin/api/") || path == "/admin/metrics"
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if machine(r.URL.Path) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	http.Error(w, msg, code)
}

// authenticate finds the principal of r. why explains a refusal (logged, never shown);
// err means the decision could not be made (Keystone unreachable).
func (s *Server) authenticate(r *http.Request) (p principal, why string, err error) {
	if raw := r.Header.Get(ALBHeader); raw != "" {
		if s.alb == nil {
			return principal{}, "ALB header present but ALB verification is not configured", nil
		}
		user, err := s.alb.verify(r.Context(), raw)
		if err != nil {
			return principal{}, "ALB token: " + err.Error(), nil
		}
		return s.admitALBUser(r, user)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, "", nil
	}
	ss := s.sessions.get(c.Value)
	if ss == nil {
		return principal{}, "unknown session", nil
	}
	now := s.cfg.Now()
	if now.After(ss.Expires) {
		s.sessions.delete(ss.ID)
		return principal{}, "session expired", nil
	}
	if now.Sub(ss.Validated) >= s.cfg.Revalidate {
		ks, err := s.keystone()
		if err != nil {
			return principal{}, "", err
		}
		if _, err := ks.validate(r.Context(), ss.Token); err != nil {
			if errors.Is(err, errDenied) {
				s.sessions.delete(ss.ID)
				return principal{}, "keystone no longer accepts the session's token", nil
			}
			return principal{}, "", err
		}
		s.sessions.touch(ss.ID, now)
	}
	return principal{User: ss.User, Via: "keystone", Session: ss}, "", nil
}

// admitALBUser checks the Cognito access token the ALB forwards with a verified
// x-amzn-oidc-data header: it must be valid, belong to the same user (sub) and name the
// administrators' group.
func (s *Server) admitALBUser(r *http.Request, user albUser) (principal, string, error) {
	raw := r.Header.Get(AccessTokenHeader)
	if raw == "" {
		return principal{}, "ALB request without " + AccessTokenHeader, nil
	}
	c, err := s.cognito.verify(r.Context(), raw)
	if errors.Is(err, errUnavailable) {
		return principal{}, "", err
	}
	if err != nil {
		return principal{}, "Cognito access token: " + err.Error(), nil
	}
	// Both headers come from the same sign-in; a mismatch means they were put together
	// from two users, and neither is trusted.
	if user.Sub == "" || c.Sub != user.Sub {
		return principal{}, fmt.Sprintf("access token of subject %q with user claims of subject %q", c.Sub, user.Sub), nil
	}
	if !s.cognito.admits(c) {
		msg := fmt.Sprintf("%s is signed in but is not a member of the Cognito group %s, which the admin dashboard requires.", user.Name, s.cognito.cfg.Group)
		return principal{User: user.Name, Via: "alb", Forbidden: msg}, "not in group " + s.cognito.cfg.Group, nil
	}
	return principal{User: user.Name, Via: "alb"}, "", nil
}

type loginPage struct {
	CSRF, Error, User string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg, user string) {
	// Keep a token the browser already holds: a second load of the form (the browser's
	// favicon request is redirected here too) must not invalidate the first one.
	tok := randomID()
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == len(tok) {
		tok = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	s.render(w, code, "login.html", loginPage{CSRF: tok, Error: msg, User: user})
}

// sameOrigin refuses cross-site form posts when the browser says where they come from.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "The form could not be read.", "")
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !equal(c.Value, r.PostFormValue("csrf")) || !sameOrigin(r) {
		s.cfg.Logger.Info("sign-in form refused", "remote", r.RemoteAddr, "csrf_cookie", err == nil,
			"same_origin", sameOrigin(r), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", r.Header.Get("Origin"))
		s.renderLogin(w, r, http.StatusForbidden, "The form expired or came from another site; please sign in again.", "")
		return
	}
	client := clientAddr(r)
	user, password := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	if user == "" || password == "" {
		s.renderLogin(w, r, http.StatusBadRequest, "User name and password are required.", user)
		return
	}
	ks, err := s.keystone()
	if err != nil {
		s.cfg.Logger.Error("sign-in impossible", "err", err)
		msg := "Sign-in is unavailable: the dashboard cannot read its configuration (see its log)."
		if errors.Is(err, fs.ErrNotExist) {
			msg = "Sign-in is unavailable: the environment's target description is not written yet."
		}
		s.renderLogin(w, r, http.StatusServiceUnavailable, msg, user)
		return
	}
	// Reserve the attempt before Keystone is asked: parallel attempts each take a slot, so
	// no more than MaxFailures per user and per address ever reach Keystone in the window.
	slot, ok := s.throttle.reserve(s.cfg.Now(), "user:"+strings.ToLower(user), "addr:"+client)
	if !ok {
		s.cfg.Logger.Warn("sign-in throttled", "user", user, "remote", client)
		s.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins for this user or from your address; wait 30 minutes.", "")
		return
	}
	token, id, err := ks.signIn(r.Context(), user, password)
	switch {
	case errors.Is(err, errDenied):
		// The reservation stays: it is the failure.
		s.cfg.Logger.Info("sign-in refused", "user", user, "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, "Keystone did not accept these credentials.", user)
		return
	case err != nil:
		slot.release() // Keystone could not judge the attempt: not a failure
		s.cfg.Logger.Error("sign-in failed", "user", user, "err", err)
		s.renderLogin(w, r, http.StatusServiceUnavailable, "Keystone cannot be reached to check your credentials; try again shortly.", user)
		return
	}
	slot.release()
	if !hasRole(id, s.cfg.RequireRole) {
		_ = ks.revoke(r.Context(), token)
		s.cfg.Logger.Info("sign-in refused: missing role", "user", user, "role", s.cfg.RequireRole)
		s.renderLogin(w, r, http.StatusForbidden, fmt.Sprintf("%s has no %s role on project %s.", user, s.cfg.RequireRole, s.cfg.Project), user)
		return
	}
	now := s.cfg.Now()
	expires := now.Add(s.cfg.SessionTTL)
	if !id.Expires.IsZero() && id.Expires.Before(expires) {
		expires = id.Expires
	}
	ss := s.sessions.create(firstNonEmpty(id.User, user), token, expires, now)
	s.cfg.Logger.Info("signed in", "user", ss.User, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: ss.ID, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, Expires: expires})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p := from(r)
	if p.Session == nil {
		http.Error(w, "signed in through the load balancer: sign out there", http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil || !equal(p.Session.CSRF, r.PostFormValue("csrf")) || !sameOrigin(r) {
		http.Error(w, "invalid or missing CSRF token", http.StatusForbidden)
		return
	}
	s.sessions.delete(p.Session.ID)
	ks, err := s.keystone()
	if err == nil {
		err = ks.revoke(r.Context(), p.Session.Token)
	}
	if err != nil {
		s.cfg.Logger.Error("sign-out: revoking the Keystone token failed", "user", p.User, "err", err)
	}
	s.cfg.Logger.Info("signed out", "user", p.User)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	v := s.view(r.Context())
	p := from(r)
	page := struct {
		*View
		User, Via, CSRF string
	}{View: v, User: p.User, Via: p.Via}
	if p.Session != nil {
		page.CSRF = p.Session.CSRF
	}
	s.render(w, http.StatusOK, "dashboard.html", page)
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	v := s.view(r.Context())
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	var b strings.Builder
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		s.cfg.Logger.Error("render", "template", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// clientAddr is the address failed sign-ins are counted against (the connection's peer; the
// ALB path does not use the form).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
