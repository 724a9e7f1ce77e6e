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

package kubeconfig

import (
	"bytes"
	"fmt"
	"hash/maphash"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// A kubeconfig of 10,000 contexts is tens of megabytes of YAML. Decoding
// all of it (YAML to a generic tree, to JSON, to the v1 and then the
// internal types) takes seconds and hundreds of megabytes of garbage, for
// what is usually a one-line edit. So a file in the block style that
// kubectl, clientcmd and most tools write is cut, without decoding, into
// the items of its clusters, users and contexts lists and the rest; an
// item whose text is the same as in the last version reuses what that
// text decoded to, and only new items and the small rest are decoded, by
// the same decoder as the whole file would be. Anything the cutting does
// not recognise with certainty (flow style, anchors and aliases, several
// documents, a list item it cannot tell apart) is decoded whole, as
// before: the fast path never changes what a file means.

// lists are the top-level keys whose items are cut apart, in the order of
// their index in blocks.items.
var lists = [...]string{"clusters", "users", "contexts"}

// blocks is a kubeconfig cut into its parts: rest is the file without the
// three lists, and items the text of each of their items.
type blocks struct {
	rest  []byte
	items [len(lists)][][]byte
}

// split cuts data into blocks, or returns false if data is not in the
// plain block style it recognises.
func split(data []byte) (blocks, bool) {
	var b blocks
	c := newCutter(func(list int, text []byte) error {
		b.items[list] = append(b.items[list], bytes.Clone(text))
		return nil
	})
	ok := true
	eachLine(data, func(line []byte) bool { ok = c.line(line); return ok })
	if !ok || !c.end() {
		return blocks{}, false
	}
	b.rest = c.rest
	return b, true
}

// cutter cuts a kubeconfig, fed to it line by line, into the rest of the
// file, which it keeps, and the items of its lists, which it hands to
// items one by one as each is complete, in file order: a file of tens of
// megabytes is cut as it streams, and only what an item needs is held.
type cutter struct {
	items func(list int, text []byte) error // text is valid during the call only
	err   error                             // the error items returned, if it did
	rest  []byte
	seen  map[string]bool
	list  int  // the list being cut, or -1
	level int  // the indentation of its items, or -1 before the first
	open  bool // whether the last top-level key has its value on the lines after it
	first bool // no line fed yet
	// cur is the text of the item being cut, of list, if pending: the
	// lines of an item are contiguous, and the blank and comment lines
	// after it are its own.
	cur     []byte
	pending bool
}

func newCutter(items func(list int, text []byte) error) *cutter {
	return &cutter{items: items, rest: make([]byte, 0, 256), seen: map[string]bool{}, list: -1, level: -1, first: true}
}

// line feeds the next line, with its newline if it has one, and returns
// false if the file is not in the plain block style the cutter recognises
// (or if items returned an error, c.err): the file is then to be decoded
// whole, and nothing more is to be fed.
func (c *cutter) line(line []byte) bool {
	return !hasOtherBreak(line) && !hasAnchorOrAlias(line) && c.checkedLine(line)
}

// checkedLine is line for a line in which hasOtherBreak and
// hasAnchorOrAlias found nothing.
func (c *cutter) checkedLine(line []byte) bool {
	if c.first && bytes.HasPrefix(line, []byte("\xef\xbb\xbf")) {
		return false
	}
	c.first = false
	text := bytes.TrimRight(line, "\n")
	trimmed := bytes.TrimLeft(text, " ")
	n := len(text) - len(trimmed)
	blank := len(trimmed) == 0 || trimmed[0] == '#'
	if n == 0 && !blank && (!c.open || !startsItem(trimmed)) {
		// A top-level key.
		key, value, ok := topLevelKey(text)
		if !ok || c.seen[key] || !c.flush() {
			return false
		}
		c.seen[key] = true
		c.list, c.level, c.open = -1, -1, !value
		if !closesOnLine(text) {
			return false
		}
		// Into the rest, a list's own line too (it decodes there as an
		// empty list), so that every byte outside the items is decoded.
		c.rest = append(c.rest, line...)
		if !value {
			for i, l := range lists {
				if key == l {
					c.list = i
				}
			}
		}
		return true
	}
	if c.list < 0 {
		if len(c.seen) == 0 && !blank {
			return false // the document does not start at the first column
		}
		if !closesOnLine(text) {
			return false
		}
		c.rest = append(c.rest, line...)
		return true
	}
	if blank {
		if c.pending {
			c.cur = append(c.cur, line...)
		} else {
			c.rest = append(c.rest, line...) // a comment before the first item
		}
		return true
	}
	if c.level < 0 {
		c.level = n
	}
	switch {
	case n == c.level && startsItem(trimmed):
		if !c.flush() {
			return false
		}
		c.cur, c.pending = append(c.cur[:0], line...), true
	case n > c.level && c.pending:
		c.cur = append(c.cur, line...)
	default:
		return false
	}
	return true
}

// flush hands the pending item, if any, to c.items.
func (c *cutter) flush() bool {
	if !c.pending {
		return true
	}
	c.pending = false
	if err := c.items(c.list, c.cur); err != nil {
		c.err = err
		return false
	}
	return true
}

// end tells that the whole file was fed, and returns false as line does.
func (c *cutter) end() bool {
	return c.flush()
}

// hasOtherBreak tells whether data holds a line break other than '\n'
// that YAML knows: CR, NEL, LS or PS (go.yaml.in/yaml/v2's is_break).
func hasOtherBreak(data []byte) bool {
	return bytes.IndexByte(data, '\r') >= 0 || bytes.Contains(data, []byte("\u0085")) ||
		bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029"))
}

// cuttable tells whether data may be cut: what the cutter rejects
// wherever it is in a file, looked for in the whole before any item is
// decoded.
func cuttable(data []byte) bool {
	return !hasOtherBreak(data) && !bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) && !hasAnchorOrAlias(data)
}

