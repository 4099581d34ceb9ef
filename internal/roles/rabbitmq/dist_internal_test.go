package rabbitmq

import (
	"os/user"
	"slices"
	"strings"
	"testing"

	"github.com/cso-ssp/platform/internal/agent"
)

// TestDistTLSOnAL2023: on Amazon Linux 2023 the plan writes inter_node_tls.config (readable
// by the rabbitmq user: no secret in it, only paths), restarts the node when it changes, and
// starts the node, its ExecStop and every CLI call with TLS distribution; rabbitmq-env.conf
// carries the same flags for an operator's rabbitmqctl. epmd and distribution listen on the
// instance's address there: the security group admits 4369 and 25672 from RabbitMQ nodes only.
func TestDistTLSOnAL2023(t *testing.T) {
	defer func(e func() int, l func(string) error) { geteuid, lookupUser = e, l }(geteuid, lookupUser)
	geteuid = func() int { return 0 }
	lookupUser = func(name string) error { return user.UnknownUserError(name) }

	dir := t.TempDir()
	p := &recordingPlatform{AL2023: &agent.AL2023{Runner: &fakeRPM{t: t}, UnitDir: dir + "/units", EnvDir: dir + "/env", StateDir: dir + "/state"}}
	rt := awsRuntime(t, p)
	steps, err := Role{}.Steps(rt)
	if err != nil {
		t.Fatal(err)
	}
	self := NodeFor(rt.Host, rt.Paths)
	files := map[string]agent.File{}
	for _, s := range steps {
		for _, task := range s.Tasks {
			if f, ok := task.(agent.File); ok {
				files[f.Path] = f
			}
		}
	}
	dist, ok := files[self.DistConfig]
	if !ok {
		t.Fatalf("no step writes %s", self.DistConfig)
	}
	if string(dist.Content) != string(RenderDistConfig(self)) || dist.Secret || (dist.Mode != 0 && dist.Mode&0o004 == 0) {
		t.Errorf("%s: mode %o secret %v content:\n%s", dist.Path, dist.Mode, dist.Secret, dist.Content)
	}
	for _, want := range []string{self.CACert(), self.Cert(), self.Key()} {
		if !strings.Contains(string(dist.Content), `"`+want+`"`) {
			t.Errorf("inter_node_tls.config does not name %s:\n%s", want, dist.Content)
		}
	}

	if len(p.specs) != 1 {
		t.Fatalf("service specs %+v", p.specs)
	}
	spec := p.specs[0]
	if !slices.Contains(spec.ConfigFiles, self.DistConfig) {
		t.Errorf("the node is not restarted when %s changes: %v", self.DistConfig, spec.ConfigFiles)
	}
	// A renewed certificate (the files the listeners and the distribution name) is reloaded
	// by clearing the PEM cache, never by a restart.
	for _, f := range []string{self.CACert(), self.Cert(), self.Key()} {
		if slices.Contains(spec.ConfigFiles, f) || !slices.Contains(spec.ReloadFiles, f) {
			t.Errorf("%s: a reload file, not a configuration file (config %v, reload %v)", f, spec.ConfigFiles, spec.ReloadFiles)
		}
	}
	if got := strings.Join(spec.Reload.Command, " "); !strings.Contains(got, "-n "+self.Name) || !strings.HasSuffix(got, " eval ssl:clear_pem_cache().") {
		t.Errorf("reload command %q", got)
	}
	args := "-proto_dist inet_tls -ssl_dist_optfile " + self.DistConfig + " -kernel net_setuptime 30"
	for _, want := range []string{"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=" + args, "RABBITMQ_CTL_ERL_ARGS=" + args} {
		if !slices.Contains(spec.Env, want) {
			t.Errorf("service environment (ExecStart and ExecStop) lacks %q: %v", want, spec.Env)
		}
	}
	if spec.StopCommand[0] != CtlBin {
		t.Errorf("stop command %v", spec.StopCommand)
	}
	for _, kv := range spec.Env {
		if strings.HasPrefix(kv, "ERL_EPMD_ADDRESS=") || strings.Contains(kv, "inet_dist_use_interface") {
			t.Errorf("on EC2 epmd and distribution must listen on the instance's address: %s", kv)
		}
	}
	envConf := string(files[self.EnvConfig].Content)
	for _, want := range []string{`SERVER_ADDITIONAL_ERL_ARGS="` + args + `"`, `CTL_ERL_ARGS="` + args + `"`} {
		if !strings.Contains(envConf, want+"\n") {
			t.Errorf("rabbitmq-env.conf lacks %s:\n%s", want, envConf)
		}
	}

	// Locally every listener, distribution and epmd included, stays on loopback.
	local := NodeFor(rt.Host, rt.Paths)
	local.Loopback, local.DistConfig = true, "/x/inter_node_tls.config"
	env := strings.Join(local.Env(), "\n") + "\n"
	for _, want := range []string{
		"RABBITMQ_CTL_ERL_ARGS=-proto_dist inet_tls -ssl_dist_optfile /x/inter_node_tls.config -kernel net_setuptime 30 -kernel inet_dist_use_interface {127,0,0,1}\n",
		"ERL_EPMD_ADDRESS=127.0.0.1\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("local node environment lacks %q:\n%s", want, env)
		}
	}
	if conf := string(local.envConf()); !strings.Contains(conf, "ERL_EPMD_ADDRESS=\"127.0.0.1\"\n") {
		t.Errorf("local rabbitmq-env.conf lacks ERL_EPMD_ADDRESS:\n%s", conf)
	}
}
