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

package clusterprofile

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// withExec is accessProvider("a") with the given exec extension (none
// when raw is empty).
func withExec(raw string) cpv1alpha1.AccessProvider {
	ap := accessProvider("a")
	var exts = ap.Cluster.Extensions[:0:0]
	for _, e := range ap.Cluster.Extensions {
		if e.Name != execExtension {
			exts = append(exts, e)
		}
	}
	if raw != "" {
		exts = append(exts, ap.Cluster.Extensions[0])
		exts[len(exts)-1].Extension = runtime.RawExtension{Raw: []byte(raw)}
	}
	ap.Cluster.Extensions = exts
	return ap
}

// TestProfilesAreUntrusted checks what a ClusterProfile writer cannot do:
// name a file on the server, or ask the plugin for another cluster's
// credential unless the provider allows it.
func TestProfilesAreUntrusted(t *testing.T) {
	t.Parallel()
	bound := &ProvidersFile{Config: &access.Config{Providers: []access.Provider{provider("a")}}}
	free := &ProvidersFile{Config: bound.Config, clusterNameFromProfile: map[string]bool{"a": true}}
	caFile := accessProvider("a")
	caFile.Cluster.CertificateAuthority = "/etc/shadow"
	caFile.Cluster.CertificateAuthorityData = nil
	tests := []struct {
		name        string
		providers   *ProvidersFile
		ap          cpv1alpha1.AccessProvider
		wantErr     string
		wantCluster string // the plugin's cluster configuration
	}{
		{name: "own clusterName", providers: bound, ap: withExec(`{"clusterName":"prod"}`), wantCluster: `{"clusterName":"prod"}`},
		{name: "empty: bound to the profile", providers: bound, ap: withExec(`{}`), wantCluster: `{"clusterName":"prod"}`},
		{name: "no exec extension: bound to the profile", providers: bound, ap: withExec(""), wantCluster: `{"clusterName":"prod"}`},
		{name: "another field", providers: bound, ap: withExec(`{"clusterName":"prod","namespace":"kube-system"}`), wantErr: `field "namespace"`},
		{name: "clusterName in lower case", providers: bound, ap: withExec(`{"clustername":"payments"}`), wantErr: `field "clustername"`},
		{name: "clusterName with a long s", providers: bound, ap: withExec(`{"clusterName":"prod","clu\u017fterName":"payments"}`), wantErr: "the plugin is given only clusterName"},
		{name: "another cluster's name", providers: bound, ap: withExec(`{"clusterName":"payments"}`),
			wantErr: `clusterName "payments" is not this profile's name "prod"`},
		{name: "not an object", providers: bound, ap: withExec(`["x"]`), wantErr: "not a JSON object"},
		{name: "another cluster's name, provider allows it", providers: free, ap: withExec(`{"clusterName":"payments","region":"eu"}`), wantCluster: `{"clusterName":"payments","region":"eu"}`},
		{name: "a CA file", providers: bound, ap: caFile, wantErr: "certificate-authority names a file on the server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := (&memberBuilder{providers: tc.providers, providerFile: "/p.json"}).member(profile(tc.ap))
			if tc.wantErr != "" {
				if m.Access.Err == nil || m.Access.Err.Reason != clusters.ReasonInvalidAccessProvider || !strings.Contains(m.Access.Err.Message, tc.wantErr) {
					t.Fatalf("access error %+v, want %s with %q", m.Access.Err, clusters.ReasonInvalidAccessProvider, tc.wantErr)
				}
				if strings.Contains(m.Access.Err.Message, "/etc/shadow") || m.Access.Config != nil {
					t.Errorf("the refusal echoes the path or still builds a configuration: %+v", m.Access)
				}
				return
			}
			if m.Access.Err != nil {
				t.Fatalf("access error %+v", m.Access.Err)
			}
			if got := string(m.Access.Config.ExecProvider.Config.(*runtime.Unknown).Raw); got != tc.wantCluster {
				t.Errorf("plugin cluster configuration %s, want %s", got, tc.wantCluster)
			}
			if m.Access.Config.CAFile != "" {
				t.Errorf("CA file %q", m.Access.Config.CAFile)
			}
		})
	}
}

func TestLoadProvidersClusterNamePolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(policy string) string {
		path := filepath.Join(dir, policy+".json")
		content := `{"providers":[{"name":"a","execConfig":{"apiVersion":"client.authentication.k8s.io/v1","command":"p"},"profileSourcedClusterNamePolicy":"` + policy + `"}]}`
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for policy, want := range map[string]bool{"": false, ClusterNameBindToProfile: false, ClusterNameFromProfile: true} {
		p, err := LoadProviders(file(policy))
		if err != nil || p.clusterNameFromProfile["a"] != want {
			t.Errorf("policy %q: %v, FromProfile=%v; want %v", policy, err, p != nil && p.clusterNameFromProfile["a"], want)
		}
	}
	path := file("Sometimes")
	if _, err := LoadProviders(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `profileSourcedClusterNamePolicy "Sometimes"`) {
		t.Errorf("an unknown policy: %v; want an error naming the file and the field", err)
	}
}

