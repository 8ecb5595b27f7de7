package console

import (
	"bytes"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	s, h, err := newSecret(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if !validSecret(s) || h != hashSecret(s) || strings.Contains(h, s) {
		t.Errorf("secret %q hash %q", s, h)
	}
	for _, bad := range []string{"", "x", s + "A", strings.Repeat("*", len(s))} {
		if validSecret(bad) {
			t.Errorf("validSecret(%q) = true", bad)
		}
	}
	tok := csrfToken(s)
	if !csrfValid(s, tok) || csrfValid(s, "") || csrfValid(s, tok[1:]) || csrfValid(s+"x", tok) || tok == s {
		t.Error("csrf tokens do not tell sessions apart")
	}
}

func TestTemplatesParse(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 20 {
		t.Errorf("%d pages", len(pages))
	}
}
