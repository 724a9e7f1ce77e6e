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

// Health is the outcome of a health check of a member's API server.
type Health struct {
	// Checked is false until the member has been checked.
	Checked bool
	// Ready is true when the member's API server answered as healthy.
	Ready bool
	// Reason is a CamelCase condition reason for the Ready condition.
	Reason string
	// Message explains the outcome to a user; it never holds a credential.
	Message string
	// Version is the member's Kubernetes version, when it reported one.
	Version string
}

// SetHealth records the outcome of a health check of the member named name.
// accessHash is the Access.Hash the check used: an outcome for an access
// configuration that has since been replaced is dropped.
func (inv *Inventory) SetHealth(name, accessHash string, h Health) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	e, ok := inv.byName[name]
	if !ok || e.member.Access.Hash != accessHash {
		return
	}
	if h.Version == "" {
		h.Version = e.health.Version
	}
	h.Message = Redact(h.Message)
	e.health = h
	inv.publish(e)
}

// ForgetHealth drops the outcome of every health check, as for members
// never checked: a replica that stops leading keeps no verdict that would
// be stale when it leads again.
func (inv *Inventory) ForgetHealth() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, e := range inv.byName {
		if e.health.Checked {
			e.health = Health{}
			inv.publish(e)
		}
	}
}
