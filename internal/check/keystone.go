package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/keystoneapi"
	"github.com/cso-ssp/platform/internal/status"
)

// keystoneURL is the HTTPS base URL of a Keystone node.
func keystoneURL(h inventory.Host) string {
	return fmt.Sprintf("https://%s:%d", h.FQDN, h.Ports[inventory.PortKeystone])
}

// crossValidationRequests is how many Keystone requests a cross-validation probe chains.
const crossValidationRequests = 3

// tokenResult is a token issued by one node, shared by the probes that need it.
type tokenResult struct {
	once  sync.Once
	token string
	err   error
}

func (c *Checker) keystoneProbes() []Probe {
	nodes := inventory.ByRole(c.t.Hosts, envfile.RoleKeystone)
	if len(nodes) == 0 {
		return nil
	}
	tokens := make([]*tokenResult, len(nodes))
	for i := range tokens {
		tokens[i] = &tokenResult{}
	}
	// Each Keystone request has the whole probe timeout (--timeout): a cross-validation
	// chains three (a token from each node, then the validation), and a node answers them
	// behind the token issues of the other probes (bcrypt, one WSGI process per CPU), so one
	// budget for the chain would call a busy node down.
	get := func(ctx context.Context, i int) (string, error) {
		tr := tokens[i]
		tr.once.Do(func() {
			rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
			defer cancel()
			tr.token, tr.err = c.issueToken(rctx, nodes[i])
		})
		return tr.token, tr.err
	}
	var ps []Probe
	for i, n := range nodes {
		ps = append(ps, Probe{Check: "keystone token", Target: n.Name, Group: GroupKeystone, Host: n.Name,
			Run: func(ctx context.Context) Outcome {
				if _, err := get(ctx, i); err != nil {
					return fail("%v", err)
				}
				return ok("token issued to %s (project %s, domain %s)", c.opts.KeystoneUser, c.opts.KeystoneProject, c.opts.KeystoneDomain)
			}})
	}
	// The LLD's cross-server validation: each node's token validated on every other node.
	for i, issuer := range nodes {
		for j, validator := range nodes {
			if i == j {
				continue
			}
			ps = append(ps, Probe{Check: "keystone cross-validation", Target: issuer.Name + " -> " + validator.Name,
				Group: GroupKeystone, Host: validator.Name, Timeout: crossValidationRequests * c.opts.Timeout,
				Run: func(ctx context.Context) Outcome {
					subject, err := get(ctx, i)
					if err != nil {
						return fail("no token from %s to validate: %v", issuer.Name, err)
					}
					own, err := get(ctx, j)
					if err != nil {
						return fail("no token from %s to authenticate with: %v", validator.Name, err)
					}
					rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
					defer cancel()
					return c.validateToken(rctx, issuer, validator, own, subject)
				}})
		}
	}
	for _, k := range c.keySets() {
		ps = append(ps, Probe{Check: "keystone " + k.name + " keys", Target: "keystone cluster", Group: GroupKeystone,
			Run: func(ctx context.Context) Outcome { return c.compareKeySets(ctx, nodes, k) }})
	}
	return ps
}

// issueToken asks node for a project-scoped token with the check's credentials (the
// automation identity by default).
func (c *Checker) issueToken(ctx context.Context, node inventory.Host) (string, error) {
	pw, err := c.secret(ctx, c.opts.KeystoneSecret)
	if err != nil {
		return "", err
	}
	k := keystoneapi.Client{HTTP: c.client, URLs: []string{keystoneURL(node)}}
	tok, _, err := k.Issue(ctx, keystoneapi.Credentials{User: c.opts.KeystoneUser, Password: pw, Domain: c.opts.KeystoneDomain, Project: c.opts.KeystoneProject})
	var se *keystoneapi.StatusError
	switch {
	case errors.As(err, &se):
		return "", fmt.Errorf("%s refused a token for %s: HTTP %d%s", node.Name, c.opts.KeystoneUser, se.Status, keystoneMessage(se))
	case err != nil && errors.As(err, new(*url.Error)):
		return "", fmt.Errorf("POST %s: %s", keystoneURL(node)+keystoneapi.TokensPath, httpErr(err))
	case err != nil:
		return "", fmt.Errorf("%s: %v", node.Name, err)
	}
	return tok, nil
}

