package odata

import (
	"strings"
	"testing"
	"unicode"
)

// FoldKey must agree with startswith's own comparison (hasPrefixFold) for every pair, so that a
// range scan over FoldKey finds exactly what Eval accepts.
func TestFoldKeyAgreesWithStartswith(t *testing.T) {
	words := []string{"", "a", "A", "app-0999", "APP-09", "Kelvin", "\u212aelvin", "kel", "ſtraße", "STRASSE", "strasse", "Σίσυφος",
		"σίσ", "ΣΊΣ", "ς", "θ", "\u03f4", "\u03d1", "\xff\xfe", "\ufffd", "İstanbul", "istanbul", "ı", "日本語", "日本", "x\U0010FFFF"}
	for _, s := range words {
		for _, p := range words {
			want := hasPrefixFold(s, p)
			got := strings.HasPrefix(FoldKey(s), FoldKey(p))
			if got != want {
				t.Errorf("s=%q p=%q: FoldKey prefix %v, startswith %v", s, p, got, want)
			}
			end, ok := PrefixEnd(FoldKey(p))
			inRange := FoldKey(s) >= FoldKey(p) && (!ok || FoldKey(s) < end)
			if inRange != want {
				t.Errorf("s=%q p=%q: in [%q, %q) %v, startswith %v", s, p, FoldKey(p), end, inRange, want)
			}
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		p, end string
		ok     bool
	}{
		{"", "", false},
		{"abc", "abd", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF\U0010FFFF", "", false},
		{"\ud7ff", "\ue000", true},
		{"A-", "A.", true},
	} {
		end, ok := PrefixEnd(c.p)
		if end != c.end || ok != c.ok {
			t.Errorf("PrefixEnd(%q) = %q, %v; want %q, %v", c.p, end, ok, c.end, c.ok)
		}
	}
	if r := foldRune('\u212a'); r != 'K' || unicode.SimpleFold('K') == 'K' {
		t.Errorf("foldRune(Kelvin sign) = %q", r)
	}
}

// FuzzFoldKey: for any two strings, FoldKey's prefix and range agree with startswith.
func FuzzFoldKey(f *testing.F) {
	f.Add("Straße", "STRAS")
	f.Add("\u212aelvin", "k")
	f.Add("\xff\xfeabc", "\ufffd")
	f.Add("x\U0010FFFF", "X\U0010FFFF")
	f.Fuzz(func(t *testing.T, s, p string) {
		want := hasPrefixFold(s, p)
		ks, kp := FoldKey(s), FoldKey(p)
		if got := strings.HasPrefix(ks, kp); got != want {
			t.Fatalf("s=%q p=%q: FoldKey prefix %v, startswith %v", s, p, got, want)
		}
		end, ok := PrefixEnd(kp)
		if in := ks >= kp && (!ok || ks < end); in != want {
			t.Fatalf("s=%q p=%q: in range %v, startswith %v", s, p, in, want)
		}
	})
}
