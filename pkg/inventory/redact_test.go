package inventory

import "testing"

func TestStripUserinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://admin:secret@host:6443/prefix", "https://host:6443/prefix"},
		{"https://admin:p%zzsecret@host:6443/x", "https://host:6443/x"},
		{"https://a:b@c@host", "https://host"},
		{"https://host:6443", "https://host:6443"},
		{"host:6443", "host:6443"},
		{"https://admin:p%zz@host?q=@x", "https://host?q=@x"},
	}
	for _, tc := range tests {
		if got := StripUserinfo(tc.in); got != tc.want {
			t.Errorf("StripUserinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	in := `context "c": parse "https://admin:p%zzsecret@host:6443": invalid URL escape "%zz"`
	want := `context "c": parse "https://host:6443": invalid URL escape "%zz"`
	if got := Redact(in); got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}
