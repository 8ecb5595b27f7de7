// Package guid recognises GUIDs (the 8-4-4-4-12 hexadecimal form every Azure API uses for ids).
// It is a leaf: every package that validates ids uses it, so there is one definition.
package guid

// Valid reports whether s has the 8-4-4-4-12 hexadecimal form, in any case.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
