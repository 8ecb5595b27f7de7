package rbac

import (
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// parsePaging reads the optional $top and $skipToken of a role assignment list (arm.ParsePaging);
// the skip token holds the last assignment's scope key and id. Without $top the whole list is
// one answer.
func parsePaging(r *http.Request) (top int, after *AssignmentCursor, err error) {
	p, err := arm.ParsePaging(r)
	if err != nil {
		return 0, nil, err
	}
	if p.After != "" {
		scope, id, ok := strings.Cut(p.After, "\x00")
		if !ok || scope == "" || id == "" {
			return 0, nil, arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The $skipToken is not one this API gave out.")
		}
		after = &AssignmentCursor{ScopeKey: scope, ID: id}
	}
	return p.Top, after, nil
}

// nextLink is the URL of the page after cursor.
func nextLink(r *http.Request, c *AssignmentCursor) string {
	return arm.NextLink(r, c.ScopeKey+"\x00"+c.ID)
}
