package keystone

import (
	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/status"
)

// Facts implements agent.FactReporter: the digests of the key sets this node installed,
// published in its status document so that `cso check` can compare the nodes of an AWS
// environment, whose key directories it cannot read, and the shared sets' key times
// (`cso keys status`).
func (role) Facts(rt *agent.Runtime) map[string]string {
	l := Paths(rt.Paths, rt.Host.Name)
	facts := map[string]string{}
	for fact, dir := range map[string]string{status.FactFernetKeys: l.FernetKeys, status.FactCredentialKeys: l.CredentialKeys} {
		if keys, err := readKeys(dir); err == nil && len(keys) > 0 {
			facts[fact] = status.DigestKeys(keys).String()
		}
	}
	for fact, kind := range map[string]string{status.FactFernetKeyTimes: KindFernet, status.FactCredentialKeyTimes: KindCredential} {
		if infos, err := ReadKeySet(l, kind); err == nil {
			facts[fact] = KeyTimes(infos)
		}
	}
	return facts
}
