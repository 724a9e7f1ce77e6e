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
