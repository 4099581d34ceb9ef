package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ALBHeader carries the claims of a user the load balancer authenticated (OIDC/Cognito).
const ALBHeader = "x-amzn-oidc-data"

// DefaultALBKeyURL is where AWS publishes the keys that sign ALB user claims.
const DefaultALBKeyURL = "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"

// ALBConfig enables verification of the ALB's x-amzn-oidc-data header.
type ALBConfig struct {
	// Region of the load balancer, for the key URL.
	Region string
	// Signer is the ARN of the load balancer; tokens signed for another are refused.
	Signer string
	// KeyURL is the key endpoint with {region} and {kid} placeholders (DefaultALBKeyURL;
	// tests serve keys from a local server).
	KeyURL string
	// Client fetches the keys (default: 5 s timeout).
	Client *http.Client
}

// kidRE keeps a key id from steering the key URL elsewhere (no '/', '?', '#', '..').
var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

type albVerifier struct {
	cfg  ALBConfig
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]*ecdsa.PublicKey
}

func newALBVerifier(cfg ALBConfig, now func() time.Time) (*albVerifier, error) {
	if cfg.Signer == "" {
		return nil, errors.New("ALB verification needs the load balancer's ARN (--alb-signer)")
	}
	if cfg.KeyURL == "" {
		cfg.KeyURL = DefaultALBKeyURL
	}
	if strings.Contains(cfg.KeyURL, "{region}") && cfg.Region == "" {
		return nil, errors.New("ALB verification needs the region of the key endpoint (--alb-region)")
	}
	if !strings.Contains(cfg.KeyURL, "{kid}") {
		return nil, fmt.Errorf("ALB key URL %q has no {kid} placeholder", cfg.KeyURL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	return &albVerifier{cfg: cfg, now: now, keys: map[string]*ecdsa.PublicKey{}}, nil
}

// albUser is the user an x-amzn-oidc-data header names: a display name (email, username
// or sub) and the subject, which the access token must share.
type albUser struct{ Name, Sub string }

// verify checks an x-amzn-oidc-data value and returns the user it names.
func (v *albVerifier) verify(ctx context.Context, raw string) (albUser, error) {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(v.now),
		jwt.WithLeeway(30*time.Second),
		jwt.WithPaddingAllowed(), // the ALB pads its base64url segments
	)
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		signer, _ := tok.Header["signer"].(string)
		if signer != v.cfg.Signer {
			return nil, fmt.Errorf("signed by %q, not the configured load balancer", signer)
		}
		kid, _ := tok.Header["kid"].(string)
		return v.key(ctx, kid)
	})
	if err != nil {
		return albUser{}, err
	}
	u := albUser{}
	u.Sub, _ = claims["sub"].(string)
	for _, k := range []string{"email", "username", "sub"} {
		if s, _ := claims[k].(string); s != "" {
			u.Name = s
			return u, nil
		}
	}
	return albUser{}, errors.New("token names no user (email, username or sub)")
}

// key returns the public key kid, fetched once from the key endpoint.
func (v *albVerifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if !kidRE.MatchString(kid) {
		return nil, fmt.Errorf("key id %q is not acceptable", kid)
	}
	v.mu.Lock()
	k := v.keys[kid]
	v.mu.Unlock()
	if k != nil {
		return k, nil
	}
	url := strings.NewReplacer("{region}", v.cfg.Region, "{kid}", kid).Replace(v.cfg.KeyURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch ALB key %s: %w", kid, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch ALB key %s: HTTP %d", kid, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("ALB key %s is not PEM", kid)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ALB key %s: %w", kid, err)
	}
	ek, isEC := pub.(*ecdsa.PublicKey)
	if !isEC {
		return nil, fmt.Errorf("ALB key %s is not an ECDSA key", kid)
	}
	v.mu.Lock()
	if len(v.keys) >= 64 { // keys rotate rarely; never grow without bound
		v.keys = map[string]*ecdsa.PublicKey{}
	}
	v.keys[kid] = ek
	v.mu.Unlock()
	return ek, nil
}
