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
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

func provider(name string) access.Provider {
	return access.Provider{
		Name: name,
		ExecConfig: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/" + name, Args: []string{"--base"},
			Env: []clientcmdapi.ExecEnvVar{{Name: "FROM_FILE", Value: "1"}}, ProvideClusterInfo: true,
		},
		ProfileSourcedCLIArgsPolicy: access.ProfileSourcedCLIArgsPolicyAppend,
		ProfileSourcedEnvVarsPolicy: access.ProfileSourcedEnvVarsPolicyAppendIfNotExists,
	}
}

func profile(providers ...cpv1alpha1.AccessProvider) *cpv1alpha1.ClusterProfile {
	return &cpv1alpha1.ClusterProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "prod", Labels: map[string]string{cpv1alpha1.LabelClusterManagerKey: "ocm"}},
		Spec:       cpv1alpha1.ClusterProfileSpec{DisplayName: "Production", ClusterManager: cpv1alpha1.ClusterManager{Name: "ocm"}},
		Status: cpv1alpha1.ClusterProfileStatus{
			Conditions:      []metav1.Condition{{Type: cpv1alpha1.ClusterConditionControlPlaneHealthy, Status: metav1.ConditionTrue, Reason: "Healthy", ObservedGeneration: 3}},
			Version:         cpv1alpha1.ClusterVersion{Kubernetes: "v1.36.2"},
			Properties:      []cpv1alpha1.Property{{Name: "clusterset.k8s.io", Value: "eu"}},
			AccessProviders: providers,
		},
	}
}

func accessProvider(name string) cpv1alpha1.AccessProvider {
	return cpv1alpha1.AccessProvider{Name: name, Cluster: clientcmdv1.Cluster{
		Server:                   "https://user:pw@prod.example:6443",
		CertificateAuthorityData: []byte("CA"),
		TLSServerName:            "api.prod",
		InsecureSkipTLSVerify:    true,
		DisableCompression:       true,
		ProxyURL:                 "http://proxy.example:3128",
		Extensions: []clientcmdv1.NamedExtension{
			{Name: execExtension, Extension: runtime.RawExtension{Raw: []byte(`{"clusterName":"prod"}`)}},
			{Name: additionalArgsExtension, Extension: runtime.RawExtension{Raw: []byte(`["--cluster=prod"]`)}},
			{Name: additionalEnvsExtension, Extension: runtime.RawExtension{Raw: []byte(`{"FROM_PROFILE":"2","FROM_FILE":"overridden?"}`)}},
		},
	}}
}

