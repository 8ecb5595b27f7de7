package rbac

import "strings"

// Tokens of a compiled pattern besides literal bytes.
const (
	tokStar    = -1 // '*': any run of characters, '/' included, possibly empty
	tokSegStar = -2 // "*/" after a '/': nothing, or any run of characters ending in '/'
)

// pattern is an action pattern compiled for MatchAction's rules: lower case, one token per byte.
type pattern struct {
	tok []int16
	all bool // the pattern is "*"
}

func compile(p string) pattern {
	p = strings.ToLower(p)
	if p == "*" {
		return pattern{all: true}
	}
	tok := make([]int16, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*' && i > 0 && p[i-1] == '/' && i+1 < len(p) && p[i+1] == '/':
			tok = append(tok, tokSegStar)
			i++ // the '/' after the star belongs to it
		case c == '*':
			tok = append(tok, tokStar)
		default:
			tok = append(tok, int16(c))
		}
	}
	return pattern{tok: tok}
}

func compileAll(ps []string) []pattern {
	out := make([]pattern, len(ps))
	for i, p := range ps {
		out[i] = compile(p)
	}
	return out
}

// MatchAction reports whether action matches pattern with ARM's rules for the actions,
// notActions, dataActions and notDataActions of role definitions: case is ignored; '*' matches
// any run of characters, '/' included, possibly none ("*" matches everything, "*/read" every read
// action, "Microsoft.KeyVault/vaults/*" everything under vaults); and a '*' that is a whole
// segment, "/*/", may also stand for no segment at all, so that
// "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action" matches
// "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action" and
// "Microsoft.KeyVault/vaults/*/read" matches "Microsoft.KeyVault/vaults/read", as they do in Azure
// (Managed Identity Operator may assign identities; Key Vault Reader may read vaults).
func MatchAction(pattern, action string) bool {
	return compile(pattern).match(strings.ToLower(action))
}

// match reports whether the lower-cased s matches p. It runs in O(len(p)·len(s)) at worst:
// like the classic glob matcher it only ever backtracks to the last star seen, which is enough
// because a star can absorb whatever an earlier star could have (a segment star always follows a
// literal '/', so what it would have to absorb ends in '/').
func (p pattern) match(s string) bool {
	if p.all {
		return true
	}
	t := p.tok
	ti, si := 0, 0
	starT, starS, seg := -1, 0, false
	for si < len(s) {
		if ti < len(t) {
			switch tk := t[ti]; {
			case tk == tokStar || tk == tokSegStar:
				starT, starS, seg = ti, si, tk == tokSegStar
				ti++
				continue
			case byte(tk) == s[si]:
				ti++
				si++
				continue
			}
		}
		if starT < 0 {
			return false
		}
		if seg {
			k := strings.IndexByte(s[starS:], '/')
			if k < 0 {
				return false
			}
			starS += k + 1
		} else {
			starS++
		}
		si, ti = starS, starT+1
	}
	for ti < len(t) && (t[ti] == tokStar || t[ti] == tokSegStar) {
		ti++
	}
	return ti == len(t)
}

func anyMatch(ps []pattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}
