// Package install registers the clusters.headlamp.dev API group in a scheme.
package install

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
)

// Install registers the internal and v1alpha1 types of the API group in scheme.
func Install(scheme *runtime.Scheme) {
	utilruntime.Must(clusters.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(v1alpha1.SchemeGroupVersion))
}
