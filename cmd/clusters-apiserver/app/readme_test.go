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
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// readmeFlag is a row of the README's flag table.
var readmeFlag = regexp.MustCompile("^\\| `(--[a-z0-9-]+)` \\|([^|]*)\\|([^|]*)\\|$")

// TestREADMEFlagsMatchHelp checks the README's flag table against the
// flags themselves: every flag of this server's own groups is in it, and
// each default the table gives in code font is the flag's default.
func TestREADMEFlagsMatchHelp(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][2]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if m := readmeFlag.FindStringSubmatch(line); m != nil {
			rows[m[1]] = [2]string{strings.TrimSpace(m[2]), strings.TrimSpace(m[3])}
		}
	}
	if len(rows) < 20 {
		t.Fatalf("found %d rows in the README's flag table; is the table still there?", len(rows))
	}
	fss := NewOptions().Flags()
	own := []string{"sources", "proxy", "health checks", "high availability", "hub"}
	for _, group := range own {
		fss.FlagSet(group).VisitAll(func(f *pflag.Flag) {
			if f.Deprecated != "" || f.Hidden {
				return
			}
			if _, ok := rows["--"+f.Name]; !ok {
				t.Errorf("--%s (group %q) is not in the README's flag table", f.Name, group)
			}
		})
	}
	for name, row := range rows {
		var flag *pflag.Flag
		for _, fs := range fss.FlagSets {
			if f := fs.Lookup(strings.TrimPrefix(name, "--")); f != nil {
				flag = f
			}
		}
		if flag == nil {
			t.Errorf("the README lists %s, which is not a flag", name)
			continue
		}
		def := row[0]
		switch {
		case strings.HasPrefix(row[1], "deprecated"):
			continue
		case def == "":
			if flag.DefValue != "" && flag.DefValue != "[]" && flag.DefValue != "false" {
				t.Errorf("the README gives %s no default; --help says %q", name, flag.DefValue)
			}
		case def == "off":
			if flag.DefValue != "false" {
				t.Errorf("the README says %s is off by default; --help says %q", name, flag.DefValue)
			}
		case strings.HasPrefix(def, "`") && strings.HasSuffix(def, "`") && !strings.HasPrefix(def, "`--"):
			if got, want := normalize(flag.Value.Type(), flag.DefValue), normalize(flag.Value.Type(), strings.Trim(def, "`")); got != want {
				t.Errorf("the README says %s defaults to %s; --help says %q", name, def, flag.DefValue)
			}
		}
	}
}

// normalize is a default as a comparable string: durations parsed, lists
// without brackets.
func normalize(typ, value string) string {
	switch typ {
	case "duration":
		if d, err := time.ParseDuration(value); err == nil {
			return d.String()
		}
	case "stringSlice", "stringArray":
		return strings.Trim(value, "[]")
	}
	return value
}
