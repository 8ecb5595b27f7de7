package token_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/token"
)

func TestMintValidation(t *testing.T) {
	e := newEnv(t, opts{})
	good := token.MintRequest{TenantID: tenantID, Audience: vaultAud, AppID: appID, ObjectID: objectID}
	cases := []struct {
		name string
		edit func(r *token.MintRequest)
	}{
		{"empty tenant", func(r *token.MintRequest) { r.TenantID = "" }},
		{"tenant not a GUID", func(r *token.MintRequest) { r.TenantID = "contoso.onmicrosoft.com" }},
		{"tenant GUID in braces", func(r *token.MintRequest) { r.TenantID = "{" + tenantID + "}" }},
		{"tenant with a non-hex digit", func(r *token.MintRequest) { r.TenantID = "g" + tenantID[1:] }},
		{"empty appid", func(r *token.MintRequest) { r.AppID = "" }},
		{"appid without dashes", func(r *token.MintRequest) { r.AppID = strings.ReplaceAll(appID, "-", "") + "0000" }},
		{"empty oid", func(r *token.MintRequest) { r.ObjectID = "" }},
		{"oid with a dash moved", func(r *token.MintRequest) { r.ObjectID = objectID[:7] + "-" + objectID[7:8] + objectID[9:] }},
		{"empty audience", func(r *token.MintRequest) { r.Audience = "" }},
		{"audience of 513 bytes", func(r *token.MintRequest) { r.Audience = "https://a/" + strings.Repeat("x", 503) }},
		{"audience with a newline", func(r *token.MintRequest) { r.Audience = "https://vault.azure.net\n" }},
		{"audience not UTF-8", func(r *token.MintRequest) { r.Audience = "https://\xff" }},
		{"empty role", func(r *token.MintRequest) { r.Roles = []string{"a", ""} }},
		{"role with a control character", func(r *token.MintRequest) { r.Roles = []string{"a\x00"} }},
		{"mirid with a control character", func(r *token.MintRequest) { r.MIResID = "/subscriptions/x\r" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			c.edit(&r)
			_, err := e.svc.Mint(context.Background(), r)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
		})
	}
	t.Run("limits are inclusive", func(t *testing.T) {
		r := good
		r.Audience = "https://a/" + strings.Repeat("x", 502)
		r.TenantID = strings.ToUpper(tenantID)
		tok, err := e.svc.Mint(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		decodePart(t, strings.Split(tok.Raw, ".")[1], &c)
		if c["tid"] != tenantID || c["iss"] != baseURL+"/"+tenantID+"/" {
			t.Errorf("an upper-case tenant id is not written in lower case: %v %v", c["tid"], c["iss"])
		}
		if _, ok := c["roles"]; ok {
			t.Error("roles present without roles")
		}
		if _, ok := c["xms_mirid"]; ok {
			t.Error("xms_mirid present without one")
		}
	})
}

func TestMintCountsAndUniqueIDs(t *testing.T) {
	e := newEnv(t, opts{})
	var n atomic.Int64
	e.svc.OnMint = func() { n.Add(1) }
	seen := map[string]bool{}
	for range 3 {
		tok := e.mint(t, vaultAud)
		if seen[tok.ID] {
			t.Fatalf("uti %s repeated", tok.ID)
		}
		seen[tok.ID] = true
	}
	_, _ = e.svc.Mint(context.Background(), token.MintRequest{}) // invalid: not counted
	if n.Load() != 3 {
		t.Errorf("OnMint called %d times, want 3", n.Load())
	}
}

func TestMintEscapesClaims(t *testing.T) {
	e := newEnv(t, opts{})
	aud := "api://weird\"aud\\ü\u2028é"
	roles := []string{`Role "quoted"`, "Ünïcödé", "<script>&"}
	tok, err := e.svc.Mint(context.Background(), token.MintRequest{TenantID: tenantID, Audience: aud, AppID: appID, ObjectID: objectID, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Aud   string   `json:"aud"`
		Roles []string `json:"roles"`
	}
	decodePart(t, strings.Split(tok.Raw, ".")[1], &c)
	if c.Aud != aud || strings.Join(c.Roles, "|") != strings.Join(roles, "|") {
		t.Errorf("round trip: %q %q", c.Aud, c.Roles)
	}
}

func TestResource(t *testing.T) {
	for in, want := range map[string]string{
		"https://vault.azure.net/.default":              "https://vault.azure.net",
		"https://vault.azure.net/":                      "https://vault.azure.net/",
		"https://vault.azure.net":                       "https://vault.azure.net",
		"api://x/.default/.default":                     "api://x/.default",
		"00000003-0000-0000-c000-000000000000/.default": "00000003-0000-0000-c000-000000000000",
	} {
		if got := token.Resource(in); got != want {
			t.Errorf("Resource(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTenantErrors(t *testing.T) {
	e := newEnv(t, opts{})
	for _, c := range []struct {
		path string
		code int
	}{
		{"/common/discovery/keys", 400},
		{"/not-a-guid/.well-known/openid-configuration", 400},
		{"/00000000-0000-0000-0000-000000000000/discovery/v2.0/keys", 404},
		{"/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration", 404},
	} {
		w := e.get(t, c.path)
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != c.code || body["error"] != "invalid_tenant" || body["error_description"] == "" {
			t.Errorf("%s: %d %s", c.path, w.Code, w.Body)
		}
	}
	// A tenant id in upper case names the same tenant; documents use the lower-case form.
	w := e.get(t, "/"+strings.ToUpper(tenantID)+"/.well-known/openid-configuration")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"issuer":"`+baseURL+"/"+tenantID+`/"`) {
		t.Errorf("upper-case tenant: %d %s", w.Code, w.Body)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (token.Config{}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []token.Config{
		{Alg: "HS256"},
		{TokenLifetime: 25 * 60 * 60 * 1e9},
		{RotationPeriod: token.DefaultPrePublish},
		{ReloadInterval: token.DropSkew + 1},
	} {
		if err := c.Validate(); !errs.Is(err, errs.Invalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
