package authn

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// stubVerifier accepts the one token "good", for the audience aud.
type stubVerifier struct{ aud string }

func (v stubVerifier) VerifyToken(raw string) (Claims, error) {
	if raw != "good" {
		return Claims{}, errs.E(errs.Unauthenticated, "bad token")
	}
	return Claims{Audience: v.aud, ObjectID: "o", TenantID: "t"}, nil
}

// FuzzBearer: the Authorization header of every API request. Authenticate does not panic, every
// failure is Unauthenticated, and it accepts only the scheme Bearer (any case) followed by the
// token the verifier accepts, for one of the API's audiences.
func FuzzBearer(f *testing.F) {
	for _, h := range []string{"Bearer good", "bearer good", "BEARER  good ", "Bearer", "Bearer ", "Basic good", "Bearer good extra", "Bearergood", "\x00", ""} {
		f.Add(h, "https://vault.azure.net/")
	}
	f.Fuzz(func(t *testing.T, header, aud string) {
		b := &Bearer{Verifier: stubVerifier{aud: aud}, Audiences: []string{"https://vault.azure.net"}}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		p, err := b.Authenticate(r)
		if err != nil {
			if !errs.Is(err, errs.Unauthenticated) {
				t.Fatalf("%q: %v is not Unauthenticated", header, err)
			}
			return
		}
		scheme, rest, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) != "good" {
			t.Fatalf("%q was accepted", header)
		}
		if NormalizeAudience(aud) != "https://vault.azure.net" {
			t.Fatalf("a token for %q was accepted by the vault", aud)
		}
		if p.ObjectID != "o" || p.Admin {
			t.Fatalf("principal %+v", p)
		}
	})
}