// closesOnLine tells whether every quoted scalar and flow collection that
// a line of the rest opens is closed on the line. A YAML decoder reads a
// quoted scalar across lines whatever their indentation, so one left open
// could hold what the cutting took for a list and its items; the file is
// then decoded whole. It errs towards no.
func closesOnLine(line []byte) bool {
	depth := 0
	start := true // at the start of a token: where a quote or bracket opens one
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			start = true
			continue
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return depth == 0 // a comment to the end of the line
		case (c == '"' || c == '\'') && start:
			if i = closingQuote(line, i); i < 0 {
				return false
			}
		case (c == '[' || c == '{') && (start || depth > 0):
			depth++
			continue
		case (c == ']' || c == '}') && depth > 0:
			depth--
		case c == ',' || c == ':' || c == '-' || c == '?':
			start = true
			continue
		}
		start = false
	}
	return depth == 0
}

// closingQuote returns the index of the quote that closes the one at
// line[open], or -1 if the line does not close it.
func closingQuote(line []byte, open int) int {
	q := line[open]
	for i := open + 1; i < len(line); i++ {
		switch {
		case q == '"' && line[i] == '\\':
			i++ // an escaped character
		case line[i] == q && q == '\'' && i+1 < len(line) && line[i+1] == '\'':
			i++ // '' is a quote within single quotes
		case line[i] == q:
			return i
		}
	}
	return -1
}

// startsItem tells whether a line, its indentation removed, opens a list
// item.
func startsItem(trimmed []byte) bool {
	return bytes.Equal(trimmed, []byte("-")) || bytes.HasPrefix(trimmed, []byte("- "))
}

// topLevelKey parses a line that starts at the first column as a plain
// key, and tells whether a value follows it on the line. A comment after
// the colon is no value.
func topLevelKey(line []byte) (key string, value, ok bool) {
	i := 0
	for i < len(line) && (line[i] >= 'a' && line[i] <= 'z' || line[i] >= 'A' && line[i] <= 'Z' || line[i] >= '0' && line[i] <= '9' || line[i] == '-' || line[i] == '_') {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return "", false, false
	}
	after := line[i+1:]
	if len(after) > 0 && after[0] != ' ' {
		return "", false, false
	}
	after = bytes.TrimLeft(after, " ")
	return string(line[:i]), len(after) > 0 && after[0] != '#', true
}

