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

package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// AccessHash fingerprints everything that decides how a member is reached,
// for Access.Hash: the sources pass whatever their access configuration is
// made of (a kubeconfig's context, cluster and user; a ClusterProfile's
// access provider), so that a cached transport is rebuilt exactly when one
// of them changes. The result is not a credential, but it is never shown
// either.
func AccessHash(parts ...any) string {
	data, err := json.Marshal(parts)
	if err != nil {
		// Values that do not marshal (extensions of unknown types): the
		// printed form still changes when they do. Each part on its own,
		// so that a pointer prints what it points to, not its address.
		data = nil
		for _, p := range parts {
			data = fmt.Appendf(data, "%#v\x00", p)
		}
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// errorHash is the Access.Hash of a member that cannot be reached: it
// changes with the error, so a transport cached for the member's previous,
// working configuration is dropped.
func errorHash(e *AccessError) string {
	return "invalid:" + AccessHash(e.Reason, e.Message)
}
