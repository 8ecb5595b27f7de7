package httpx

import (
	"net/http"
	"strings"
)

// ARMShape returns the error Shape of the management API, ARM's: {"error":{"code","message"}}.
// When the error has no code, ARM's default for the status is used: InvalidRequestContent (400),
// AuthenticationFailed (401 without an Authorization header) or InvalidAuthenticationToken (401
// with one), AuthorizationFailed (403), ResourceNotFound (404), Conflict (409), TooManyRequests
// (429), ServiceUnavailable (503), InternalServerError otherwise. A 401 also carries ARM's
// challenge, WWW-Authenticate: Bearer authorization_uri="…", error="invalid_token",
// error_description="…", where authorizationURI is the authority clients should get a token
// from (the control plane's URL); it is left out when empty.
func ARMShape(authorizationURI string) Shape {
	return func(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
		if code == "" {
			code = armCode(r, status)
		}
		if status == http.StatusUnauthorized {
			var b strings.Builder
			b.WriteString("Bearer ")
			if authorizationURI != "" {
				b.WriteString(`authorization_uri="` + quoteParam(authorizationURI) + `", `)
			}
			b.WriteString(`error="invalid_token", error_description="` + quoteParam(msg) + `"`)
			w.Header().Set("WWW-Authenticate", b.String())
		}
		WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
}

func armCode(r *http.Request, status int) string {
	switch status {
	case http.StatusBadRequest:
		return "InvalidRequestContent"
	case http.StatusUnauthorized:
		if r.Header.Get("Authorization") == "" {
			return "AuthenticationFailed"
		}
		return "InvalidAuthenticationToken"
	case http.StatusForbidden:
		return "AuthorizationFailed"
	case http.StatusNotFound:
		return "ResourceNotFound"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	}
	return "InternalServerError"
}

// quoteParam makes s safe inside a quoted auth-param: printable ASCII, with '"' and '\' escaped;
// anything else becomes '?'.
func quoteParam(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
