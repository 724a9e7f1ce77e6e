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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
)

// ProxyPath is the path, below the hub's URL, of cluster's proxy.
func ProxyPath(cluster string) string {
	return "/apis/clusters.headlamp.dev/v1alpha1/clusters/" + cluster + "/proxy"
}

// UserPrefix starts the name of the user entry Build writes: the hub
// context's user under a name of its own, so that no other user entry of
// a kubeconfig it is merged with, or put beside, can stand in for it.
const UserPrefix = "clusters.headlamp.dev/"

// Build returns a kubeconfig with one context per cluster, named prefix and
// the cluster's name, whose server is that cluster's proxy on the hub of
// hub's context hubContext, with that context's cluster entry (CA, TLS
// server name, proxy URL) and user entry, copied under the name
// UserPrefix+hubContext.
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
	base, err := ParseHub(hubCluster.Server)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", ctx.Cluster, err)
	}
	userName := UserPrefix + hubContext
	out := clientcmdapi.NewConfig()
	u := user.DeepCopy()
	u.LocationOfOrigin = ""
	out.AuthInfos[userName] = u
	for _, name := range clusters {
		server, err := ProxyURL(base, name)
		if err != nil {
			return nil, err
		}
		entry := hubCluster.DeepCopy()
		entry.Server = server
		entry.LocationOfOrigin = ""
		out.Clusters[prefix+name] = entry
		out.Contexts[prefix+name] = &clientcmdapi.Context{Cluster: prefix + name, AuthInfo: userName}
	}
	return out, nil
}

// ParseHub parses a hub's server URL: a scheme and a host, and no user,
// query or fragment, which a proxy URL below it could not keep.
func ParseHub(server string) (*url.URL, error) {
	base, err := url.Parse(server)
	if err != nil || base.Scheme == "" || base.Host == "" || base.RawQuery != "" || base.Fragment != "" || base.Opaque != "" || base.User != nil {
		return nil, fmt.Errorf("the hub's server is not a URL with a scheme and host and without user, query or fragment")
	}
	return base, nil
}

// ProxyURL returns the URL of cluster's proxy on hub. A Cluster's name is
// an object name; anything else could move the path out of the proxy
// (client-go cleans ".."), so it is refused.
func ProxyURL(hub *url.URL, cluster string) (string, error) {
	if errs := validation.IsDNS1123Subdomain(cluster); len(errs) > 0 {
		return "", fmt.Errorf("the hub lists a Cluster named %q, which is not a valid name: %s", cluster, strings.Join(errs, "; "))
	}
	return hub.JoinPath(ProxyPath(cluster)).String(), nil
}

// NoCredentialSuffix ends the name of the user entry WithoutCredential
// writes.
const NoCredentialSuffix = "/no-credential" // #nosec G101 -- a name, not a credential

// WithoutCredential turns a kubeconfig of Build into one for a client that
// brings each person's own credential, such as a shared Headlamp
// deployment that sends its signed-in user's token: the contexts' user
// entry is empty, and the hub's CA, when a file, is read into the cluster
// entries (it is public, and the kubeconfig is meant for another
// machine).
func WithoutCredential(cfg *clientcmdapi.Config) error {
	names := make(map[string]string, len(cfg.AuthInfos))
	for name := range cfg.AuthInfos {
		names[name] = name + NoCredentialSuffix
		delete(cfg.AuthInfos, name)
		cfg.AuthInfos[names[name]] = clientcmdapi.NewAuthInfo()
	}
	for _, ctx := range cfg.Contexts {
		ctx.AuthInfo = names[ctx.AuthInfo]
	}
	for name, c := range cfg.Clusters {
		if c.InsecureSkipTLSVerify {
			return fmt.Errorf("the hub's cluster entry skips TLS verification, which --no-credential will not copy into a kubeconfig for others: verify the hub")
		}
		if u, err := url.Parse(c.ProxyURL); err == nil && u.User != nil {
			return fmt.Errorf("the hub's proxy-url carries a user name or password, which --no-credential will not copy: reach the hub without it")
		}
		c.Extensions = nil
		if c.CertificateAuthority == "" {
			continue
		}
		data, err := os.ReadFile(c.CertificateAuthority)
		if err != nil {
			return fmt.Errorf("reading the hub's CA for cluster %q: %w", name, err)
		}
		if _, err := certutil.ParseCertsPEM(data); err != nil {
			return fmt.Errorf("the hub's CA %s: %w", c.CertificateAuthority, err)
		}
		c.CertificateAuthorityData, c.CertificateAuthority = data, ""
	}
	return nil
}

// replaceable tells whether into's context and cluster entries of name
// may be replaced by gen's: absent, or written by an earlier Merge of the
// same hub user for the same hub. Another hub context's context of the
// same name is not ours to repoint, nor a cluster entry of another server,
// or one a context of another user still uses: that context would send
// its credential to this hub.
func replaceable(into, gen *clientcmdapi.Config, name string) bool {
	user := gen.Contexts[name].AuthInfo
	if c, ok := into.Contexts[name]; ok && c.AuthInfo != user {
		return false
	}
	if c, ok := into.Clusters[name]; ok {
		if c.Server != gen.Clusters[name].Server {
			return false
		}
		for _, ctx := range into.Contexts {
			if ctx.Cluster == name && ctx.AuthInfo != user {
				return false
			}
		}
	}
	return true
}

