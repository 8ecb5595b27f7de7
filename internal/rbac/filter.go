package rbac

import (
	"regexp"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// AssignmentFilter is a parsed $filter of a role assignment list.
type AssignmentFilter struct {
	AtScope     bool   // atScope(): only assignments at or above the scope
	PrincipalID string // principalId eq '{id}' or assignedTo('{id}'): only this principal's
}

// DefinitionFilter is a parsed $filter of a role definition list.
type DefinitionFilter struct {
	RoleName string // roleName eq '{name}'
	Type     string // type eq 'BuiltInRole' (or 'CustomRole', which selects nothing)
}

const roleTypeBuiltIn = "BuiltInRole"

// maxFilter bounds the length of a $filter, in bytes.
const maxFilter = 1024

var (
	filterPrincipalEq = regexp.MustCompile(`(?i)^principalId\s+eq\s+'([^']*)'$`)
	filterAssignedTo  = regexp.MustCompile(`(?i)^assignedTo\(\s*'([^']*)'\s*\)$`)
	filterAtScope     = regexp.MustCompile(`(?i)^atScope\(\s*\)$`)
	filterRoleName    = regexp.MustCompile(`(?i)^roleName\s+eq\s+'((?:[^']|'')*)'$`)
	filterType        = regexp.MustCompile(`(?i)^type\s+eq\s+'([^']*)'$`)
)

// ParseAssignmentFilter parses the $filter ARM accepts on role assignment lists: "atScope()",
// "principalId eq '{id}'", "assignedTo('{id}')" (the same as principalId while Lanyard has no
// groups), or atScope() and one of the others joined by "and". "" is no filter. Anything else is
// 400 InvalidQueryParameterValue with ARM's message.
func ParseAssignmentFilter(s string) (AssignmentFilter, error) {
	var f AssignmentFilter
	s = strings.TrimSpace(s)
	if s == "" {
		return f, nil
	}
	bad := arm.E(errs.Invalid, arm.CodeInvalidQueryParameterValue,
		"The filter '%s' is not supported. Supported filters are either 'atScope()' or 'principalId eq '{value}'' or 'assignedTo('{value}')'.", clip(s))
	if len(s) > maxFilter {
		return f, bad
	}
	for _, term := range splitAnd(s) {
		if filterAtScope.MatchString(term) && !f.AtScope {
			f.AtScope = true
			continue
		}
		m := filterPrincipalEq.FindStringSubmatch(term)
		if m == nil {
			m = filterAssignedTo.FindStringSubmatch(term)
		}
		if m == nil || f.PrincipalID != "" {
			return AssignmentFilter{}, bad
		}
		if !guid.Valid(m[1]) {
			return AssignmentFilter{}, arm.E(errs.Invalid, CodeInvalidPrincipalID,
				"The principal id '%s' in the filter is not a valid GUID.", clip(m[1]))
		}
		f.PrincipalID = strings.ToLower(m[1])
	}
	return f, nil
}

// ParseDefinitionFilter parses the $filter of role definition lists: "roleName eq '{name}'"
// (a quote in the name doubled), "type eq 'BuiltInRole'", or both joined by "and". "" is no
// filter; anything else is 400 InvalidQueryParameterValue.
func ParseDefinitionFilter(s string) (DefinitionFilter, error) {
	var f DefinitionFilter
	s = strings.TrimSpace(s)
	if s == "" {
		return f, nil
	}
	bad := arm.E(errs.Invalid, arm.CodeInvalidQueryParameterValue,
		"The filter '%s' is not supported. Supported filters are 'roleName eq '{value}'' and 'type eq '{value}''.", clip(s))
	if len(s) > maxFilter {
		return f, bad
	}
	for _, term := range splitAnd(s) {
		if m := filterRoleName.FindStringSubmatch(term); m != nil && f.RoleName == "" && m[1] != "" {
			f.RoleName = strings.ReplaceAll(m[1], "''", "'")
			continue
		}
		if m := filterType.FindStringSubmatch(term); m != nil && f.Type == "" && m[1] != "" {
			f.Type = m[1]
			continue
		}
		return DefinitionFilter{}, bad
	}
	return f, nil
}

// splitAnd splits a filter into its terms at " and " (any case, any run of spaces around it)
// outside quoted strings, trimming each term.
func splitAnd(s string) []string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' }
	var terms []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' {
			quoted = !quoted
		}
		if quoted || !isSpace(c) {
			continue
		}
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j+3 < len(s) && strings.EqualFold(s[j:j+3], "and") && isSpace(s[j+3]) {
			terms = append(terms, strings.TrimSpace(s[start:i]))
			k := j + 3
			for k < len(s) && isSpace(s[k]) {
				k++
			}
			start, i = k, k-1
		}
	}
	return append(terms, strings.TrimSpace(s[start:]))
}
