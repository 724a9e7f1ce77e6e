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

package app

import (
	"os"
	"testing"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// TestMain lets the test binary run credential plugins as the server
// binary does (see cmd/clusters-apiserver/main.go): servers started by
// these tests run their plugins through os.Executable(), which is this
// binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == member.ExecCommand {
		os.Exit(member.ExecMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}