// hasAnchorOrAlias tells whether a line, or lines, may hold a YAML anchor
// or alias (an '&' or '*' that starts a token), which can tie one item to
// another.
// It errs towards yes: an URL's query or a quoted string can trigger it,
// and then the file is only decoded whole.
func hasAnchorOrAlias(data []byte) bool {
	for _, c := range []byte{'&', '*'} {
		for off := 0; ; {
			i := bytes.IndexByte(data[off:], c)
			if i < 0 {
				break
			}
			i += off
			if i == 0 {
				return true
			}
			switch data[i-1] {
			case ' ', '\n', '-', ':', '[', '{', ',', '\t', '?':
				return true
			}
			off = i + 1
		}
	}
	return false
}

// item is what the text of one list item decoded to: one named cluster,
// user or context, paths resolved.
type item struct {
	name string
	obj  any // *clientcmdapi.Cluster, *clientcmdapi.AuthInfo or *clientcmdapi.Context
}

// itemKey names an item's text in its list by its length and a 64-bit
// hash with a seed of this process, which nobody can aim a collision at,
// and which is many times faster than a cryptographic checksum over tens
// of megabytes.
type itemKey struct {
	list, len int
	sum       uint64
}

var itemSeed = maphash.MakeSeed()

func keyOf(list int, text []byte) itemKey {
	return itemKey{list, len(text), maphash.Bytes(itemSeed, text)}
}

// keyedItem is an item with the key of the text it was decoded from.
type keyedItem struct {
	key itemKey
	item
}

// itemLists are the items of each list of a file, in file order.
type itemLists struct {
	lists [len(lists)][]keyedItem
	// rest tells that the rest of the file defines entries too (a list
	// written in flow style, say), which are decoded again each time and
	// are not among the items.
	rest bool
}

// changedNames names, for each list, the entries that a version of a file
// decoded afresh or no longer has: every other entry is the previous
// version's, shared. The names of entries the rest of the file defines are
// among them.
type changedNames [len(lists)]map[string]bool

func (c *changedNames) add(list int, name string) {
	if c[list] == nil {
		c[list] = map[string]bool{}
	}
	c[list][name] = true
}

// loadBlocks decodes a file cut into b, reusing from prev the items whose
// text has not changed, and returns what loader.finish returns.
func loadBlocks(path string, b blocks, prev *itemLists) (*clientcmdapi.Config, *itemLists, changedNames, error) {
	l := newLoader(path, prev)
	for list, texts := range b.items {
		for _, text := range texts {
			if err := l.item(list, text); err != nil {
				return nil, nil, l.changed, err
			}
		}
	}
	return l.finish(b.rest)
}

// loader decodes the items of a file as a cutter hands them over, reusing
// from the previous version's items those whose text has not changed;
// finish then decodes the rest and puts the configuration together.
//
// An item is first looked for at its place in prev, shifted by the last
// insertion or removal seen, and only then by its key: a file of 10,000
// contexts changes in place, and looking each of its 30,000 items up in a
// map that does not fit a CPU cache was a third of the time a change took.
type loader struct {
	path string
	out  *itemLists
	// fresh holds what was decoded now, so that only it has its paths
	// resolved: what is reused was resolved when it was decoded.
	fresh   *clientcmdapi.Config
	changed changedNames
	match   [len(lists)]matching
}

// matching is what the loader knows of one list of the previous version.
type matching struct {
	was   []keyedItem
	used  []bool
	at    map[itemKey]int // was's indexes by key, made at the first item out of place
	shift int
}

func newLoader(path string, prev *itemLists) *loader {
	l := &loader{path: path, out: &itemLists{}, fresh: clientcmdapi.NewConfig()}
	if prev != nil {
		for list, was := range prev.lists {
			l.match[list] = matching{was: was, used: make([]bool, len(was))}
			l.out.lists[list] = make([]keyedItem, 0, len(was))
		}
	}
	return l
}

// item takes the text of the next item of list, which it does not keep.
func (l *loader) item(list int, text []byte) error {
	m := &l.match[list]
	i := len(l.out.lists[list])
	k := keyOf(list, text)
	j := -1
	if p := i + m.shift; p >= 0 && p < len(m.was) && !m.used[p] && m.was[p].key == k {
		j = p
	} else if len(m.was) > 0 {
		if m.at == nil {
			m.at = make(map[itemKey]int, len(m.was))
			for x, w := range m.was {
				m.at[w.key] = x
			}
		}
		if x, ok := m.at[k]; ok && !m.used[x] {
			j, m.shift = x, x-i
		}
	}
	var it item
	if j >= 0 {
		m.used[j] = true
		it = m.was[j].item
	} else {
		var err error
		if it, err = decodeItem(l.path, list, text, l.fresh); err != nil {
			return err
		}
		l.changed.add(list, it.name)
	}
	l.out.lists[list] = append(l.out.lists[list], keyedItem{k, it})
	return nil
}

