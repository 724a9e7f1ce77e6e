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
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetget"
)

// newGetCommand is kubectl clusters get.
func newGetCommand(flags *genericclioptions.ConfigFlags) *cobra.Command {
	var (
		req         fleetget.Request
		clusters    string
		output      string
		noHeaders   bool
		opts        = fleetget.Options{Concurrency: 32, Timeout: 20 * time.Second, PageSize: 500}
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "get RESOURCE",
		Short: "Read a resource from every Cluster you may reach, as one table with a CLUSTER column",
		Long: `Read a resource from every Cluster whose proxy the hub lets you use, in
parallel, each as you: the member's own RBAC decides what you see there.
A cluster that refuses or does not answer is named, with its error, after
the table; the others are printed all the same, and the command then exits
1, as kubectl get does when part of a request fails.

With -o json or -o yaml the objects are printed as one List, each with
the annotation ` + fleetget.ClusterAnnotation + ` naming its cluster.`,
		Example: `  # Every pod of every cluster you may reach
  kubectl clusters get pods -A

  # ConfigMaps labelled app=web in namespace shop, of the production clusters
  kubectl clusters get configmaps -n shop -l app=web --clusters env=production`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "wide", "json", "yaml":
			default:
				return fmt.Errorf("--output must be wide, json or yaml, not %q", output)
			}
			if opts.Timeout <= 0 {
				return fmt.Errorf("--cluster-timeout must be more than 0, not %s", opts.Timeout)
			}
			if concurrency < 1 {
				return fmt.Errorf("--concurrency must be at least 1, not %d", concurrency)
			}
			opts.Concurrency = concurrency
			h, err := hub(flags)
			if err != nil {
				return err
			}
			req.Resource = args[0]
			req.Table = output == "" || output == "wide"
			req.Namespace = h.namespace
			list, err := h.clusters.ClustersV1alpha1().Clusters().List(cmd.Context(), metav1.ListOptions{LabelSelector: clusters})
			if err != nil {
				return fmt.Errorf("listing the hub's clusters: %w", err)
			}
			names := namesOf(list)
			reach, err := h.reach(cmd.Context(), names)
			if err != nil {
				return err
			}
			names = slices.DeleteFunc(names, func(name string) bool { return reach[name] == "no" })
			if len(names) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "No clusters: the hub lets you reach none of the %d Clusters it lists.\n", len(list.Items))
				return nil
			}
			client, err := rest.HTTPClientFor(h.cfg)
			if err != nil {
				return err
			}
			var warnMu sync.Mutex
			opts.Warn = func(cluster, message string) {
				warnMu.Lock()
				defer warnMu.Unlock()
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning from cluster %s: %s\n", cluster, fleetget.Printable(message))
			}
			results := fleetget.Get(cmd.Context(), h.cfg, client, names, req, opts)
			if err := printResults(cmd, results, req, output, noHeaders); err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				if r.Err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "Error from cluster %s: %s\n", r.Cluster, fleetget.Printable(r.Err.Error()))
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d clusters answered with an error", failed, len(results))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&req.AllNamespaces, "all-namespaces", "A", false, "Read every namespace of each cluster.")
	cmd.Flags().StringVarP(&req.LabelSelector, "selector", "l", "", "Only the objects with these labels.")
	cmd.Flags().StringVar(&req.FieldSelector, "field-selector", "", "Only the objects whose fields match (as kubectl get --field-selector).")
	cmd.Flags().StringVar(&clusters, "clusters", "", "Only the Clusters with these labels.")
	cmd.Flags().StringVarP(&output, "output", "o", "", "wide, json or yaml.")
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "Print the table without its header.")
	cmd.Flags().IntVar(&concurrency, "concurrency", opts.Concurrency, "How many clusters are read at once.")
	cmd.Flags().DurationVar(&opts.Timeout, "cluster-timeout", opts.Timeout, "How long each cluster has to answer; one that does not is named after the table.")
	return cmd
}

// printResults prints what the clusters answered: a table, or a List.
func printResults(cmd *cobra.Command, results []fleetget.Result, req fleetget.Request, output string, noHeaders bool) error {
	switch output {
	case "json", "yaml":
		list := fleetget.List(results)
		data, err := json.MarshalIndent(list.UnstructuredContent(), "", "    ")
		if err != nil {
			return err
		}
		if output == "yaml" {
			if data, err = yaml.JSONToYAML(data); err != nil {
				return err
			}
		} else {
			data = append(data, '\n')
		}
		_, err = cmd.OutOrStdout().Write(data)
		return err
	}
	namespaced := false
	for _, r := range results {
		namespaced = namespaced || r.Namespaced
	}
	table := fleetget.Table(results, namespaced && req.AllNamespaces)
	if len(table.Rows) == 0 {
		for _, r := range results {
			if r.Err != nil {
				return nil // the errors say why
			}
		}
		if namespaced && !req.AllNamespaces {
			fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", req.Namespace)
		} else {
			fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
		}
		return nil
	}
	return printers.NewTablePrinter(printers.PrintOptions{Wide: output == "wide", NoHeaders: noHeaders}).PrintObj(table, cmd.OutOrStdout())
}
