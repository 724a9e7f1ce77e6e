package app

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/clientset/versioned"
	_ "github.com/headlamp-k8s/clusters-apiserver/pkg/generated/clientset/versioned/scheme"
)

var _ = versioned.NewForConfig

// versionedScheme returns a serializer for raw requests in tests.
func versionedScheme() runtime.NegotiatedSerializer {
	return scheme.Codecs.WithoutConversion()
}
