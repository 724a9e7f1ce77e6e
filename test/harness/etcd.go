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
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// startEtcd starts a single-member etcd on 127.0.0.1 (clientPort and
// peerPort), storing its data in
// dir, and waits until it is healthy. It returns the process and the client
// URL. Each kube-apiserver keeps its objects under its own --etcd-prefix.
func startEtcd(ctx context.Context, binDir, dir, logDir string, clientPort, peerPort int) (*process, string, error) {
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p, err := startProcess("etcd", filepath.Join(logDir, "etcd.log"), filepath.Join(binDir, "etcd"),
		"--name=harness",
		"--data-dir="+dir,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=harness="+peerURL,
		// The data is thrown away with the test; syncing it only costs time.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP200(ctx, "etcd to be healthy", p, &http.Client{Timeout: 5 * time.Second}, clientURL+"/health"); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, clientURL, nil
}
