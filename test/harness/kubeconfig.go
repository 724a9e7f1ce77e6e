/*
Copyright The Headlamp Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package harness

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigEntry is one context of a kubeconfig file: a server, the CA
// that signed its certificate, either a client certificate or a token, and
// optionally the context's namespace.
type kubeconfigEntry struct {
	name      string
	server    string
	caPEM     []byte
	client    *keyPair
	token     string
	namespace string
}

// writeKubeconfig writes a self-contained kubeconfig (all credentials
// inline) with one cluster, user and context per entry, all named after
// the entry. The first entry is the current context.
func writeKubeconfig(path string, entries ...kubeconfigEntry) error {
	cfg := clientcmdapi.NewConfig()
	for _, e := range entries {
		cfg.Clusters[e.name] = &clientcmdapi.Cluster{Server: e.server, CertificateAuthorityData: e.caPEM}
		user := &clientcmdapi.AuthInfo{Token: e.token}
		if e.client != nil {
			user.ClientCertificateData = e.client.CertPEM
			user.ClientKeyData = e.client.KeyPEM
		}
		cfg.AuthInfos[e.name] = user
		cfg.Contexts[e.name] = &clientcmdapi.Context{Cluster: e.name, AuthInfo: e.name, Namespace: e.namespace}
	}
	if len(entries) > 0 {
		cfg.CurrentContext = entries[0].name
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// restConfig loads the current context of a kubeconfig file.
func restConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// writeKubeconfigs writes the hub admin kubeconfig, one admin kubeconfig
// per member, and the members kubeconfig with a context per member.
func (e *Env) writeKubeconfigs() error {
	entry := func(c *cluster) kubeconfigEntry {
		return kubeconfigEntry{name: c.name, server: c.url, caPEM: c.ca.CertPEM, client: c.admin}
	}
	e.HubURL = e.hub.url
	e.HubKubeconfig = filepath.Join(e.WorkDir, "hub.kubeconfig")
	if err := writeKubeconfig(e.HubKubeconfig, entry(e.hub)); err != nil {
		return err
	}
	entries := make([]kubeconfigEntry, 0, len(e.members))
	e.Members = make([]Member, 0, len(e.members))
	for _, c := range e.members {
		m := Member{Name: c.name, URL: c.url, Kubeconfig: filepath.Join(e.WorkDir, c.name+".kubeconfig")}
		if err := writeKubeconfig(m.Kubeconfig, entry(c)); err != nil {
			return err
		}
		e.Members = append(e.Members, m)
		entries = append(entries, entry(c))
	}
	e.MembersKubeconfig = filepath.Join(e.WorkDir, "members.kubeconfig")
	return writeKubeconfig(e.MembersKubeconfig, entries...)
}

// UserKubeconfig writes a kubeconfig for the hub that authenticates as user
// in groups with a client certificate signed by the hub's CA, and returns
// its path. The user has no permissions beyond what RBAC grants it.
func (e *Env) UserKubeconfig(user string, groups ...string) (string, error) {
	e.mu.Lock()
	e.userSeq++
	name := fmt.Sprintf("user-%d", e.userSeq)
	e.mu.Unlock()
	cert, err := e.hub.ca.clientCert(e.pkiDir, name, user, groups...)
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.WorkDir, name+".kubeconfig")
	return path, writeKubeconfig(path, kubeconfigEntry{name: "hub", server: e.hub.url, caPEM: e.hub.ca.CertPEM, client: cert})
}
