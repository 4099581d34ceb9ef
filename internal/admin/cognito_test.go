package admin

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	poolKeyOnce sync.Once
	poolKeyVal  *rsa.PrivateKey
)

// poolSigningKey is the test user pool's RSA key (generated once: 2048-bit keys are slow).
func poolSigningKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	poolKeyOnce.Do(func() { poolKeyVal, _ = rsa.GenerateKey(rand.Reader, 2048) })
	if poolKeyVal == nil {
		t.Fatal("no RSA key")
	}
	return poolKeyVal
}

// accessToken is a Cognito access token of the ALB's user (sub 1234) in cso-admins, as the
// user pool would sign it; mutate changes header or claims first.
func (f *fixture) accessToken(t *testing.T, mutate func(h map[string]any, c jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": "1234", "username": "ops", "cognito:groups": []string{"operators", "cso-admins"},
		"iss": poolIssuer, "token_use": "access", "client_id": appClient, "scope": "openid",
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": randomID()}
	key, kid := f.poolSigner()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	if mutate != nil {
		mutate(tok.Header, claims)
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCognitoAdminGroup(t *testing.T) {
	f := newFixture(t, nil)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	signedByOther := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "1234", "cognito:groups": []string{"cso-admins"},
			"iss": poolIssuer, "token_use": "access", "client_id": appClient, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = poolKid
		s, _ := tok.SignedString(otherKey)
		return s
	}()
	hs256 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "1234", "cognito:groups": []string{"cso-admins"},
			"iss": poolIssuer, "token_use": "access", "client_id": appClient, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = poolKid
		s, _ := tok.SignedString([]byte("guessable"))
		return s
	}()
	claim := func(k string, v any) func(map[string]any, jwt.MapClaims) {
		return func(_ map[string]any, c jwt.MapClaims) {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
	}
	data := f.albToken(t, nil)
	cases := []struct {
		name, data, access string
		code               int
	}{
		{"admin", data, f.accessToken(t, nil), 200},
		{"not in the group", data, f.accessToken(t, claim("cognito:groups", []string{"operators"})), 403},
		{"no groups at all", data, f.accessToken(t, claim("cognito:groups", nil)), 403},
		{"no access token", data, "", 401},
		{"signed by another key", data, signedByOther, 401},
		{"HS256 with a guessable secret", data, hs256, 401},
		{"another user pool", data, f.accessToken(t, claim("iss", "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_other")), 401},
		{"another app client", data, f.accessToken(t, claim("client_id", "other-client")), 401},
		{"id token instead of access token", data, f.accessToken(t, func(_ map[string]any, c jwt.MapClaims) {
			c["token_use"], c["aud"] = "id", appClient
			delete(c, "client_id")
		}), 401},
		{"id token with client_id", data, f.accessToken(t, claim("token_use", "id")), 401},
		{"expired", data, f.accessToken(t, claim("exp", time.Now().Add(-2*time.Minute).Unix())), 401},
		{"no expiry", data, f.accessToken(t, claim("exp", nil)), 401},
		{"unknown kid", data, f.accessToken(t, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "rotated-away" }), 401},
		{"access token of another user", data, f.accessToken(t, claim("sub", "5678")), 401},
		{"user claims without sub", f.albToken(t, func(_ map[string]any, c jwt.MapClaims) { delete(c, "sub") }), f.accessToken(t, nil), 401},
		{"valid access token, forged user claims", "not-a-jwt", f.accessToken(t, nil), 401},
	}
	c := f.client()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{ALBHeader: tc.data}
			if tc.access != "" {
				hdr[AccessTokenHeader] = tc.access
			}
			resp, body := get(t, c, f.srv.URL+"/admin/api/status", hdr)
			if resp.StatusCode != tc.code {
				t.Errorf("API: status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			resp, page := get(t, c, f.srv.URL+"/admin/", hdr)
			if resp.StatusCode != tc.code {
				t.Errorf("page: status %d, want %d", resp.StatusCode, tc.code)
			}
			checkHeaders(t, resp)
			switch tc.code {
			case 200:
				if !strings.Contains(page, "ops@example.com") {
					t.Error("dashboard does not name the ALB user")
				}
			case 403:
				if !strings.Contains(page, "ops@example.com is signed in but is not a member of the Cognito group cso-admins") ||
					strings.Contains(page, "Keystone") && strings.Contains(page, "Sign in") {
					t.Errorf("403 page does not say the user is not in the group: %s", page)
				}
				if strings.Contains(body, "probes") || strings.Contains(page, "keystone01") {
					t.Error("a forbidden user sees dashboard data")
				}
			}
		})
	}
	// One fetch at first use; the unknown kid may refetch at most once per MinRefresh,
	// which has not passed.
	if n := f.jwksGets.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (cached, refresh bounded)", n)
	}
}

// A key the pool starts using after the first fetch is picked up once MinRefresh has
// passed, and not before.
func TestCognitoKeyRotation(t *testing.T) {
	now := time.Now()
	var clock sync.Mutex
	f := newFixture(t, func(c *Config) {
		c.Now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
		c.Cognito.MinRefresh = time.Minute
	})
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	c := f.client()
	hdr := func() map[string]string {
		return map[string]string{ALBHeader: f.albToken(t, nil), AccessTokenHeader: f.accessToken(t, nil)}
	}
	if resp, body := get(t, c, f.srv.URL+"/admin/api/status", hdr()); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	// The pool rotates its key: the served set now holds only the new one, under a new id.
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	f.poolMu.Lock()
	f.poolKey, f.poolKeyID = newKey, "rotated-kid"
	f.poolMu.Unlock()
	if resp, _ := get(t, c, f.srv.URL+"/admin/api/status", hdr()); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("new key before MinRefresh: %d, want 401 (no refetch yet)", resp.StatusCode)
	}
	advance(2 * time.Minute)
	if resp, body := get(t, c, f.srv.URL+"/admin/api/status", hdr()); resp.StatusCode != 200 {
		t.Errorf("new key after MinRefresh: %d, want 200: %s", resp.StatusCode, body)
	}
	if n := f.jwksGets.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

func TestCognitoJWKSUnreachableFailsClosed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Cognito.JWKSURL = "http://127.0.0.1:1/jwks.json" })
	resp, body := get(t, f.client(), f.srv.URL+"/admin/api/status",
		map[string]string{ALBHeader: f.albToken(t, nil), AccessTokenHeader: f.accessToken(t, nil)})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Cognito") {
		t.Errorf("JWKS unreachable: %d %s, want 503", resp.StatusCode, body)
	}
}

func TestALBNeedsCognito(t *testing.T) {
	for name, cfg := range map[string]Config{
		"ALB without the group check": {ALB: &ALBConfig{Region: "eu-west-2", Signer: signer}},
		"group check without ALB":     {Cognito: &CognitoConfig{Region: poolRegion, UserPoolID: poolID, ClientID: appClient}},
		"bad pool id":                 {ALB: &ALBConfig{Region: "eu-west-2", Signer: signer}, Cognito: &CognitoConfig{Region: poolRegion, UserPoolID: "../x", ClientID: appClient}},
		"region that is not one":      {ALB: &ALBConfig{Region: "eu-west-2", Signer: signer}, Cognito: &CognitoConfig{Region: "evil.example/x", UserPoolID: poolID, ClientID: appClient}},
		"no client":                   {ALB: &ALBConfig{Region: "eu-west-2", Signer: signer}, Cognito: &CognitoConfig{Region: poolRegion, UserPoolID: poolID}},
	} {
		cfg.TargetFile = "/nonexistent/target.json"
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
