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

import "strconv"

// Cursor reads the inventory's events in order from a resourceVersion on.
// One goroutine uses a cursor at a time.
type Cursor struct {
	log *eventLog
	rv  uint64
}

// Watch returns a cursor positioned after resourceVersion. It fails with
// ErrInvalidResourceVersion for a malformed one and ErrExpired for one whose
// events are gone or that another server instance handed out.
func (inv *Inventory) Watch(resourceVersion string) (*Cursor, error) {
	rv, err := ParseResourceVersion(resourceVersion)
	if err != nil {
		return nil, err
	}
	if _, _, err := inv.log.after(rv); err != nil {
		return nil, err
	}
	return &Cursor{log: inv.log, rv: rv}, nil
}

// Next returns the events after the cursor and advances it past them. When
// there are none, it returns a channel that is closed when there may be.
// ErrExpired means the cursor fell behind the log: the watch must end.
func (c *Cursor) Next() ([]Event, <-chan struct{}, error) {
	events, wait, err := c.log.after(c.rv)
	if err != nil {
		return nil, nil, err
	}
	if n := len(events); n > 0 {
		c.rv = events[n-1].rv
	}
	return events, wait, nil
}

// ResourceVersion returns the resourceVersion the cursor is at.
func (c *Cursor) ResourceVersion() string {
	return strconv.FormatUint(c.rv, 10)
}
