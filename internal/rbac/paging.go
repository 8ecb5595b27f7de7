package rbac

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// maxTop bounds $top on a role assignment list.
const maxTop = 1000

// parsePaging reads the optional $top (1 to maxTop) and $skipToken (from a nextLink of ours) of a
// role assignment list. Without $top the whole list is one answer, as before.
func parsePaging(r *http.Request) (top int, after *AssignmentCursor, err error) {
	q := r.URL.Query()
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTop {
			return 0, nil, arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "$top must be a whole number from 1 to %d.", maxTop)
		}
		top = n
	}
	if v := q.Get("$skipToken"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		scope, id, ok := strings.Cut(string(raw), "\x00")
		if err != nil || !ok || scope == "" || id == "" {
			return 0, nil, arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The $skipToken is not one this API gave out.")
		}
		after = &AssignmentCursor{ScopeKey: scope, ID: id}
	}
	return top, after, nil
}

// nextLink is the URL of the page after cursor: the request's own, with $skipToken set.
func nextLink(r *http.Request, c *AssignmentCursor) string {
	q := r.URL.Query()
	q.Set("$skipToken", base64.RawURLEncoding.EncodeToString([]byte(c.ScopeKey+"\x00"+c.ID)))
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}
