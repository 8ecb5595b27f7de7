package arm

import (
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// RequireAPIVersion checks the api-version query parameter of r against the versions an
// operation accepts (compared ignoring case). A missing or empty one is 400
// MissingApiVersionParameter, any other 400 InvalidApiVersionParameter naming the accepted
// versions, as ARM answers.
func RequireAPIVersion(r *http.Request, accepted []string) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return E(errs.Invalid, CodeMissingAPIVersion,
			"The api-version query parameter (?api-version=) is required for all requests.")
	}
	for _, a := range accepted {
		if strings.EqualFold(v, a) {
			return nil
		}
	}
	return E(errs.Invalid, CodeInvalidAPIVersion,
		"The api-version '%s' is invalid. The supported versions are '%s'.", clip(v), strings.Join(accepted, ","))
}
