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
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// hashLen is the number of hex digits of a SHA-256 that make a name suffix.
const hashLen = 8

// ClusterProfilePrefix starts the name of every Cluster from a
// ClusterProfile (see pkg/sources/clusterprofile). ObjectName never
// returns a name that starts with it.
const ClusterProfilePrefix = "cp."

// ObjectName maps a name from a source (a kubeconfig context name, which may
// contain upper case, '_', ':', '@', '/' and more) to a valid Kubernetes
// object name (a DNS-1123 subdomain). The mapping is deterministic and
// injective in practice:
//
//   - a name that already is a valid DNS-1123 subdomain, and does not start
//     with the reserved ClusterProfilePrefix "cp.", is kept as it is;
//   - any other name is lower-cased, every run of characters other than
//     a-z and 0-9 becomes a single '-', leading and trailing '-' are dropped,
//     and "-" plus the first 8 hex digits of the SHA-256 of the original name
//     is appended, so "Prod" and "prod" stay distinct.
//
// A name with nothing left after that becomes "cluster-<hash>".
func ObjectName(raw string) string {
	if len(validation.IsDNS1123Subdomain(raw)) == 0 && !strings.HasPrefix(raw, ClusterProfilePrefix) {
		return raw
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(raw) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	base := strings.Trim(b.String(), "-")
	if base == "" {
		base = "cluster"
	}
	return withSuffix(base, shortHash(raw))
}

// HashSuffixed returns full if it is a short enough object name, else full
// cut to fit and given "-" plus the first 8 hex digits of the SHA-256 of
// hashInput, so that names that share a long beginning stay distinct.
func HashSuffixed(full, hashInput string) string {
	if len(full) <= validation.DNS1123SubdomainMaxLength {
		return full
	}
	return withSuffix(full, shortHash(hashInput))
}

// withSuffix appends "-suffix" to base, shortening base so that the result
// stays within the 253 characters of a DNS-1123 subdomain.
func withSuffix(base, suffix string) string {
	limit := validation.DNS1123SubdomainMaxLength - len(suffix) - 1
	if len(base) > limit {
		base = strings.TrimRight(base[:limit], "-.")
	}
	return base + "-" + suffix
}

// shortHash returns the first hashLen hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashLen]
}
