package token_test

import (
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/token"
)

// FuzzVerifyToken checks that VerifyToken never panics, refuses everything as Unauthenticated
// without repeating the token, and accepts nothing but the exact tokens Mint produced.
func FuzzVerifyToken(f *testing.F) {
	rs := newEnv(f, opts{})
	es := newEnv(f, opts{cfg: token.Config{Alg: token.ES256}})
	minted := map[string]bool{}
	for _, e := range []*env{rs, es} {
		for _, aud := range []string{vaultAud, "api://" + appID} {
			raw := e.mint(f, aud).Raw
			minted[raw] = true
			hdr, payload, sig := parts(f, raw)
			f.Add(raw)
			f.Add(raw[:len(raw)-1])
			f.Add(hdr + "." + payload + "." + flip(sig, 3))
			f.Add(hdr + "." + flip(payload, 7) + "." + sig)
			f.Add(flip(hdr, 5) + "." + payload + "." + sig)
			f.Add(raw + "." + sig)
			f.Add(hdr + "." + payload + ".")
			f.Add(strings.Replace(raw, ".", "..", 1))
			f.Add(b64.EncodeToString([]byte(`{"alg":"none","kid":"x"}`)) + "." + payload + "." + sig)
			f.Add(b64.EncodeToString([]byte(`{"alg":"HS256","kid":"`+parts3(hdr)+`"}`)) + "." + payload + "." + sig)
		}
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, e := range []*env{rs, es} {
			c, err := e.svc.VerifyToken(raw)
			if err == nil {
				if !minted[raw] {
					t.Fatalf("accepted a token Mint did not produce: %q (%+v)", raw, c)
				}
				continue
			}
			if !errs.Is(err, errs.Unauthenticated) {
				t.Fatalf("kind %v: %v", errs.KindOf(err), err)
			}
			if len(raw) >= 40 && strings.Contains(err.Error(), raw) {
				t.Fatalf("the error repeats the token: %v", err)
			}
		}
	})
}

// parts3 is a header part's kid, for a seed that keeps it; it decodes nothing and returns a fixed
// kid-like string when the header is not one Mint wrote.
func parts3(hdr string) string {
	b, err := b64.DecodeString(hdr)
	if err != nil {
		return "kid"
	}
	s := string(b)
	i := strings.Index(s, `"kid":"`)
	if i < 0 {
		return "kid"
	}
	s = s[i+len(`"kid":"`):]
	return s[:strings.IndexByte(s, '"')]
}
