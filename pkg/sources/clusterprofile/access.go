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
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/yaml"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// Extension names of the Cluster Inventory API and of client-go's exec
// authentication.
const (
	execExtension           = "client.authentication.k8s.io/exec"
	additionalArgsExtension = "clusterprofiles.multicluster.x-k8s.io/exec/additional-args"
	additionalEnvsExtension = "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs"
)

// Values of a provider's profileSourcedClusterNamePolicy, this server's
// addition to the provider file of sigs.k8s.io/cluster-inventory-api.
const (
	// ClusterNameBindToProfile (the default): the plugin is asked for the
	// credential of the profile's own cluster: it is given
	// {"clusterName": the profile's name} and nothing else, and an exec
	// extension that says otherwise is refused.
	ClusterNameBindToProfile = "BindToProfile"
	// ClusterNameFromProfile: the exec extension is passed to the plugin as
	// the profile wrote it, so a profile writer chooses whose credential
	// the plugin returns.
	ClusterNameFromProfile = "FromProfile"
)

// ProvidersFile is a checked provider file.
type ProvidersFile struct {
	*access.Config
	// clusterNameFromProfile names the providers whose
	// profileSourcedClusterNamePolicy is FromProfile.
	clusterNameFromProfile map[string]bool
}

// LoadProviders reads and checks a provider file in the JSON format of
// sigs.k8s.io/cluster-inventory-api/pkg/access.
func LoadProviders(path string) (*ProvidersFile, error) {
	cfg, err := access.NewFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("--clusterprofile-provider-file %s: %w", path, err)
	}
	// The same file again, for this server's own field.
	var own struct {
		Providers []struct {
			ClusterNamePolicy string `json:"profileSourcedClusterNamePolicy"`
		} `json:"providers"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &own)
	}
	if err != nil {
		return nil, fmt.Errorf("--clusterprofile-provider-file %s: %w", path, err)
	}
	fromProfile := map[string]bool{}
	if len(cfg.Providers) == 0 {
		return nil, fmt.Errorf("--clusterprofile-provider-file %s: providers: no provider is configured", path)
	}
	for i, p := range cfg.Providers {
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("--clusterprofile-provider-file %s: providers[%d].name is empty", path, i)
		case p.ExecConfig == nil || p.ExecConfig.Command == "":
			return nil, fmt.Errorf("--clusterprofile-provider-file %s: providers[%d] (%s): execConfig.command is empty", path, i, p.Name)
		case p.ExecConfig.APIVersion == "":
			return nil, fmt.Errorf("--clusterprofile-provider-file %s: providers[%d] (%s): execConfig.apiVersion is empty", path, i, p.Name)
		}
		switch policy := own.Providers[i].ClusterNamePolicy; policy {
		case "", ClusterNameBindToProfile:
		case ClusterNameFromProfile:
			fromProfile[p.Name] = true
		default:
			return nil, fmt.Errorf("--clusterprofile-provider-file %s: providers[%d] (%s): profileSourcedClusterNamePolicy %q is neither %s nor %s",
				path, i, p.Name, policy, ClusterNameBindToProfile, ClusterNameFromProfile)
		}
	}
	return &ProvidersFile{Config: cfg, clusterNameFromProfile: fromProfile}, nil
}

// chosenProvider returns the first provider of the file that the profile
// offers, in the file's order. status.accessProviders win over the
// deprecated status.credentialProviders of the same name.
func chosenProvider(cp *cpv1alpha1.ClusterProfile, providers []access.Provider) (*access.Provider, *cpv1alpha1.AccessProvider) {
	offered := map[string]*cpv1alpha1.AccessProvider{}
	for i := range cp.Status.CredentialProviders {
		offered[cp.Status.CredentialProviders[i].Name] = &cp.Status.CredentialProviders[i]
	}
	for i := range cp.Status.AccessProviders {
		offered[cp.Status.AccessProviders[i].Name] = &cp.Status.AccessProviders[i]
	}
	for i := range providers {
		if ap, ok := offered[providers[i].Name]; ok {
			return &providers[i], ap
		}
	}
	return nil, nil
}

// offeredNames lists the access providers a profile offers.
func offeredNames(cp *cpv1alpha1.ClusterProfile) []string {
	names := map[string]bool{}
	for i := range cp.Status.CredentialProviders {
		names[cp.Status.CredentialProviders[i].Name] = true
	}
	for i := range cp.Status.AccessProviders {
		names[cp.Status.AccessProviders[i].Name] = true
	}
	return slices.Sorted(maps.Keys(names))
}

// buildAccess builds the access configuration of profile through the
// given provider and access provider entry. A profile is untrusted input:
// it cannot name files on this server, and unless bindName is false the
// plugin is asked for the credential of the profile's own cluster only
// (see bindClusterName). Unlike BuildConfigFromCP of
// cluster-inventory-api v0.1.x, it works on a copy of the provider's exec
// configuration (so arguments do not pile up across rebuilds) and honours
// tls-server-name, insecure-skip-tls-verify, disable-compression, a CA file
// and proxy-url.
func buildAccess(profile string, p *access.Provider, ap *cpv1alpha1.AccessProvider, bindName bool) (*rest.Config, *clientcmdapi.ExecConfig, error) {
	cluster := clientcmdapi.NewCluster()
	if err := clientcmdlatest.Scheme.Convert(&ap.Cluster, cluster, nil); err != nil {
		return nil, nil, fmt.Errorf("access provider %q: cluster: %w", ap.Name, err)
	}
	if cluster.Server == "" {
		return nil, nil, fmt.Errorf("access provider %q: cluster.server is empty", ap.Name)
	}
	if cluster.CertificateAuthority != "" {
		return nil, nil, fmt.Errorf("access provider %q: cluster.certificate-authority names a file on the server, which a ClusterProfile may not do: give certificate-authority-data", ap.Name)
	}
	exec := p.ExecConfig.DeepCopy()
	exec.InteractiveMode = clientcmdapi.NeverExecInteractiveMode
	for _, ext := range ap.Cluster.Extensions {
		var err error
		switch ext.Name {
		case additionalArgsExtension:
			err = appendArgs(exec, ext.Extension.Raw, p.ProfileSourcedCLIArgsPolicy)
		case additionalEnvsExtension:
			err = mergeEnv(exec, ext.Extension.Raw, p.ProfileSourcedEnvVarsPolicy)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("access provider %q: extension %s: %w", ap.Name, ext.Name, err)
		}
	}
	if cfg, ok := cluster.Extensions[execExtension]; ok {
		exec.Config = cfg
	}
	if bindName {
		cfg, err := bindClusterName(exec.Config, profile)
		if err != nil {
			return nil, nil, fmt.Errorf("access provider %q: extension %s: %w", ap.Name, execExtension, err)
		}
		exec.Config = cfg
	}

	cfg := &rest.Config{
		Host: cluster.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:     cluster.CertificateAuthorityData,
			ServerName: cluster.TLSServerName,
			Insecure:   cluster.InsecureSkipTLSVerify,
		},
		DisableCompression: cluster.DisableCompression,
		ExecProvider:       exec,
	}
	if cluster.ProxyURL != "" {
		u, err := url.Parse(cluster.ProxyURL)
		if err != nil {
			return nil, nil, fmt.Errorf("access provider %q: cluster.proxy-url is not a URL", ap.Name)
		}
		cfg.Proxy = http.ProxyURL(u)
	}
	return cfg, exec, nil
}

// bindClusterName returns the plugin's cluster configuration (the exec
// extension) bound to the profile: {"clusterName": the profile's name} and
// nothing else, so that a profile can obtain its own cluster's credential
// only, whatever fields a plugin reads (kubeconfig-secretreader, for one,
// reads a Secret's name and namespace). An extension that names another
// cluster, or holds any other field, is refused rather than silently
// rewritten, so the writer of the profile learns why it does not work.
func bindClusterName(cfg runtime.Object, profile string) (runtime.Object, error) {
	fields := map[string]any{}
	if cfg != nil {
		raw := []byte(nil)
		if u, ok := cfg.(*runtime.Unknown); ok {
			raw = u.Raw
		} else {
			var err error
			if raw, err = json.Marshal(cfg); err != nil {
				return nil, fmt.Errorf("not JSON: %w", err)
			}
		}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &fields); err != nil {
				return nil, errors.New("not a JSON object")
			}
		}
	}
	const allow = "(a provider allows otherwise with profileSourcedClusterNamePolicy: " + ClusterNameFromProfile + " in the provider file)"
	for key, value := range fields {
		switch {
		case key == "clusterName" && value != profile:
			return nil, fmt.Errorf("clusterName %q is not this profile's name %q: a ClusterProfile may obtain only its own cluster's credential %s",
				fmt.Sprint(value), profile, allow)
		case key != "clusterName":
			// Also "clustername" and other spellings that a plugin's JSON
			// decoding would take for clusterName.
			return nil, fmt.Errorf("field %q: the plugin is given only clusterName, the profile's own name %s", key, allow)
		}
	}
	raw, err := json.Marshal(map[string]string{"clusterName": profile})
	if err != nil {
		return nil, err
	}
	return &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}, nil
}

// appendArgs adds the profile's extra plugin arguments when the provider
// allows it.
func appendArgs(exec *clientcmdapi.ExecConfig, raw []byte, policy access.ProfileSourcedCLIArgsPolicy) error {
	switch policy {
	case "", access.ProfileSourcedCLIArgsPolicyIgnore:
		return nil
	case access.ProfileSourcedCLIArgsPolicyAppend:
		var args []string
		if err := yaml.Unmarshal(raw, &args); err != nil {
			return fmt.Errorf("not a list of arguments: %w", err)
		}
		exec.Args = append(exec.Args, args...)
		return nil
	}
	return fmt.Errorf("unsupported profileSourcedCLIArgsPolicy %q", policy)
}

// mergeEnv adds the profile's extra plugin environment when the provider
// allows it: AppendIfNotExists keeps the provider's values, Replace the
// profile's.
func mergeEnv(exec *clientcmdapi.ExecConfig, raw []byte, policy access.ProfileSourcedEnvVarsPolicy) error {
	if policy == "" || policy == access.ProfileSourcedEnvVarsPolicyIgnore {
		return nil
	}
	if policy != access.ProfileSourcedEnvVarsPolicyAppendIfNotExists && policy != access.ProfileSourcedEnvVarsPolicyReplace {
		return fmt.Errorf("unsupported profileSourcedEnvVarsPolicy %q", policy)
	}
	var extra map[string]string
	if err := yaml.Unmarshal(raw, &extra); err != nil {
		return fmt.Errorf("not a map of environment variables: %w", err)
	}
	for k := range extra {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			// Not quoted: what follows "=" would be a value.
			return errors.New("a ClusterProfile may not set a variable whose name is empty or holds \"=\" or NUL")
		}
		if deniedEnv(k) {
			return fmt.Errorf("a ClusterProfile may not set %s: it changes which program runs, which files or hosts it uses, or which cluster's credential it reads", k)
		}
	}
	env := map[string]string{}
	for _, e := range exec.Env {
		env[e.Name] = e.Value
	}
	for k, v := range extra {
		if _, exists := env[k]; !exists || policy == access.ProfileSourcedEnvVarsPolicyReplace {
			env[k] = v
		}
	}
	exec.Env = exec.Env[:0:0]
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		exec.Env = append(exec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: env[k]})
	}
	return nil
}

// deniedEnv tells whether a profile may not set the environment variable
// name for a plugin: whatever decides which program and libraries run
// (language runtimes' code and option variables included: a plugin may be
// a Python, Node, Java, Perl or Ruby program), which files, hosts and
// proxies it uses or trusts, or what it is told about the cluster.
func deniedEnv(name string) bool {
	n := strings.ToUpper(name)
	for _, exact := range []string{"PATH", "HOME", "KUBECONFIG", "GODEBUG", "GOFLAGS", "SHELL", "ENV", "BASH_ENV", "IFS",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR", "XDG_CONFIG_HOME",
		"KUBERNETES_EXEC_INFO", "CLUSTERS_APISERVER_MEMBER",
		"NODE_OPTIONS", "NODE_PATH", "NODE_EXTRA_CA_CERTS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
		"PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "GCONV_PATH", "OPENSSL_CONF", "OPENSSL_MODULES",
		"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL"} {
		if n == exact {
			return true
		}
	}
	for _, prefix := range []string{"LD_", "DYLD_", "KUBERNETES_", "AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_", "PYTHON", "GIT_CONFIG_"} {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// noAccess is the access of a profile that cannot be reached.
func noAccess(reason, message string) inventory.Access {
	return inventory.Access{Err: &inventory.AccessError{Reason: reason, Message: message}}
}
