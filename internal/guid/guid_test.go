package guid

import "testing"

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"00000003-0000-0000-c000-000000000000":   true,
		"7AB1D382-F21E-4ACD-A863-BA3E13F7DA61":   true,
		"00000003-0000-0000-c000-00000000000":    false,
		"00000003-0000-0000-c000-0000000000000":  false,
		"00000003x0000-0000-c000-000000000000":   false,
		"0000000g-0000-0000-c000-000000000000":   false,
		"{00000003-0000-0000-c000-000000000000}": false,
		"":                                       false,
	} {
		if Valid(s) != want {
			t.Errorf("Valid(%q) = %v, want %v", s, !want, want)
		}
	}
}
