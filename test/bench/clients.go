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

package main

import (
	"crypto/tls"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// clients holds what authenticates to each hop: member-1 and the hub as
// their admins, and clusters-apiserver itself, past the hub, as the hub's
// front proxy does.
type clients struct {
	member *tls.Config // member-1's admin
	hub    *tls.Config // the hub's admin
	server *tls.Config // the hub's front-proxy client certificate
	// frontProxy are the headers the hub sends with its front-proxy
	// certificate for its admin.
	frontProxy http.Header

	env *harness.Env
}

// newClients reads the credentials the harness wrote.
func newClients(env *harness.Env) (*clients, error) {
	c := &clients{env: env}
	var err error
	if c.member, err = kubeconfigTLS(env.Members[0].Kubeconfig); err != nil {
		return nil, err
	}
	if c.hub, err = kubeconfigTLS(env.HubKubeconfig); err != nil {
		return nil, err
	}
	if c.server, c.frontProxy, err = env.FrontProxyTLS(); err != nil {
		return nil, err
	}
	return c, nil
}

// kubeconfigTLS is the TLS configuration of a kubeconfig's current context.
func kubeconfigTLS(path string) (*tls.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	return rest.TLSConfigFor(cfg)
}

// httpClient returns a client with one keep-alive connection pool that
// prefers HTTP/2, as client-go's transports do: concurrent requests share
// a connection.
func httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     cfg.Clone(),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// endpoint is a URL, the client that reaches it and the headers it needs.
type endpoint struct {
	name   string
	url    string
	header http.Header
	tls    *tls.Config
}

// direct is path on member-1, as its admin.
func (c *clients) direct(path string) endpoint {
	return endpoint{name: "direct", url: c.env.Members[0].URL + path, tls: c.member}
}

// viaHub is path on the hub, as its admin.
func (c *clients) viaHub(path string) endpoint {
	return endpoint{name: "hub", url: c.env.HubURL + path, tls: c.hub}
}

// viaServer is path on clusters-apiserver's own port, as the hub's front
// proxy forwarding its admin.
func (c *clients) viaServer(path string) endpoint {
	return endpoint{name: "server", url: c.env.ServerURL + path, tls: c.server, header: c.frontProxy}
}

// memberKube is a client-go clientset of member-1's admin without
// client-side rate limits.
func memberKube(env *harness.Env) (kubernetes.Interface, error) {
	return kubeFor(env.Members[0].Kubeconfig)
}

// hubKube is a client-go clientset of the hub's admin without client-side
// rate limits.
func hubKube(env *harness.Env) (kubernetes.Interface, error) {
	return kubeFor(env.HubKubeconfig)
}

func kubeFor(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := harness.RESTConfigFor(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}
