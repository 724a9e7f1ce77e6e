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

package cluster

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/proxy"
)

// ProxyREST is the clusters/proxy subresource: it forwards any request to
// the member cluster's API server.
type ProxyREST struct {
	proxy *proxy.Proxy
}

var (
	_ rest.Storage   = &ProxyREST{}
	_ rest.Connecter = &ProxyREST{}
)

// proxyMethods are the HTTP methods forwarded to members.
var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// ProxyMethods returns the HTTP methods forwarded to members.
func ProxyMethods() []string { return slices.Clone(proxyMethods) }

// NewProxyREST returns the storage of the proxy subresource.
func NewProxyREST(p *proxy.Proxy) *ProxyREST {
	return &ProxyREST{proxy: p}
}

// New implements rest.Storage.
func (r *ProxyREST) New() runtime.Object { return &clusters.ClusterProxyOptions{} }

// Destroy implements rest.Storage.
func (r *ProxyREST) Destroy() {}

// ConnectMethods implements rest.Connecter.
func (r *ProxyREST) ConnectMethods() []string { return proxyMethods }

// NewConnectOptions implements rest.Connecter: the rest of the URL after
// proxy/ is the path on the member.
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &clusters.ClusterProxyOptions{}, true, "path"
}

// Connect implements rest.Connecter.
func (r *ProxyREST) Connect(_ context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	proxyOpts, ok := opts.(*clusters.ClusterProxyOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", opts)
	}
	return r.proxy.Handler(name, proxyOpts.Path, responder)
}
