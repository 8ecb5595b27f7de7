package httpx

import (
	"net/http"
	"strings"
)

// KeyVault renders Key Vault's error body: {"error":{"code","message","innererror":{"code"}}}
// (lower-case innererror, unlike Graph), with the code also in the x-ms-error-code header, as
// the service sends it. code may carry an inner code after a colon, "Forbidden:SecretDisabled";
// without a code, Key Vault's default for the status is used.
func KeyVault(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	code, inner, _ := strings.Cut(code, ":")
	if code == "" {
		code = keyVaultCode(status)
	}
	e := map[string]any{"code": code, "message": msg}
	if inner != "" {
		e["innererror"] = map[string]string{"code": inner}
	}
	w.Header().Set("x-ms-error-code", code)
	WriteJSON(w, status, map[string]any{"error": e})
}

func keyVaultCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "BadParameter"
	case http.StatusUnauthorized:
		return "Unauthorized"
	case http.StatusForbidden:
		return "Forbidden"
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusMethodNotAllowed:
		return "MethodNotAllowed"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		return "Throttled"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	}
	return "InternalServerError"
}
