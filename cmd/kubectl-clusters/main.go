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

// Command kubectl-clusters is the kubectl plugin of clusters-apiserver
// (kubectl clusters ...): it reaches the hub's member clusters through
// the clusters/proxy subresource with the person's own hub credential.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	// Hub users with an OIDC auth provider, as kubectl has them.
	"k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/component-base/cli"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetconfig"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/clientset/versioned"
)

func main() {
	// As kubectl: "error: ..." on standard error and exit code 1.
	if err := cli.RunNoErrOutput(newCommand()); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	// Not persistent: hub() may change the context after reading the
	// kubeconfig, and later clients must follow.
	flags := genericclioptions.NewConfigFlags(false)
	root := &cobra.Command{
		Use:          "kubectl-clusters",
		Short:        "Reach the member clusters of a clusters-apiserver hub with your hub login",
		SilenceUsage: true,
	}
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newKubeconfigCommand(flags), newListCommand(flags), newUseCommand(flags), newGetCommand(flags))
	return root
}

// newKubeconfigCommand is kubectl clusters kubeconfig.
func newKubeconfigCommand(flags *genericclioptions.ConfigFlags) *cobra.Command {
	var selector, prefix, mergeInto string
	var reachable, noCredential, prune bool
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a kubeconfig with a context per Cluster, reached through the hub's proxy with your hub user",
		Long: `Print a kubeconfig with one context per Cluster of the hub. Each context's
server is that Cluster's proxy on the hub, and its user is your hub
context's user entry, as it is: an exec plugin stays a plugin, a token file
a file, certificate paths paths. No new credential is made; the hub's RBAC
on clusters/proxy and each member's RBAC for you decide what you may do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := noOverrides(flags); err != nil {
				return err
			}
			h, err := hub(flags)
			if err != nil {
				return err
			}
			list, err := h.clusters.ClustersV1alpha1().Clusters().List(cmd.Context(), metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return fmt.Errorf("listing the hub's clusters: %w", err)
			}
			names := namesOf(list)
			if reachable {
				reach, err := h.reach(cmd.Context(), names)
				if err != nil {
					return err
				}
				names = slices.DeleteFunc(names, func(name string) bool { return reach[name] == "no" })
			}
			if prune && len(names) == 0 {
				return fmt.Errorf("--prune: no Cluster is chosen, which would remove every context written for hub context %q; check -l, or remove them by hand", h.context)
			}
			out, err := fleetconfig.Build(h.raw, h.context, prefix, names)
			if err != nil {
				return err
			}
			if noCredential {
				if err := fleetconfig.WithoutCredential(out); err != nil {
					return err
				}
			}
			if mergeInto == "" {
				if prune {
					return fmt.Errorf("--prune needs --merge-into: it removes contexts from that file")
				}
				data, err := clientcmd.Write(*out)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			// Locked before it is read, as kubectl locks it (the path as
			// given), until it is replaced.
			unlock, err := lock(mergeInto)
			if err != nil {
				return err
			}
			defer unlock()
			target, err := filepath.EvalSymlinks(mergeInto)
			if errors.Is(err, fs.ErrNotExist) {
				target, err = mergeInto, nil
			}
			if err != nil {
				return err
			}
			into, err := clientcmd.LoadFromFile(target)
			if errors.Is(err, fs.ErrNotExist) {
				into, err = clientcmdapi.NewConfig(), nil
			}
			if err != nil {
				return fmt.Errorf("reading %s: %w", mergeInto, err)
			}
			if err := fleetconfig.Merge(into, out); err != nil {
				return fmt.Errorf("merging into %s: %w", mergeInto, err)
			}
			var pruned []string
			if prune {
				pruned = fleetconfig.Prune(into, out, prefix, h.raw.CurrentContext)
			}
			if err := writeFile(target, into); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d contexts merged into %s\n", len(out.Contexts), mergeInto)
			if len(pruned) > 0 {
				slices.Sort(pruned)
				fmt.Fprintf(cmd.ErrOrStderr(), "%d contexts removed: %s\n", len(pruned), strings.Join(pruned, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Only the Clusters with these labels.")
	cmd.Flags().StringVar(&prefix, "context-prefix", "", "Put before each Cluster's name to name its context and cluster entry.")
	cmd.Flags().StringVar(&mergeInto, "merge-into", "", "Add the contexts to this kubeconfig file, leaving its other entries; running again updates them in place.")
	cmd.Flags().BoolVar(&reachable, "reachable", false, "Only the Clusters whose proxy the hub lets you use (see kubectl clusters list).")
	cmd.Flags().BoolVar(&prune, "prune", false, "With --merge-into, remove the contexts an earlier run wrote for the same hub context and --context-prefix that this run does not: Clusters gone from the hub, or no longer chosen.")
	cmd.Flags().BoolVar(&noCredential, "no-credential", false, "Give the contexts an empty user and the hub's CA inline: for a client that sends each person's own credential, such as a shared Headlamp deployment.")
	return cmd
}

// hubAccess is the hub as the plugin reaches it.
type hubAccess struct {
	raw     *clientcmdapi.Config // the kubeconfig, paths resolved
	context string               // the hub context in it
	// namespace is the chosen context's (or --namespace), for get.
	namespace string
	cfg       *rest.Config
	clusters  versioned.Interface
}

// hub reads the kubeconfig and returns the hub context: the one chosen
// (--context or the current one) or, when that is a context this plugin
// wrote, the hub context behind it; and clients of that hub.
func hub(flags *genericclioptions.ConfigFlags) (*hubAccess, error) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, err
	}
	name := raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		name = *flags.Context
	}
	h := &hubAccess{raw: &raw, context: fleetconfig.HubContext(&raw, name), namespace: metav1.NamespaceDefault}
	// The namespace is the chosen context's: a member's, when the person
	// is on one through the hub.
	if c := raw.Contexts[name]; c != nil && c.Namespace != "" {
		h.namespace = c.Namespace
	}
	if flags.Namespace != nil && *flags.Namespace != "" {
		h.namespace = *flags.Namespace
	}
	flags.Context = &h.context
	if h.cfg, err = flags.ToRESTConfig(); err != nil {
		return nil, err
	}
	// Reachability may ask an access review per Cluster, and get reads
	// every Cluster: kubectl's own discovery rate, not client-go's 5/s.
	h.cfg.QPS, h.cfg.Burst = 50, 100
	if h.clusters, err = versioned.NewForConfig(h.cfg); err != nil {
		return nil, err
	}
	return h, nil
}

// reach asks the hub what the person may do through each of names'
// proxies (see reachability).
func (h *hubAccess) reach(ctx context.Context, names []string) (map[string]string, error) {
	kube, err := kubernetes.NewForConfig(h.cfg)
	if err != nil {
		return nil, err
	}
	return reachability(ctx, kube, names)
}

// namesOf returns the names of list's Clusters, in its order.
func namesOf(list *clustersv1alpha1.ClusterList) []string {
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return names
}

// newUseCommand is kubectl clusters use.
func newUseCommand(flags *genericclioptions.ConfigFlags) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "use NAME",
		Short: "Switch the current context to the Cluster NAME, reached through the hub, adding its context if missing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noOverrides(flags); err != nil {
				return err
			}
			h, err := hub(flags)
			if err != nil {
				return err
			}
			name := args[0]
			if _, err := h.clusters.ClustersV1alpha1().Clusters().Get(cmd.Context(), name, metav1.GetOptions{}); err != nil {
				return fmt.Errorf("cluster %s: %w", name, err)
			}
			out, err := fleetconfig.Build(h.raw, h.context, prefix, []string{name})
			if err != nil {
				return err
			}
			access := flags.ToRawKubeConfigLoader().ConfigAccess()
			start, err := access.GetStartingConfig()
			if err != nil {
				return err
			}
			// New entries go to the file of the hub user they copy, not to
			// the first file of KUBECONFIG: a credential written inline
			// stays in the file that held it.
			origin := h.raw.AuthInfos[h.raw.Contexts[h.context].AuthInfo].LocationOfOrigin
			for _, c := range out.Clusters {
				c.LocationOfOrigin = origin
			}
			for _, c := range out.Contexts {
				c.LocationOfOrigin = origin
			}
			for _, u := range out.AuthInfos {
				u.LocationOfOrigin = origin
			}
			if err := fleetconfig.Merge(start, out); err != nil {
				return err
			}
			start.CurrentContext = prefix + name
			if err := clientcmd.ModifyConfig(access, *start, true); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Switched to context %q: cluster %s through the hub of context %q.\n", prefix+name, name, h.context)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "context-prefix", "", "Put before the Cluster's name to name its context and cluster entry.")
	return cmd
}

// noOverrides refuses the flags that would make the hub's client differ
// from the hub context the generated kubeconfig copies: its Clusters
// would be listed as one identity and reached as another.
func noOverrides(flags *genericclioptions.ConfigFlags) error {
	for name, value := range map[string]*string{
		"--user": flags.AuthInfoName, "--cluster": flags.ClusterName, "--server": flags.APIServer,
		"--token": flags.BearerToken, "--username": flags.Username, "--password": flags.Password,
		"--as": flags.Impersonate, "--as-uid": flags.ImpersonateUID,
		"--client-certificate": flags.CertFile, "--client-key": flags.KeyFile, "--certificate-authority": flags.CAFile,
		"--tls-server-name": flags.TLSServerName, "--proxy-url": flags.ProxyURL,
	} {
		if value != nil && *value != "" {
			return fmt.Errorf("%s is not supported by kubectl clusters kubeconfig, which copies the hub context's own cluster and user: choose the context with --context", name)
		}
	}
	for name, value := range map[string]*[]string{"--as-group": flags.ImpersonateGroup, "--as-user-extra": flags.ImpersonateUserExtra} {
		if value != nil && len(*value) > 0 {
			return fmt.Errorf("%s is not supported by kubectl clusters kubeconfig, which copies the hub context's own user", name)
		}
	}
	if flags.Insecure != nil && *flags.Insecure {
		return fmt.Errorf("--insecure-skip-tls-verify is not supported by kubectl clusters kubeconfig, which copies the hub context's own cluster")
	}
	return nil
}

// lock takes path.lock, made exclusively as kubectl does, so that another
// writer of the same kubeconfig neither loses this write nor has its own
// lost; the returned func releases it.
func lock(path string) (func(), error) {
	name := path + ".lock"
	l, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w (if no kubectl is writing it, remove %s)", path, err, name)
	}
	_ = l.Close()
	return func() { _ = os.Remove(name) }, nil
}

// writeFile writes cfg to path as a whole: a file of its own, with the
// mode of the file it replaces but never readable by group or others (it
// may now hold a copied credential), 0600 when new, renamed over path, so
// that a failure leaves path as it was. The caller holds path's lock.
func writeFile(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm() &^ 0o077
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kubeconfig-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
