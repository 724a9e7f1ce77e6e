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
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Kubectl runs the kubectl built by hack/build-binaries.sh with
// --kubeconfig=kubeconfig and args, and returns what it printed. err is
// non-nil if kubectl could not run or exited non-zero; it is killed when
// ctx ends.
func (e *Env) Kubectl(ctx context.Context, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	cmd := e.KubectlCmd(ctx, kubeconfig, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// KubectlCmd returns kubectl with --kubeconfig=kubeconfig and args, for a
// caller that sets its input, output or environment, or runs it in the
// background. It is ended when ctx ends.
func (e *Env) KubectlCmd(ctx context.Context, kubeconfig string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	cmd.SysProcAttr = sysProcAttr()
	// kubectl starts nothing of its own worth a group-wide signal; end it
	// with SIGTERM, as a user's Ctrl-C would, then SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// applyHubManifests applies Options.HubManifests to the hub and waits until
// every CustomResourceDefinition is Established.
func (e *Env) applyHubManifests(ctx context.Context) error {
	if len(e.opts.HubManifests) == 0 {
		return nil
	}
	return e.Apply(ctx, e.opts.HubManifests...)
}

// Apply applies manifests (files or directories) to the hub as its admin
// with kubectl, and waits until every CustomResourceDefinition on the hub
// is Established.
func (e *Env) Apply(ctx context.Context, manifests ...string) error {
	args := []string{"apply"}
	for _, m := range manifests {
		args = append(args, "-f", m)
	}
	e.opts.Log("applying %s to the hub", strings.Join(manifests, ", "))
	if _, stderr, err := e.Kubectl(ctx, e.HubKubeconfig, args...); err != nil {
		return fmt.Errorf("applying %s to the hub: %w: %s", strings.Join(manifests, ", "), err, stderr)
	}
	crds, stderr, err := e.Kubectl(ctx, e.HubKubeconfig, "get", "customresourcedefinitions", "-o", "name")
	if err != nil {
		return fmt.Errorf("listing CustomResourceDefinitions: %w: %s", err, stderr)
	}
	if strings.TrimSpace(crds) == "" {
		return nil
	}
	if _, stderr, err := e.Kubectl(ctx, e.HubKubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "customresourcedefinitions", "--all"); err != nil {
		return fmt.Errorf("waiting for CustomResourceDefinitions: %w: %s", err, stderr)
	}
	return nil
}
