package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"

	clustersfuzzer "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/fuzzer"
)

func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, clustersfuzzer.Funcs)
}
