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

package harness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Names of the objects that register clusters-apiserver on the hub.
const (
	// ServerNamespace is the namespace clusters-apiserver runs in.
	ServerNamespace = "clusters-system"
	// ServerName names its ServiceAccount and Service.
	ServerName = "clusters-apiserver"
	// APIServiceName is the APIService that routes the group to it.
	APIServiceName = "v1alpha1.clusters.headlamp.dev"
	// ServerDNSName is the name the hub expects on its serving certificate.
	ServerDNSName = ServerName + "." + ServerNamespace + ".svc"
)

// applyRegistration applies the deployment manifests (Options.ManifestsDir)
// to the hub as a real deployment would, adapted to a clusters-apiserver
// that the harness runs itself on localhost:port:
//   - workloads (Deployments) are left out: the hub runs no pods;
//   - the APIService's Service becomes type ExternalName localhost, because
//     the hub cannot route to loopback endpoints;
//   - the APIService gets port and caBundle, the CA of the serving
//     certificate the harness made.
//
// The adapted manifests are written to WorkDir/registration.json.
func (e *Env) applyRegistration(ctx context.Context, port int, caPEM []byte) error {
	objs, err := readManifests(e.manifestsDir)
	if err != nil {
		return err
	}
	var apiService *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "APIService" && o.GetName() == APIServiceName {
			apiService = o
		}
	}
	if apiService == nil {
		return fmt.Errorf("no APIService %s in %s", APIServiceName, e.manifestsDir)
	}
	svcNamespace, _, _ := unstructured.NestedString(apiService.Object, "spec", "service", "namespace")
	svcName, _, _ := unstructured.NestedString(apiService.Object, "spec", "service", "name")
	if err := unstructured.SetNestedField(apiService.Object, int64(port), "spec", "service", "port"); err != nil {
		return err
	}
	if err := unstructured.SetNestedField(apiService.Object, base64.StdEncoding.EncodeToString(caPEM), "spec", "caBundle"); err != nil {
		return err
	}

	items := make([]any, 0, len(objs))
	for _, o := range objs {
		switch {
		case o.GetKind() == "Deployment":
			continue
		case o.GetKind() == "Service" && o.GetNamespace() == svcNamespace && o.GetName() == svcName:
			o.Object["spec"] = map[string]any{
				"type":         "ExternalName",
				"externalName": "localhost",
				"ports":        []any{map[string]any{"name": "https", "port": int64(port)}},
			}
		}
		items = append(items, o.Object)
	}
	data, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(e.WorkDir, "registration.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if _, stderr, err := e.Kubectl(ctx, e.HubKubeconfig, "apply", "-f", path); err != nil {
		return fmt.Errorf("applying %s (from %s) to the hub: %w: %s", path, e.manifestsDir, err, stderr)
	}
	return nil
}

// readManifests decodes every object in the YAML and JSON files of dir, in
// the order of their names.
func readManifests(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading deployment manifests: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, entry := range entries {
		switch filepath.Ext(entry.Name()) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		if entry.Name() == "kustomization.yaml" {
			continue // lists the others, for kubectl apply -k
		}
		path := filepath.Join(dir, entry.Name())
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		d := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			o := &unstructured.Unstructured{}
			err := d.Decode(&o.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("decoding %s: %w", path, err)
			}
			if len(o.Object) > 0 {
				objs = append(objs, o)
			}
		}
		f.Close()
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no manifests in %s", dir)
	}
	return objs, nil
}

// ReadManifests decodes the deployment manifests of dir (artifacts/deploy
// when empty), as the harness applies them.
func ReadManifests(dir string) ([]*unstructured.Unstructured, error) {
	if dir == "" {
		var err error
		if dir, err = defaultManifestsDir(); err != nil {
			return nil, err
		}
	}
	return readManifests(dir)
}

// defaultManifestsDir is artifacts/deploy of the repository.
func defaultManifestsDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("finding artifacts/deploy: %w; set Options.ManifestsDir", err)
	}
	return filepath.Join(root, "artifacts", "deploy"), nil
}
