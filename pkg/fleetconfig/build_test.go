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

package fleetconfig

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
)

// hubKubeconfig is a kubeconfig of a hub with one context per kind of user
// credential, every file a path.
const hubKubeconfig = `apiVersion: v1
kind: Config
current-context: exec
clusters:
- name: hub
  cluster:
    server: https://hub.example.com:6443/prefix/
    certificate-authority: /etc/hub/ca.crt
    tls-server-name: hub.internal
users:
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /usr/local/bin/login-plugin
      args: ["--audience", "hub"]
      env: [{name: SECRET_SOURCE, value: vault}]
      interactiveMode: IfAvailable
- name: oidc
  user:
    auth-provider:
      name: oidc
      config: {idp-issuer-url: https://issuer, client-id: hub, refresh-token: rt-not-copied-anew}
- name: tokenfile
  user:
    tokenFile: /var/run/secrets/hub-token
- name: cert
  user:
    client-certificate: /etc/hub/me.crt
    client-key: /etc/hub/me.key
contexts:
- {name: exec, context: {cluster: hub, user: exec}}
- {name: oidc, context: {cluster: hub, user: oidc}}
- {name: tokenfile, context: {cluster: hub, user: tokenfile}}
- {name: cert, context: {cluster: hub, user: cert}}
`