func TestMemberFromProfile(t *testing.T) {
	t.Parallel()
	shared := &access.Config{Providers: []access.Provider{provider("token"), provider("secretreader")}}
	b := &memberBuilder{providers: &ProvidersFile{Config: shared}, providerFile: "/etc/providers.json", impersonate: true}
	cp := profile(accessProvider("secretreader"))

	first := b.member(cp)
	second := b.member(cp)
	if first.Access.Err != nil {
		t.Fatalf("access error: %v", first.Access.Err)
	}
	// The defects of BuildConfigFromCP v0.1.x we must not have: building
	// twice neither mutates the shared provider nor piles up arguments.
	if diff := cmp.Diff([]string{"--base"}, shared.Providers[1].ExecConfig.Args); diff != "" {
		t.Errorf("shared provider args mutated (-want +got):\n%s", diff)
	}
	for _, m := range []string{"first", "second"} {
		got := first
		if m == "second" {
			got = second
		}
		exec := got.Access.Config.ExecProvider
		if diff := cmp.Diff([]string{"--base", "--cluster=prod"}, exec.Args); diff != "" {
			t.Errorf("%s build: args (-want +got):\n%s", m, diff)
		}
		wantEnv := []clientcmdapi.ExecEnvVar{{Name: "FROM_FILE", Value: "1"}, {Name: "FROM_PROFILE", Value: "2"}}
		if diff := cmp.Diff(wantEnv, exec.Env); diff != "" {
			t.Errorf("%s build: env (-want +got):\n%s", m, diff)
		}
	}
	if first.Access.Hash != second.Access.Hash {
		t.Errorf("the same profile hashed differently")
	}

	cfg := first.Access.Config
	if cfg.Host != "https://user:pw@prod.example:6443" || cfg.ServerName != "api.prod" || !cfg.Insecure || !cfg.DisableCompression || string(cfg.CAData) != "CA" {
		t.Errorf("rest.Config dropped cluster fields: %+v", cfg)
	}
	if u, err := cfg.Proxy(nil); err != nil || u.String() != "http://proxy.example:3128" {
		t.Errorf("proxy-url = %v, %v", u, err)
	}
	if cfg.ExecProvider.Config == nil || cfg.ExecProvider.InteractiveMode != clientcmdapi.NeverExecInteractiveMode {
		t.Errorf("exec extension or interactive mode not set: %+v", cfg.ExecProvider)
	}

	// Served through the inventory, which strips the userinfo and sets
	// the source label.
	inv := inventory.New()
	inv.Replace("test", []inventory.Member{first})
	c, ok := inv.Get(first.Name)
	if !ok {
		t.Fatalf("%s is not in the inventory", first.Name)
	}
	if first.Name != "cp.fleet.prod" || c.Spec.Server != "https://prod.example:6443" || c.Spec.DisplayName != "Production" ||
		c.Spec.Source.ClusterProfile.AccessProvider != "secretreader" || c.Spec.Source.ClusterProfile.ClusterManager != "ocm" {
		t.Errorf("member = %s %+v", first.Name, c.Spec)
	}
	if c.Labels["clusters.headlamp.dev/source"] != "clusterprofile" || c.Labels[cpv1alpha1.LabelClusterManagerKey] != "ocm" {
		t.Errorf("labels = %v", c.Labels)
	}
	if c.Status.Version.Kubernetes != "v1.36.2" || len(c.Status.Properties) != 1 || c.Status.Conditions[1].Type != cpv1alpha1.ClusterConditionControlPlaneHealthy {
		t.Errorf("status = %+v", c.Status)
	}
}

func TestProviderChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		file       []string
		offered    []string
		deprecated []string
		want       string // chosen provider, or the access error reason
	}{
		{name: "first of the file's order wins", file: []string{"b", "a"}, offered: []string{"a", "b"}, want: "b"},
		{name: "deprecated credentialProviders still work", file: []string{"a"}, deprecated: []string{"a"}, want: "a"},
		{name: "no match", file: []string{"a"}, offered: []string{"x", "y"}, want: clusters.ReasonNoAccessProvider},
		{name: "nothing offered", file: []string{"a"}, want: clusters.ReasonNoAccessProvider},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &access.Config{}
			for _, n := range tc.file {
				cfg.Providers = append(cfg.Providers, provider(n))
			}
			cp := profile()
			for _, n := range tc.offered {
				cp.Status.AccessProviders = append(cp.Status.AccessProviders, accessProvider(n))
			}
			for _, n := range tc.deprecated {
				cp.Status.CredentialProviders = append(cp.Status.CredentialProviders, accessProvider(n))
			}
			m := (&memberBuilder{providers: &ProvidersFile{Config: cfg}, providerFile: "/p.json"}).member(cp)
			got := ""
			if m.Access.Err != nil {
				got = m.Access.Err.Reason
				if len(tc.offered) > 0 && !strings.Contains(m.Access.Err.Message, strings.Join(tc.offered, ", ")) {
					t.Errorf("message %q does not name the offered providers", m.Access.Err.Message)
				}
			} else {
				got = m.Cluster.Spec.Source.ClusterProfile.AccessProvider
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, content, wantErr string
	}{
		{name: "valid", content: `{"providers":[{"name":"a","execConfig":{"apiVersion":"client.authentication.k8s.io/v1","command":"p"}}]}`},
		{name: "not json", content: `providers: [`, wantErr: "unmarshal"},
		{name: "empty", content: `{"providers":[]}`, wantErr: "no provider"},
		{name: "no name", content: `{"providers":[{"execConfig":{"apiVersion":"v","command":"p"}}]}`, wantErr: "providers[0].name"},
		{name: "no command", content: `{"providers":[{"name":"a","execConfig":{"apiVersion":"v"}}]}`, wantErr: "execConfig.command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadProviders(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadProviders error = %v, want one naming %s and %q", err, path, tc.wantErr)
			}
		})
	}
}
