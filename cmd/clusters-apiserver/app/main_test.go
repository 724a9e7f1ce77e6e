package app

import (
	"os"
	"testing"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/execwrap"
)

// TestMain lets the test binary run credential plugins as the server
// binary does (see cmd/clusters-apiserver/main.go): servers started by
// these tests run their plugins through os.Executable(), which is this
// binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == execwrap.Command {
		os.Exit(execwrap.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}