// TestProfileSourcedPolicies checks what a profile's additional-args and
// additional-envs extensions do under each policy of the provider.
func TestProfileSourcedPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     access.ProfileSourcedCLIArgsPolicy
		envs     access.ProfileSourcedEnvVarsPolicy
		wantArgs []string
		wantEnv  map[string]string
	}{
		{name: "Ignore (the default)", wantArgs: []string{"--base"}, wantEnv: map[string]string{"FROM_FILE": "1"}},
		{name: "Ignore, explicitly", args: access.ProfileSourcedCLIArgsPolicyIgnore, envs: access.ProfileSourcedEnvVarsPolicyIgnore,
			wantArgs: []string{"--base"}, wantEnv: map[string]string{"FROM_FILE": "1"}},
		{name: "Append, AppendIfNotExists", args: access.ProfileSourcedCLIArgsPolicyAppend, envs: access.ProfileSourcedEnvVarsPolicyAppendIfNotExists,
			wantArgs: []string{"--base", "--cluster=prod"}, wantEnv: map[string]string{"FROM_FILE": "1", "FROM_PROFILE": "2"}},
		{name: "Replace", args: access.ProfileSourcedCLIArgsPolicyAppend, envs: access.ProfileSourcedEnvVarsPolicyReplace,
			wantArgs: []string{"--base", "--cluster=prod"}, wantEnv: map[string]string{"FROM_FILE": "overridden?", "FROM_PROFILE": "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := provider("a")
			p.ProfileSourcedCLIArgsPolicy, p.ProfileSourcedEnvVarsPolicy = tc.args, tc.envs
			m := (&memberBuilder{providers: &ProvidersFile{Config: &access.Config{Providers: []access.Provider{p}}}}).member(profile(accessProvider("a")))
			if m.Access.Err != nil {
				t.Fatal(m.Access.Err)
			}
			exec := m.Access.Config.ExecProvider
			env := map[string]string{}
			for _, e := range exec.Env {
				env[e.Name] = e.Value
			}
			if !slices.Equal(exec.Args, tc.wantArgs) || !maps.Equal(env, tc.wantEnv) {
				t.Errorf("args %q env %v; want %q %v", exec.Args, env, tc.wantArgs, tc.wantEnv)
			}
		})
	}
}

// memberWithProfileEnv builds the member of a profile whose access
// provider adds the environment variables of envJSON, under a provider
// that lets profiles replace them.
func memberWithProfileEnv(envJSON string) inventory.Member {
	ap := accessProvider("a")
	for i, e := range ap.Cluster.Extensions {
		if e.Name == additionalEnvsExtension {
			ap.Cluster.Extensions[i].Extension = runtime.RawExtension{Raw: []byte(envJSON)}
		}
	}
	p := provider("a")
	p.ProfileSourcedEnvVarsPolicy = access.ProfileSourcedEnvVarsPolicyReplace
	return (&memberBuilder{providers: &ProvidersFile{Config: &access.Config{Providers: []access.Provider{p}}}}).member(profile(ap))
}

// TestProfileEnvironmentDenied checks that a profile cannot set, even
// where the provider lets profiles add environment variables, those that
// change which program runs or what it reads.
func TestProfileEnvironmentDenied(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"PATH", "LD_PRELOAD", "kubeconfig", "KUBERNETES_SERVICE_HOST", "HTTPS_PROXY", "https_proxy", "SSL_CERT_FILE", "GODEBUG", "CLUSTERS_APISERVER_MEMBER",
		"PYTHONPATH", "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "PERL5OPT", "RUBYOPT", "GCONV_PATH", "OPENSSL_CONF", "REQUESTS_CA_BUNDLE", "HOSTALIASES"} {
		t.Run(name, func(t *testing.T) {
			m := memberWithProfileEnv(`{"` + name + `":"x"}`)
			if m.Access.Err == nil || !strings.Contains(m.Access.Err.Message, "may not set "+name) {
				t.Errorf("access %+v; want a refusal naming %s", m.Access.Err, name)
			}
		})
	}
	// A name holding "=" would set another variable (HTTPS_PROXY, here)
	// than the deny list sees; it is refused without being quoted.
	t.Run("name holding =", func(t *testing.T) {
		m := memberWithProfileEnv(`{"HTTPS_PROXY=http://evil.example:3128/":""}`)
		if m.Access.Err == nil || !strings.Contains(m.Access.Err.Message, `holds "="`) || strings.Contains(m.Access.Err.Message, "evil") {
			t.Errorf("access %+v; want a refusal that does not quote the name", m.Access.Err)
		}
	})
}
