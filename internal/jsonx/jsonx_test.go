package jsonx_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/jsonx"
)

func TestAppendString(t *testing.T) {
	for s, want := range map[string]string{
		"":                   `""`,
		"https://a/b?c=d":    `"https://a/b?c=d"`,
		"a\"b\\c":            `"a\"b\\c"`,
		"\n\r\t\b\f\x00\x1f": `"\n\r\t\b\f\u0000\u001f"`,
		"é\u2028\u2029":      `"é\u2028\u2029"`,
		"\xff<&>":            `"\ufffd<&>"`,
	} {
		if got := string(jsonx.AppendString([]byte("x"), s)); got != "x"+want {
			t.Errorf("AppendString(%q) = %s, want %s", s, got[1:], want)
		}
	}
}

// FuzzAppendString checks the bytes against encoding/json's (HTML escaping off) and the round trip.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\", "\x00\x1f\x7f", "\b\f\n\r\t", "ü\u2028\u2029", "\xff\xfe", "<&>", "a\xc3", "é😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := jsonx.AppendString(nil, s)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json says %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || (utf8.ValidString(s) && back != s) {
			t.Fatalf("round trip of %q: %q, %v", s, back, err)
		}
	})
}
