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
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetconfig"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetget"
)

// newListCommand is kubectl clusters list.
func newListCommand(flags *genericclioptions.ConfigFlags) *cobra.Command {
	var selector, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the hub's Clusters, and whether you may reach each through the proxy",
		Long: `List the hub's Clusters. REACHABLE says what the hub lets you do through
each one's proxy: yes (requests, and exec, attach and port-forward), get
(requests only) or no. The member's own RBAC then decides for you there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "", "wide", "json", "yaml":
			default:
				return fmt.Errorf("--output must be wide, json or yaml, not %q", output)
			}
			h, err := hub(flags)
			if err != nil {
				return err
			}
			list, err := h.clusters.ClustersV1alpha1().Clusters().List(cmd.Context(), metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return fmt.Errorf("listing the hub's clusters: %w", err)
			}
			list.APIVersion, list.Kind = clustersv1alpha1.SchemeGroupVersion.String(), "ClusterList"
			switch output {
			case "json":
				data, err := json.MarshalIndent(list, "", "    ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", data)
				return err
			case "yaml":
				data, err := yaml.Marshal(list)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			names := namesOf(list)
			reach, err := h.reach(cmd.Context(), names)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 3, 0, 3, ' ', 0)
			header := "NAME\tREADY\tREACHABLE\tSERVER"
			if output == "wide" {
				header += "\tSOURCE\tDISPLAY NAME\tVERSION"
			}
			fmt.Fprintln(w, header)
			for i := range list.Items {
				c := &list.Items[i]
				ready := "Unknown"
				if r := meta.FindStatusCondition(c.Status.Conditions, clustersv1alpha1.ConditionReady); r != nil {
					ready = string(r.Status)
				}
				row := fmt.Sprintf("%s\t%s\t%s\t%s", c.Name, ready, reach[c.Name], fleetget.Printable(c.Spec.Server))
				if output == "wide" {
					version := ""
					if c.Status.Version != nil {
						version = c.Status.Version.Kubernetes
					}
					row += fmt.Sprintf("\t%s\t%s\t%s", c.Spec.Source.Type, fleetget.Printable(c.Spec.DisplayName), fleetget.Printable(version))
				}
				fmt.Fprintln(w, row)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Only the Clusters with these labels.")
	cmd.Flags().StringVarP(&output, "output", "o", "", "wide, json or yaml.")
	return cmd
}

// reachability returns what the person may do through each of names'
// proxies ("yes", "get" or "no"): from one SelfSubjectRulesReview when the
// hub's authorizers can list their rules, else from a
// SelfSubjectAccessReview per Cluster and verb, 16 at once. An error is
// returned, not taken for "no": a caller may remove contexts on a "no".
func reachability(ctx context.Context, kube kubernetes.Interface, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	review, err := kube.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx,
		&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: metav1.NamespaceDefault}}, metav1.CreateOptions{})
	if err == nil && !review.Status.Incomplete {
		reach := fleetconfig.NewReach(review.Status.ResourceRules)
		for _, name := range names {
			out[name] = verdict(reach.Verbs(name))
		}
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
		sem   = make(chan struct{}, 16)
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var verbs []string
			for _, verb := range []string{"get", "create"} {
				ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authorizationv1.ResourceAttributes{Group: fleetconfig.Group, Resource: "clusters", Subresource: "proxy", Name: name, Verb: verb},
				}}
				r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("asking the hub whether you may reach cluster %s: %w", name, err)
						cancel() // the answer is an error: ask no more
					}
					mu.Unlock()
					return
				}
				if r.Status.Allowed {
					verbs = append(verbs, verb)
				}
			}
			mu.Lock()
			out[name] = verdict(verbs)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, first
}

// verdict names what verbs allow: yes (requests, and exec, attach and
// port-forward), get (requests only) or no.
func verdict(verbs []string) string {
	switch {
	case len(verbs) == 2:
		return "yes"
	case len(verbs) == 1:
		return strings.Join(verbs, "")
	default:
		return "no"
	}
}