// finish decodes rest, the file without its items, and returns the
// configuration with its paths resolved against the file's directory, the
// items it was built from, and the names of the entries that are not the
// previous version's. An error means the file is to be decoded whole
// instead.
func (l *loader) finish(rest []byte) (*clientcmdapi.Config, *itemLists, changedNames, error) {
	cfg, err := clientcmd.Load(rest)
	if err != nil {
		return nil, nil, l.changed, err
	}
	setOrigin(cfg, l.path)
	l.out.rest = len(cfg.Clusters)+len(cfg.AuthInfos)+len(cfg.Contexts) > 0
	restClusters, restUsers, restContexts := cfg.Clusters, cfg.AuthInfos, cfg.Contexts
	// Sized for every item: growing maps of 10,000 entries item by item
	// was a tenth of the time a change took.
	cfg.Clusters = make(map[string]*clientcmdapi.Cluster, len(l.out.lists[0])+len(restClusters))
	cfg.AuthInfos = make(map[string]*clientcmdapi.AuthInfo, len(l.out.lists[1])+len(restUsers))
	cfg.Contexts = make(map[string]*clientcmdapi.Context, len(l.out.lists[2])+len(restContexts))
	for name, c := range restClusters {
		l.changed.add(0, name)
		cfg.Clusters[name], l.fresh.Clusters[name] = c, c
	}
	for name, a := range restUsers {
		l.changed.add(1, name)
		cfg.AuthInfos[name], l.fresh.AuthInfos[name] = a, a
	}
	for name, c := range restContexts {
		l.changed.add(2, name)
		cfg.Contexts[name], l.fresh.Contexts[name] = c, c
	}
	for list, items := range l.out.lists {
		for _, it := range items {
			var dup bool
			switch o := it.obj.(type) {
			case *clientcmdapi.Cluster:
				_, dup = cfg.Clusters[it.name]
				cfg.Clusters[it.name] = o
			case *clientcmdapi.AuthInfo:
				_, dup = cfg.AuthInfos[it.name]
				cfg.AuthInfos[it.name] = o
			case *clientcmdapi.Context:
				_, dup = cfg.Contexts[it.name]
				cfg.Contexts[it.name] = o
			}
			if dup {
				// Decoding the file whole reports it as it should. The
				// same text twice is caught here too: it names the same
				// entry twice.
				return nil, nil, l.changed, fmt.Errorf("%s %q twice", lists[list], it.name)
			}
		}
	}
	for list, m := range l.match {
		for x, w := range m.was {
			if !m.used[x] {
				l.changed.add(list, w.name)
			}
		}
	}
	if err := clientcmd.ResolveLocalPaths(l.fresh); err != nil {
		return nil, nil, l.changed, err
	}
	return cfg, l.out, l.changed, nil
}

// decodeItem decodes the text of one item of list with the decoder of
// whole files, and adds it to fresh.
func decodeItem(path string, list int, text []byte, fresh *clientcmdapi.Config) (item, error) {
	doc := make([]byte, 0, len(lists[list])+2+len(text))
	doc = append(append(append(doc, lists[list]...), ":\n"...), text...)
	one, err := clientcmd.Load(doc)
	if err != nil {
		return item{}, err
	}
	setOrigin(one, path)
	var out []item
	for name, c := range one.Clusters {
		out = append(out, item{name, c})
		fresh.Clusters[name] = c
	}
	for name, a := range one.AuthInfos {
		out = append(out, item{name, a})
		fresh.AuthInfos[name] = a
	}
	for name, c := range one.Contexts {
		out = append(out, item{name, c})
		fresh.Contexts[name] = c
	}
	if len(out) != 1 {
		return item{}, fmt.Errorf("a %s item decoded to %d entries", lists[list], len(out))
	}
	return out[0], nil
}
