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

// Package fleetconfig writes kubeconfigs that reach member clusters through
// the hub's clusters/proxy subresource, with the person's own hub
// credential: each context's user is the hub context's user entry, copied
// as it is (an exec plugin stays a plugin, a token file a file, certificate
// paths paths), never resolved into a new secret.
package fleetconfig

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ProxyPath is the path, below the hub's URL, of cluster's proxy.
func ProxyPath(cluster string) string {
	return "/apis/clusters.headlamp.dev/v1alpha1/clusters/" + url.PathEscape(cluster) + "/proxy"
}

// Build returns a kubeconfig with one context per cluster, named prefix and
// the cluster's name, whose server is that cluster's proxy on the hub of
// hub's context hubContext, with that context's cluster entry (CA, TLS
// server name, proxy URL) and user entry, copied.
func Build(hub *clientcmdapi.Config, hubContext, prefix string, clusters []string) (*clientcmdapi.Config, error) {
	if hubContext == "" {
		hubContext = hub.CurrentContext
	}
	ctx, ok := hub.Contexts[hubContext]
	if !ok {
		return nil, fmt.Errorf("the kubeconfig has no context %q to reach the hub through", hubContext)
	}
	hubCluster, ok := hub.Clusters[ctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("context %q names cluster %q, which the kubeconfig does not have", hubContext, ctx.Cluster)
	}
	user, ok := hub.AuthInfos[ctx.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("context %q names user %q, which the kubeconfig does not have", hubContext, ctx.AuthInfo)
	}
	base := strings.TrimSuffix(hubCluster.Server, "/")
	out := clientcmdapi.NewConfig()
	// The user entry keeps its name: one entry, the same the hub
	// context uses, for every cluster.
	out.AuthInfos[ctx.AuthInfo] = user.DeepCopy()
	for _, name := range clusters {
		entry := hubCluster.DeepCopy()
		entry.Server = base + ProxyPath(name)
		entry.LocationOfOrigin = ""
		out.Clusters[prefix+name] = entry
		out.Contexts[prefix+name] = &clientcmdapi.Context{Cluster: prefix + name, AuthInfo: ctx.AuthInfo}
	}
	for _, u := range out.AuthInfos {
		u.LocationOfOrigin = ""
	}
	return out, nil
}

// Merge adds generated's clusters, users and contexts to into, replacing
// clusters and contexts of the same names and leaving every other entry,
// and the current context, as they are: merging the same clusters again
// changes nothing. A user entry of the same name must be the same user:
// otherwise the contexts would use another credential than the hub's, and
// Merge fails, changing nothing.
func Merge(into, generated *clientcmdapi.Config) error {
	for name, u := range generated.AuthInfos {
		if have, ok := into.AuthInfos[name]; ok && !sameUser(have, u) {
			return fmt.Errorf("the kubeconfig already has a different user %q; merge into another file, or rename that user", name)
		}
	}
	for name, u := range generated.AuthInfos {
		if _, ok := into.AuthInfos[name]; !ok {
			into.AuthInfos[name] = u.DeepCopy()
		}
	}
	for name, c := range generated.Clusters {
		into.Clusters[name] = c.DeepCopy()
	}
	for name, c := range generated.Contexts {
		into.Contexts[name] = c.DeepCopy()
	}
	return nil
}

// sameUser compares two user entries, wherever they were read from.
func sameUser(a, b *clientcmdapi.AuthInfo) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	a.LocationOfOrigin, b.LocationOfOrigin = "", ""
	return reflect.DeepEqual(a, b)
}