func loadHub(t *testing.T) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(hubKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBuildCarriesTheUserByReference: every kind of user credential is the
// hub context's user entry, unchanged: no secret is resolved or added.
func TestBuildCarriesTheUserByReference(t *testing.T) {
	hub := loadHub(t)
	for _, ctx := range []string{"exec", "oidc", "tokenfile", "cert"} {
		t.Run(ctx, func(t *testing.T) {
			out, err := Build(hub, ctx, "fleet-", []string{"prod", "dev.eu"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]*clientcmdapi.AuthInfo{UserPrefix + ctx: hub.AuthInfos[ctx]}, out.AuthInfos,
				cmp.Comparer(sameUser)); diff != "" {
				t.Errorf("users (-hub +generated):\n%s", diff)
			}
			for _, name := range []string{"prod", "dev.eu"} {
				c, ok := out.Contexts["fleet-"+name]
				if !ok || c.AuthInfo != UserPrefix+ctx || c.Cluster != "fleet-"+name {
					t.Fatalf("context fleet-%s: %+v", name, c)
				}
				cl := out.Clusters["fleet-"+name]
				want := "https://hub.example.com:6443/prefix/apis/clusters.headlamp.dev/v1alpha1/clusters/" + name + "/proxy"
				if cl.Server != want || cl.CertificateAuthority != "/etc/hub/ca.crt" || cl.TLSServerName != "hub.internal" || len(cl.CertificateAuthorityData) != 0 {
					t.Errorf("cluster fleet-%s: %+v; want server %s with the hub's CA file and TLS server name", name, cl, want)
				}
			}
			// Written out, nothing but what the hub kubeconfig holds.
			data, err := clientcmd.Write(*out)
			if err != nil {
				t.Fatal(err)
			}
			for _, absent := range []string{"\n    token:", "client-certificate-data", "client-key-data", "certificate-authority-data"} {
				if strings.Contains(string(data), absent) {
					t.Errorf("the generated kubeconfig holds %s:\n%s", absent, data)
				}
			}
		})
	}
	if _, err := Build(hub, "nope", "", []string{"x"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("a missing context: %v", err)
	}
	// A name that would leave the proxy's path, and a hub URL whose query
	// would swallow the path, are refused.
	if _, err := Build(hub, "exec", "", []string{"a/../../../../api/v1"}); err == nil {
		t.Error("a Cluster name with slashes was accepted")
	}
	hub.Clusters["hub"].Server = "https://hub.example.com:6443/?x=1"
	if _, err := Build(hub, "exec", "", []string{"a"}); err == nil {
		t.Error("a hub server with a query was accepted")
	}
}

// TestMergeIsIdempotent: merging adds the clusters' contexts, leaves the
// rest, and merging again changes nothing; a different user of the same
// name is refused.
func TestMergeIsIdempotent(t *testing.T) {
	hub := loadHub(t)
	out, err := Build(hub, "exec", "", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(hubKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	merge := func() []byte {
		into, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := Merge(into, out); err != nil {
			t.Fatal(err)
		}
		if err := clientcmd.WriteToFile(*into, path); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		return data
	}
	first := merge()
	if diff := cmp.Diff(string(first), string(merge())); diff != "" {
		t.Errorf("merging again changed the file:\n%s", diff)
	}
	merged, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if merged.CurrentContext != "exec" || len(merged.Contexts) != 6 || len(merged.AuthInfos) != 5 || merged.Clusters["hub"] == nil {
		t.Errorf("after merging: current %q, %d contexts, %d users", merged.CurrentContext, len(merged.Contexts), len(merged.AuthInfos))
	}

	other := clientcmdapi.NewConfig()
	other.AuthInfos[UserPrefix+"exec"] = &clientcmdapi.AuthInfo{Token: "someone-else"}
	if err := Merge(other, out); err == nil {
		t.Error("a different user of the same name was not refused")
	}
	if len(other.Contexts) != 0 {
		t.Errorf("a refused merge added %d contexts", len(other.Contexts))
	}

	// A context of the person's own, named like a Cluster, is never
	// replaced: the merge is refused.
	own := loadHub(t)
	clash, err := Build(own, "exec", "", []string{"oidc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(own, clash); err == nil || !strings.Contains(err.Error(), "--context-prefix") {
		t.Errorf("merging over the person's own context: %v", err)
	}
	if own.Contexts["oidc"].AuthInfo != "oidc" {
		t.Errorf("the person's context was changed: %+v", own.Contexts["oidc"])
	}
}

// TestHubContext: a context Build wrote leads back to its hub context.
func TestHubContext(t *testing.T) {
	hub := loadHub(t)
	out, err := Build(hub, "exec", "fleet-", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(hub, out); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"fleet-a": "exec", "exec": "exec", "oidc": "oidc", "missing": "missing"} {
		if got := HubContext(hub, name); got != want {
			t.Errorf("HubContext(%s) = %s; want %s", name, got, want)
		}
	}
}

// TestWithoutCredential: the contexts name an empty user entry, no
// credential of the hub user is left, and the hub's CA file is read in.
func TestWithoutCredential(t *testing.T) {
	hub := loadHub(t)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	caPEM, _, err := certutil.GenerateSelfSignedCertKey("hub.example.com", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	hub.Clusters["hub"].CertificateAuthority = ca
	for ctx := range hub.Contexts {
		out, err := Build(hub, ctx, "", []string{"prod"})
		if err != nil {
			t.Fatal(err)
		}
		if err := WithoutCredential(out); err != nil {
			t.Fatal(err)
		}
		user := UserPrefix + ctx + NoCredentialSuffix
		if diff := cmp.Diff(map[string]*clientcmdapi.AuthInfo{user: clientcmdapi.NewAuthInfo()}, out.AuthInfos); diff != "" {
			t.Errorf("%s: users (-want +got):\n%s", ctx, diff)
		}
		if got := out.Contexts["prod"].AuthInfo; got != user {
			t.Errorf("%s: context prod uses user %q; want %q", ctx, got, user)
		}
		if c := out.Clusters["prod"]; c.CertificateAuthority != "" || !bytes.Equal(c.CertificateAuthorityData, caPEM) {
			t.Errorf("%s: CA %q / %q; want the file's bytes inline", ctx, c.CertificateAuthority, c.CertificateAuthorityData)
		}
		// From such a context, the plugin still finds the hub.
		merged := hub.DeepCopy()
		if err := Merge(merged, out); err != nil {
			t.Fatal(err)
		}
		if got := HubContext(merged, "prod"); got != ctx {
			t.Errorf("HubContext from prod = %q; want %q", got, ctx)
		}
	}
	notPEM := filepath.Join(t.TempDir(), "not.crt")
	if err := os.WriteFile(notPEM, []byte("token: secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	hub.Clusters["hub"].CertificateAuthority = notPEM
	out, err := Build(hub, "exec", "", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := WithoutCredential(out); err == nil || !strings.Contains(err.Error(), "not.crt") {
		t.Errorf("a CA file without certificates: %v; want an error naming it", err)
	}
	hub.Clusters["hub"].CertificateAuthority = ca
	hub.Clusters["hub"].ProxyURL = "http://me:pw@proxy.example.com:3128"
	if out, err = Build(hub, "exec", "", []string{"prod"}); err != nil {
		t.Fatal(err)
	}
	if err := WithoutCredential(out); err == nil || !strings.Contains(err.Error(), "proxy-url") {
		t.Errorf("a proxy-url with a password: %v; want it refused", err)
	}
	hub.Clusters["hub"].ProxyURL = ""
	hub.Clusters["hub"].CertificateAuthority = filepath.Join(t.TempDir(), "missing.crt")
	out, err = Build(hub, "exec", "", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := WithoutCredential(out); err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("a missing CA file: %v; want an error naming it", err)
	}
}

// TestPrune: only the contexts the same hub user and prefix wrote, and the
// new output lacks, go.
func TestPrune(t *testing.T) {
	into := loadHub(t)
	for _, step := range []struct {
		ctx, prefix string
		clusters    []string
	}{{"exec", "", []string{"a", "b"}}, {"exec", "p-", []string{"a"}}, {"cert", "", []string{"c"}}} {
		out, err := Build(into, step.ctx, step.prefix, step.clusters)
		if err != nil {
			t.Fatal(err)
		}
		if err := Merge(into, out); err != nil {
			t.Fatal(err)
		}
	}
	now, err := Build(into, "exec", "", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	into.CurrentContext = "p-a"
	gone := Prune(into, now, "p-")
	if len(gone) != 0 {
		t.Errorf("pruned the current context: %v", gone)
	}
	gone = Prune(into, now, "")
	if diff := cmp.Diff([]string{"b"}, gone); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	for _, name := range []string{"a", "p-a", "c", "exec", "oidc", "tokenfile", "cert"} {
		if into.Contexts[name] == nil {
			t.Errorf("context %s was removed", name)
		}
	}
	if into.Contexts["b"] != nil || into.Clusters["b"] != nil {
		t.Errorf("context or cluster b is left")
	}
}

// TestMergeKeepsWhatIsNotItsOwn: a context of another hub context is not
// repointed, a namespace the person set survives a merge, and an auth
// provider's refreshed tokens are not "another user".
func TestMergeKeepsWhatIsNotItsOwn(t *testing.T) {
	into := loadHub(t)
	fromExec, err := Build(into, "exec", "", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, fromExec); err != nil {
		t.Fatal(err)
	}
	fromCert, err := Build(into, "cert", "", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, fromCert); err == nil || !strings.Contains(err.Error(), "another hub context") {
		t.Errorf("repointing prod at another hub context's user: %v; want it refused", err)
	}
	into.Contexts["prod"].Namespace = "shop"
	if err := Merge(into, fromExec); err != nil {
		t.Fatal(err)
	}
	if got := into.Contexts["prod"]; got.Namespace != "shop" || got.AuthInfo != UserPrefix+"exec" {
		t.Errorf("after merging again: %+v; want namespace shop kept", got)
	}

	idToken := func(sub string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://issuer","sub":"`+sub+`"}`)) + ".sig"
	}
	into.AuthInfos["oidc"].AuthProvider.Config["id-token"] = idToken("ada")
	fromOIDC, err := Build(into, "oidc", "o-", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, fromOIDC); err != nil {
		t.Fatal(err)
	}
	// The copy refreshed its own tokens since: the same user, kept as is.
	copied := into.AuthInfos[UserPrefix+"oidc"].AuthProvider.Config
	copied["id-token"], copied["refresh-token"] = idToken("ada")+"x", "rotated-by-the-copy"
	into.AuthInfos["oidc"].AuthProvider.Config["refresh-token"] = "rotated-by-the-hub-user"
	again, err := Build(into, "oidc", "o-", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, again); err != nil {
		t.Errorf("merging after an auth provider refreshed its tokens: %v", err)
	}
	if got := into.AuthInfos[UserPrefix+"oidc"].AuthProvider.Config["refresh-token"]; got != "rotated-by-the-copy" {
		t.Errorf("the copied auth provider's refresh token is %q; want its own kept", got)
	}
	// Another subject of the same issuer is another user.
	into.AuthInfos["oidc"].AuthProvider.Config["id-token"] = idToken("bob")
	other, err := Build(into, "oidc", "o-", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, other); err == nil {
		t.Error("a copy of another OIDC subject was taken for the same user")
	}
}

// TestMergeRepointsNoOtherHubsContext: a context of hub A that was renamed
// still uses cluster entry prod; merging hub B's prod must not point that
// cluster entry at B, which would send A's credential to B.
func TestMergeRepointsNoOtherHubsContext(t *testing.T) {
	into := loadHub(t)
	fromA, err := Build(into, "exec", "", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, fromA); err != nil {
		t.Fatal(err)
	}
	into.Contexts["a-prod"] = into.Contexts["prod"]
	delete(into.Contexts, "prod")
	into.Clusters["hub-b"] = &clientcmdapi.Cluster{Server: "https://hub-b.example.com"}
	into.Contexts["b"] = &clientcmdapi.Context{Cluster: "hub-b", AuthInfo: "cert"}
	fromB, err := Build(into, "b", "", []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Merge(into, fromB); err == nil {
		t.Error("hub B's prod replaced the cluster entry hub A's renamed context uses")
	}
	if got := into.Clusters["prod"].Server; !strings.HasPrefix(got, "https://hub.example.com:6443/") {
		t.Errorf("cluster prod now points at %s", got)
	}
}

// TestHubContextChecksTheServer: a context whose user is named like a copy
// of a hub context's, but whose server is not a proxy on that hub, is not
// taken for it.
func TestHubContextChecksTheServer(t *testing.T) {
	cfg := loadHub(t)
	cfg.Clusters["elsewhere"] = &clientcmdapi.Cluster{Server: "https://evil.example.com/apis/clusters.headlamp.dev/v1alpha1/clusters/x/proxy"}
	cfg.AuthInfos[UserPrefix+"exec"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["crafted"] = &clientcmdapi.Context{Cluster: "elsewhere", AuthInfo: UserPrefix + "exec"}
	if got := HubContext(cfg, "crafted"); got != "crafted" {
		t.Errorf("HubContext(crafted) = %q; want crafted itself", got)
	}
}
