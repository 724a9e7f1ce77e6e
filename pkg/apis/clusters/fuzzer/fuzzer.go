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

// Package fuzzer has the fuzzer functions of the clusters.headlamp.dev API,
// for round-trip tests.
package fuzzer

import (
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// Funcs returns the fuzzer functions of the API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *clusters.ClusterSource, c randfill.Continue) {
			c.FillNoCustom(s)
			// The source type is an enum of two values.
			if c.Bool() {
				s.Type = clusters.SourceTypeKubeconfig
			} else {
				s.Type = clusters.SourceTypeClusterProfile
			}
		},
	}
}