func (c *Checker) validateToken(ctx context.Context, issuer, validator inventory.Host, own, subject string) Outcome {
	k := keystoneapi.Client{HTTP: c.client, URLs: []string{keystoneURL(validator)}}
	_, err := k.Validate(ctx, own, subject)
	var se *keystoneapi.StatusError
	switch {
	case err == nil:
		return ok("%s accepts the token issued by %s", validator.Name, issuer.Name)
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return fail("%s does not recognize the token issued by %s (HTTP 404%s): their fernet key sets differ",
			validator.Name, issuer.Name, keystoneMessage(se))
	case se != nil:
		return fail("%s answered HTTP %d validating the token issued by %s%s", validator.Name, se.Status, issuer.Name, keystoneMessage(se))
	case errors.As(err, new(*url.Error)):
		return fail("GET %s: %s", keystoneURL(validator)+keystoneapi.TokensPath, httpErr(err))
	}
	return fail("%s: %v", validator.Name, err)
}

// keystoneMessage is Keystone's message in a refusal, as a suffix of the check's detail.
func keystoneMessage(se *keystoneapi.StatusError) string {
	if se.Message == "" {
		return ""
	}
	return ": " + se.Message
}

func readKeyDir(dir string) (status.KeyDigests, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	keys := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue // keys are named 0, 1, 2 ...
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		keys[e.Name()] = b
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no keys (files 0, 1, ...)", dir)
	}
	return status.DigestKeys(keys), nil
}

// keySet names one of the key sets every Keystone node must hold identically.
type keySet struct {
	name string            // "fernet" or "credential"
	fact string            // the status fact its agents publish
	dirs map[string]string // each node's key directory, when the check can read them
}

func (c *Checker) keySets() []keySet {
	return []keySet{
		{name: "fernet", fact: status.FactFernetKeys, dirs: c.t.FernetKeyDirs},
		{name: "credential", fact: status.FactCredentialKeys},
	}
}

// nodeKeySets returns each Keystone node's set k: read from its key directory when the
// target names them (local target), else as the node's agent last published it in its
// status document (AWS, where the check cannot read the nodes' files). source says which.
func (c *Checker) nodeKeySets(ctx context.Context, nodes []inventory.Host, k keySet) (sets map[string]status.KeyDigests, problems []string, source string) {
	sets = map[string]status.KeyDigests{}
	if len(k.dirs) > 0 {
		for _, n := range nodes {
			dir, found := k.dirs[n.Name]
			if !found {
				problems = append(problems, fmt.Sprintf("%s: no %s key directory in the target description", n.Name, k.name))
				continue
			}
			set, err := readKeyDir(dir)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", n.Name, err))
				continue
			}
			sets[n.Name] = set
		}
		return sets, problems, "key directories"
	}
	store := c.statusStore()
	if store == nil {
		return nil, nil, ""
	}
	for _, n := range nodes {
		doc, err := store.Get(ctx, n.Name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		fact, found := doc.Facts[k.fact]
		if !found {
			problems = append(problems, fmt.Sprintf("%s: its agent has published no %s key digests (setup %s; run the agent to completion)", n.Name, k.name, doc.State))
			continue
		}
		set, err := status.ParseKeyDigests(fact)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: status document: %v", n.Name, err))
			continue
		}
		sets[n.Name] = set
	}
	return sets, problems, "as each node's agent last published them"
}

// compareKeySets checks that every Keystone node holds the same set k; the detail names
// each node that differs from the first and how.
func (c *Checker) compareKeySets(ctx context.Context, nodes []inventory.Host, k keySet) Outcome {
	sets, problems, source := c.nodeKeySets(ctx, nodes, k)
	if source == "" {
		return warn("neither %s key directories nor a status store in the target description: key sets not compared (cross-validation still runs)", k.name)
	}
	var ref status.KeyDigests
	var refName string
	for _, n := range nodes {
		set, found := sets[n.Name]
		if !found {
			continue
		}
		if ref == nil {
			ref, refName = set, n.Name
			continue
		}
		if d := diffKeys(refName, ref, n.Name, set); d != "" {
			problems = append(problems, fmt.Sprintf("%s differs from %s: %s", n.Name, refName, d))
		}
	}
	if len(problems) > 0 {
		return fail("%s", strings.Join(problems, "; "))
	}
	return ok("%d nodes hold the same %d keys (%s; %s)", len(nodes), len(ref), strings.Join(ref.Names(), ","), source)
}

func diffKeys(an string, a status.KeyDigests, bn string, b status.KeyDigests) string {
	var d []string
	for _, k := range a.Names() {
		hb, in := b[k]
		switch {
		case !in:
			d = append(d, fmt.Sprintf("key %s only on %s", k, an))
		case hb != a[k]:
			d = append(d, fmt.Sprintf("key %s differs", k))
		}
	}
	for _, k := range b.Names() {
		if _, in := a[k]; !in {
			d = append(d, fmt.Sprintf("key %s only on %s", k, bn))
		}
	}
	return strings.Join(d, ", ")
}
