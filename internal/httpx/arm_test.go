package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

func TestARMShape(t *testing.T) {
	shape := ARMShape("https://localhost:8443/")
	tests := []struct {
		err        error
		authHeader string
		status     int
		code       string
		challenge  string
	}{
		{errs.E(errs.Invalid, "bad"), "", 400, "InvalidRequestContent", ""},
		{&errs.Error{Kind: errs.Invalid, Code: "MissingApiVersionParameter", Msg: "m"}, "", 400, "MissingApiVersionParameter", ""},
		{errs.E(errs.Unauthenticated, `Access token is "empty".`), "", 401, "AuthenticationFailed",
			`Bearer authorization_uri="https://localhost:8443/", error="invalid_token", error_description="Access token is \"empty\"."`},
		{errs.E(errs.Unauthenticated, "expired\n"), "Bearer x", 401, "InvalidAuthenticationToken",
			`Bearer authorization_uri="https://localhost:8443/", error="invalid_token", error_description="expired?"`},
		{errs.E(errs.Denied, "no"), "", 403, "AuthorizationFailed", ""},
		{errs.E(errs.NotFound, "no"), "", 404, "ResourceNotFound", ""},
		{errs.E(errs.Conflict, "no"), "", 409, "Conflict", ""},
		{errs.Wrap(errs.Internal, errs.E(errs.Internal, "secret cause"), "x"), "", 500, "InternalServerError", ""},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/subscriptions", nil)
		if tc.authHeader != "" {
			r.Header.Set("Authorization", tc.authHeader)
		}
		w := httptest.NewRecorder()
		WriteError(w, r, shape, tc.err)
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q: %v", tc.err, w.Body, err)
		}
		if w.Code != tc.status || body.Error.Code != tc.code || body.Error.Message != errs.Message(tc.err) {
			t.Errorf("%v: %d %+v, want %d %s", tc.err, w.Code, body.Error, tc.status, tc.code)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("%v: WWW-Authenticate %q, want %q", tc.err, got, tc.challenge)
		}
	}
	w := httptest.NewRecorder()
	ARMShape("")(w, httptest.NewRequest("GET", "/", nil), http.StatusUnauthorized, "", "m")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token", error_description="m"` {
		t.Errorf("without an authority: WWW-Authenticate %q", got)
	}
}
