package frontdoor

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: whatever arrives as a bearer token, the verifier answers without panicking and
// accepts nothing it did not sign (a valid token altered anywhere is refused).
func FuzzVerify(f *testing.F) {
	k := newIssuer(f)
	good := k.token(f, nil)
	v := newVerifier(k.jwks, time.Now)
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("e30.e30.")
	f.Add(`eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.`)
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.verify(t.Context(), raw, tenantA)
		if err == nil && raw != good {
			t.Fatalf("accepted a token it did not sign: %q (claims %v)", raw, c.claims)
		}
	})
}

// FuzzBearer: the Authorization header is one Bearer token or an error; never a panic.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic x", "Bearer", "", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		r.Header.Set("Authorization", h)
		tok, ok, err := bearer(r)
		if err == nil && ok && (tok == "" || strings.ContainsAny(tok, " \t")) && strings.TrimSpace(tok) != tok {
			t.Fatalf("token %q from %q", tok, h)
		}
	})
}