// Merge adds gen's clusters, users and contexts to into, replacing only
// entries that an earlier Merge of the same hub user wrote (keeping the
// namespace and extensions the person gave such a context), and leaving
// every other entry, and the current context, as they are: merging the
// same clusters again changes nothing. It fails, changing nothing, when a
// context or cluster of into of the same name is not one it wrote for this
// hub user (choose a context prefix), and when into's user of the same
// name is another user.
func Merge(into, gen *clientcmdapi.Config) error {
	for name := range gen.Contexts {
		if !replaceable(into, gen, name) {
			return fmt.Errorf("the kubeconfig already has a context or cluster %q of its own or of another hub context; choose a --context-prefix", name)
		}
	}
	for name, u := range gen.AuthInfos {
		if have, ok := into.AuthInfos[name]; ok && !sameUser(have, u) {
			return fmt.Errorf("the kubeconfig already has a different user %q; merge into another file, or remove that user", name)
		}
	}
	for name, u := range gen.AuthInfos {
		// The same user, tokens an auth provider refreshed aside: the copy
		// already there keeps its tokens, which may be the newer.
		if _, ok := into.AuthInfos[name]; !ok {
			into.AuthInfos[name] = u.DeepCopy()
		}
	}
	for name, c := range gen.Clusters {
		entry := c.DeepCopy()
		if have, ok := into.Clusters[name]; ok {
			entry.LocationOfOrigin = have.LocationOfOrigin
		}
		into.Clusters[name] = entry
	}
	for name, c := range gen.Contexts {
		entry := c.DeepCopy()
		if have, ok := into.Contexts[name]; ok {
			entry.Namespace, entry.Extensions, entry.LocationOfOrigin = have.Namespace, have.Extensions, have.LocationOfOrigin
		}
		into.Contexts[name] = entry
	}
	return nil
}

// Prune removes from into the contexts, and their cluster entries, that an
// earlier Merge of the same hub user and context prefix wrote and that
// gen no longer has: those of Clusters that left the hub, or that the
// selector no longer chooses. It returns their names. into's current
// context and the contexts named in keep (the person's current context,
// which another kubeconfig file may set) stay, as does a cluster entry
// another context still uses; nothing else of into is touched.
func Prune(into, gen *clientcmdapi.Config, prefix string, keep ...string) []string {
	var gone []string
	for name, ctx := range into.Contexts {
		if _, stays := gen.Contexts[name]; stays || name == into.CurrentContext || slices.Contains(keep, name) ||
			!strings.HasPrefix(name, prefix) || gen.AuthInfos[ctx.AuthInfo] == nil {
			continue
		}
		// Written with this prefix: its server is the proxy of the name
		// without it.
		c := into.Clusters[ctx.Cluster]
		if c == nil || !strings.HasSuffix(c.Server, ProxyPath(strings.TrimPrefix(name, prefix))) {
			continue
		}
		delete(into.Contexts, name)
		gone = append(gone, name)
	}
	for _, name := range gone {
		used := false
		for _, ctx := range into.Contexts {
			used = used || ctx.Cluster == name
		}
		if !used {
			delete(into.Clusters, name)
		}
	}
	return gone
}

// sameUser compares two user entries, wherever they were read from, and
// whatever tokens their auth provider has refreshed and written back since
// (each copy of an auth provider persists its own), as long as their ID
// tokens name the same subject of the same issuer.
func sameUser(a, b *clientcmdapi.AuthInfo) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	a.LocationOfOrigin, b.LocationOfOrigin = "", ""
	var subjects [2]string
	for i, u := range []*clientcmdapi.AuthInfo{a, b} {
		if u.AuthProvider != nil {
			subjects[i] = idTokenSubject(u.AuthProvider.Config["id-token"])
			for _, key := range []string{"id-token", "refresh-token", "access-token", "expiry"} {
				delete(u.AuthProvider.Config, key)
			}
		}
	}
	return subjects[0] == subjects[1] && reflect.DeepEqual(a, b)
}

// idTokenSubject returns the issuer and subject an ID token names, read
// without verification (only to compare two copies of one user), or the
// token itself when it cannot be read.
func idTokenSubject(token string) string {
	if token == "" {
		return ""
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return token
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return token
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Sub == "" {
		return token
	}
	return claims.Iss + " " + claims.Sub
}

// HubContext returns the hub context behind context name of cfg: name
// itself, or, for a context Build wrote, the hub context its user was
// copied from, when cfg still has it and name's server is a Cluster's
// proxy on that context's server. So a person whose current context is a
// member's, through the hub, still reaches the hub with kubectl clusters.
func HubContext(cfg *clientcmdapi.Config, name string) string {
	ctx, ok := cfg.Contexts[name]
	if !ok || !strings.HasPrefix(ctx.AuthInfo, UserPrefix) {
		return name
	}
	hub := strings.TrimSuffix(strings.TrimPrefix(ctx.AuthInfo, UserPrefix), NoCredentialSuffix)
	hubCtx, member := cfg.Contexts[hub], cfg.Clusters[ctx.Cluster]
	if hubCtx == nil || member == nil || cfg.Clusters[hubCtx.Cluster] == nil {
		return name
	}
	base := strings.TrimSuffix(cfg.Clusters[hubCtx.Cluster].Server, "/")
	if !strings.HasPrefix(member.Server, base+"/apis/clusters.headlamp.dev/v1alpha1/clusters/") {
		return name
	}
	return hub
}
