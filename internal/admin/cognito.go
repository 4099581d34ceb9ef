package admin

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessTokenHeader carries the Cognito access token the ALB obtained for the user, as
// Cognito issued it (the ALB does not sign it).
const AccessTokenHeader = "x-amzn-oidc-accesstoken"

// DefaultAdminGroup is the Cognito group whose members may use the dashboard through the
// ALB; Terraform creates it in the environment's user pool.
const DefaultAdminGroup = "cso-admins"

// CognitoConfig admits a user the ALB authenticated only when the user's Cognito access
// token is valid for the app client and lists Group in its cognito:groups claim.
type CognitoConfig struct {
	// Region and UserPoolID name the user pool; the expected issuer is
	// https://cognito-idp.<Region>.amazonaws.com/<UserPoolID>.
	Region, UserPoolID string
	// ClientID is the app client the ALB signs users in with (the token's client_id).
	ClientID string
	// Group is the administrators' group (default DefaultAdminGroup).
	Group string
	// JWKSURL is where the pool's signing keys are (default <issuer>/.well-known/jwks.json;
	// tests serve keys from a local server).
	JWKSURL string
	// Client fetches the keys (default: 5 s timeout).
	Client *http.Client
	// MinRefresh is the shortest time between two fetches of the key set: a token with an
	// unknown kid fetches again at most this often (default 5 minutes).
	MinRefresh time.Duration
}

// userPoolIDRE is the documented pattern of a user pool id ([\w-]+_[0-9a-zA-Z]+, e.g.
// eu-west-2_abc; AWS::Cognito::UserPoolUserToGroupAttachment UserPoolId).
var userPoolIDRE = regexp.MustCompile(`^[\w-]+_[0-9a-zA-Z]+$`)

// regionRE is an AWS region name; it becomes part of the issuer and key set URLs.
var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// Issuer is the iss claim of the pool's tokens.
func (c CognitoConfig) Issuer() string {
	return fmt.Sprintf("https://cognito-idp.%s.amazonaws.com/%s", c.Region, c.UserPoolID)
}

// errUnavailable marks a failure to decide (the key set could not be fetched), as opposed
// to a refused token.
var errUnavailable = errors.New("cannot check the Cognito access token")

type cognitoVerifier struct {
	cfg    CognitoConfig
	issuer string
	now    func() time.Time

	mu        sync.Mutex // held across a fetch, so concurrent requests share it
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time
}

func newCognitoVerifier(cfg CognitoConfig, now func() time.Time) (*cognitoVerifier, error) {
	switch {
	case !regionRE.MatchString(cfg.Region):
		return nil, fmt.Errorf("--cognito-region %q is not an AWS region such as eu-west-2", cfg.Region)
	case !userPoolIDRE.MatchString(cfg.UserPoolID):
		return nil, fmt.Errorf("--cognito-user-pool %q is not a Cognito user pool id of the form <region>_<id>", cfg.UserPoolID)
	case cfg.ClientID == "":
		return nil, errors.New("the Cognito group check needs the ALB's app client id (--cognito-client-id)")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultAdminGroup
	}
	issuer := cfg.Issuer()
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = issuer + "/.well-known/jwks.json"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 5 * time.Minute
	}
	return &cognitoVerifier{cfg: cfg, issuer: issuer, now: now}, nil
}

// accessClaims is what the dashboard reads from a verified access token.
type accessClaims struct {
	Sub      string
	Username string
	Groups   []string
}

// verify checks a Cognito access token as AWS documents it (signature RS256 by a key of
// the pool's JWKS, iss, token_use "access", client_id, exp) and returns its claims.
func (v *cognitoVerifier) verify(ctx context.Context, raw string) (accessClaims, error) {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(v.issuer),
		jwt.WithTimeFunc(v.now),
		jwt.WithLeeway(30*time.Second),
	)
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		return v.key(ctx, kid)
	})
	if err != nil {
		return accessClaims{}, err // errUnavailable stays visible to errors.Is
	}
	if use, _ := claims["token_use"].(string); use != "access" {
		return accessClaims{}, fmt.Errorf("token_use is %q, not an access token", use)
	}
	if id, _ := claims["client_id"].(string); id != v.cfg.ClientID {
		return accessClaims{}, fmt.Errorf("issued to client %q, not the ALB's app client", id)
	}
	c := accessClaims{}
	c.Sub, _ = claims["sub"].(string)
	c.Username, _ = claims["username"].(string)
	if c.Sub == "" {
		return accessClaims{}, errors.New("access token has no sub")
	}
	if gs, ok := claims["cognito:groups"].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	}
	return c, nil
}

// admits says whether the claims name the administrators' group.
func (v *cognitoVerifier) admits(c accessClaims) bool { return slices.Contains(c.Groups, v.cfg.Group) }

// key returns the pool's public key kid. The key set is fetched on first use and again
// when a token names a key it does not hold (Cognito rotates keys), at most once per
// MinRefresh so that tokens with made-up key ids cannot make the dashboard hammer Cognito.
func (v *cognitoVerifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if !cognitoKidRE.MatchString(kid) {
		return nil, fmt.Errorf("key id %q is not acceptable", kid)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if k := v.keys[kid]; k != nil {
		return k, nil
	}
	if v.keys != nil && v.now().Sub(v.fetchedAt) < v.cfg.MinRefresh {
		return nil, fmt.Errorf("key id %q is not in the user pool's key set", kid)
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	v.keys, v.fetchedAt = keys, v.now()
	if k := v.keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("key id %q is not in the user pool's key set", kid)
}

// cognitoKidRE admits Cognito's key ids (base64 of a digest: letters, digits, + / =).
var cognitoKidRE = regexp.MustCompile(`^[A-Za-z0-9+/=_-]{1,128}$`)

func (v *cognitoVerifier) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", v.cfg.JWKSURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %d", v.cfg.JWKSURL, resp.StatusCode)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%s: not a JSON web key set: %w", v.cfg.JWKSURL, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Alg != "" && k.Alg != "RS256" || k.Use != "" && k.Use != "sig" || len(keys) >= 16 {
			continue
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 || len(n) < 256 {
			continue // malformed or shorter than 2048 bits
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no RSA signing key", v.cfg.JWKSURL)
	}
	return keys, nil
}
