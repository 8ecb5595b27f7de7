package arm

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// MaxIDLength bounds the length of a resource id Parse accepts, in bytes.
const MaxIDLength = 4096

// Kind says what an ID names.
type Kind int

// The kinds of ID.
const (
	KindRoot          Kind = iota // "/", the root scope above every subscription
	KindSubscription              // /subscriptions/{s}
	KindResourceGroup             // /subscriptions/{s}/resourceGroups/{g}
	KindResource                  // anything under .../providers/{ns}/{type}/{name}, at any level
)

func (k Kind) String() string {
	switch k {
	case KindRoot:
		return "root"
	case KindSubscription:
		return "subscription"
	case KindResourceGroup:
		return "resource group"
	case KindResource:
		return "resource"
	}
	return "kind(?)"
}

// block is one "providers/{namespace}/{type}/{name}[/{type}/{name}]..." part of an id: a resource
// and its child resources. A later block is an extension resource of the one before it (a role
// assignment on a site), or of the subscription or group when it is the first.
type block struct {
	ns    string
	types []string // the resource type, then child types
	names []string // one name per type
}

// ID is a parsed ARM resource id. It is a value: the zero ID is the root scope "/". Ids compare
// case-insensitively (Equal, Key, IsWithin) as ARM compares them; String keeps the casing the
// caller used for names, namespaces and types, and writes the keywords subscriptions,
// resourceGroups and providers in ARM's canonical casing.
type ID struct {
	str    string // canonical form; "" for the zero ID, which is the root
	key    string // strings.ToLower(str)
	sub    string // subscription GUID, lower case; "" for the root and tenant-level ids
	group  string // resource group name as given; "" when none
	blocks []block
}

// Root returns the root scope, "/".
func Root() ID { return ID{} }

// Parse parses and validates an ARM resource id:
//
//	/                                                        the root scope
//	/subscriptions/{s}                                       a subscription (s is a GUID)
//	/subscriptions/{s}/resourceGroups/{g}                    a resource group
//	/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}[/{childType}/{childName}]...
//	/subscriptions/{s}[/resourceGroups/{g}]/providers/{ns}/{type}/{name}  subscription- or group-level
//	{any of the above}/providers/{ns}/{type}/{name}         an extension resource (a role assignment)
//	/providers/{ns}/{type}/{name}                           a tenant-level resource (a role definition)
//
// Keywords are matched case-insensitively; one trailing "/" is ignored. Errors are errs.Invalid
// with an ARM code: InvalidResourceId for the structure, InvalidSubscriptionId,
// InvalidResourceGroup, InvalidResourceNamespace, InvalidResourceType and InvalidResourceName for
// a part that breaks ARM's naming rules.
func Parse(s string) (ID, error) {
	if len(s) > MaxIDLength {
		return ID{}, invalidID(s, "it is longer than %d characters", MaxIDLength)
	}
	if !strings.HasPrefix(s, "/") {
		return ID{}, invalidID(s, "it does not start with '/'")
	}
	rest := strings.TrimSuffix(s[1:], "/")
	if rest == "" {
		return ID{}, nil
	}
	segs := strings.Split(rest, "/")
	for _, seg := range segs {
		if seg == "" {
			return ID{}, invalidID(s, "it has an empty segment")
		}
	}
	var (
		sub, group string
		i          int
	)
	switch {
	case strings.EqualFold(segs[0], "subscriptions"):
		if len(segs) < 2 {
			return ID{}, invalidID(s, "it names no subscription")
		}
		if !guid.Valid(segs[1]) {
			return ID{}, E(errs.Invalid, CodeInvalidSubscriptionID,
				"The provided subscription identifier '%s' is malformed or invalid.", clip(segs[1]))
		}
		sub, i = strings.ToLower(segs[1]), 2
		if i < len(segs) && strings.EqualFold(segs[i], "resourceGroups") {
			if i+1 >= len(segs) {
				return ID{}, invalidID(s, "it names no resource group after 'resourceGroups'")
			}
			if err := ValidateResourceGroupName(segs[i+1]); err != nil {
				return ID{}, err
			}
			group, i = segs[i+1], i+2
		}
	case !strings.EqualFold(segs[0], "providers"):
		return ID{}, invalidID(s, "it starts with neither 'subscriptions' nor 'providers'")
	}
	var blocks []block
	for i < len(segs) {
		if !strings.EqualFold(segs[i], "providers") {
			return ID{}, invalidID(s, "'%s' is where 'providers' was expected", clip(segs[i]))
		}
		i++
		if i >= len(segs) {
			return ID{}, invalidID(s, "it names no resource provider namespace after 'providers'")
		}
		b := block{ns: segs[i]}
		if err := validateNamespace(b.ns); err != nil {
			return ID{}, err
		}
		i++
		for i < len(segs) && !strings.EqualFold(segs[i], "providers") {
			if i+1 >= len(segs) {
				return ID{}, invalidID(s, "resource type '%s' has no name", clip(segs[i]))
			}
			if err := validateType(segs[i]); err != nil {
				return ID{}, err
			}
			if err := ValidateResourceName(segs[i+1]); err != nil {
				return ID{}, err
			}
			b.types = append(b.types, segs[i])
			b.names = append(b.names, segs[i+1])
			i += 2
		}
		if len(b.types) == 0 {
			return ID{}, invalidID(s, "namespace '%s' is followed by no resource type and name", clip(b.ns))
		}
		blocks = append(blocks, b)
	}
	return build(sub, group, blocks), nil
}

// MustParse is Parse for ids known to be valid (constants, tests); it panics on an error.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return id
}

func invalidID(id, why string, args ...any) *errs.Error {
	return E(errs.Invalid, CodeInvalidResourceID,
		"The resource id '%s' is invalid: %s. Expected a fully qualified resource id that starts with "+
			"'/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'.",
		clip(id), sprintf(why, args...))
}

// build makes an ID from its parts, computing its canonical form once.
func build(sub, group string, blocks []block) ID {
	if sub == "" && len(blocks) == 0 {
		return ID{}
	}
	var b strings.Builder
	if sub != "" {
		b.WriteString("/subscriptions/")
		b.WriteString(sub)
		if group != "" {
			b.WriteString("/resourceGroups/")
			b.WriteString(group)
		}
	}
	for _, bl := range blocks {
		b.WriteString("/providers/")
		b.WriteString(bl.ns)
		for j := range bl.types {
			b.WriteByte('/')
			b.WriteString(bl.types[j])
			b.WriteByte('/')
			b.WriteString(bl.names[j])
		}
	}
	s := b.String()
	return ID{str: s, key: strings.ToLower(s), sub: sub, group: group, blocks: blocks}
}

// String returns the canonical form of id ("/" for the root).
func (id ID) String() string {
	if id.str == "" {
		return "/"
	}
	return id.str
}

// Canonical is String: the keywords in ARM's casing, everything else as the caller wrote it
// (subscription ids in lower case).
func (id ID) Canonical() string { return id.String() }

// Key returns the lower-cased canonical form: two ids are the same resource exactly when their
// keys are equal.
func (id ID) Key() string {
	if id.key == "" {
		return "/"
	}
	return id.key
}

// Equal reports whether id and o name the same resource, ignoring case as ARM does.
func (id ID) Equal(o ID) bool { return id.key == o.key }

// IsRoot reports whether id is the root scope "/".
func (id ID) IsRoot() bool { return id.str == "" }

// IsWithin reports whether id is scope or lies below it: every id is within the root, a
// resource group is within its subscription, a resource within its group, a child or extension
// resource within its parent. Case is ignored.
func (id ID) IsWithin(scope ID) bool {
	return KeyWithin(id.key, scope.key)
}

// KeyWithin is IsWithin on keys (ID.Key, or "" for the root), for callers that keep scopes as
// lower-cased strings, such as the store.
func KeyWithin(key, scopeKey string) bool {
	if scopeKey == "" || scopeKey == "/" {
		return true
	}
	return strings.HasPrefix(key, scopeKey) && (len(key) == len(scopeKey) || key[len(scopeKey)] == '/')
}

// Kind says what id names.
func (id ID) Kind() Kind {
	switch {
	case len(id.blocks) > 0:
		return KindResource
	case id.group != "":
		return KindResourceGroup
	case id.sub != "":
		return KindSubscription
	}
	return KindRoot
}

// SubscriptionID returns the subscription GUID of id in lower case, or "" for the root and
// tenant-level ids.
func (id ID) SubscriptionID() string { return id.sub }

// ResourceGroupName returns the resource group of id as written, or "".
func (id ID) ResourceGroupName() string { return id.group }

// Namespace returns the resource provider namespace of a resource ("Microsoft.Web"); for a
// subscription or a resource group, "Microsoft.Resources"; for the root, "".
func (id ID) Namespace() string {
	switch id.Kind() {
	case KindResource:
		return id.blocks[len(id.blocks)-1].ns
	case KindRoot:
		return ""
	}
	return "Microsoft.Resources"
}

// ResourceType returns the full type of id: "Microsoft.Web/sites", "Microsoft.Web/sites/slots",
// "Microsoft.Authorization/roleAssignments", "Microsoft.Resources/resourceGroups",
// "Microsoft.Resources/subscriptions"; "" for the root.
func (id ID) ResourceType() string {
	switch id.Kind() {
	case KindResource:
		last := id.blocks[len(id.blocks)-1]
		return last.ns + "/" + strings.Join(last.types, "/")
	case KindResourceGroup:
		return "Microsoft.Resources/resourceGroups"
	case KindSubscription:
		return "Microsoft.Resources/subscriptions"
	}
	return ""
}

// Name returns the last name in id: the resource's name, the group's, the subscription GUID; ""
// for the root.
func (id ID) Name() string {
	switch id.Kind() {
	case KindResource:
		last := id.blocks[len(id.blocks)-1]
		return last.names[len(last.names)-1]
	case KindResourceGroup:
		return id.group
	case KindSubscription:
		return id.sub
	}
	return ""
}

// Parent returns the id one level up: a child resource's parent resource, a top-level resource's
// scope (its group, subscription, or, for an extension resource, the resource it extends), a
// group's subscription, a subscription's root. The root is its own parent.
func (id ID) Parent() ID {
	switch id.Kind() {
	case KindResource:
		blocks := id.blocks[:len(id.blocks)-1]
		last := id.blocks[len(id.blocks)-1]
		if n := len(last.types); n > 1 {
			blocks = append(blocks[:len(blocks):len(blocks)], block{ns: last.ns, types: last.types[:n-1], names: last.names[:n-1]})
		}
		return build(id.sub, id.group, blocks)
	case KindResourceGroup:
		return build(id.sub, "", nil)
	}
	return ID{}
}

// Scope returns the scope a resource lives at: id without its last providers/... part. For a
// resource or child resource in a group, the group; for a role assignment on a site, the site.
// For a subscription, group or the root it is Parent.
func (id ID) Scope() ID {
	if id.Kind() != KindResource {
		return id.Parent()
	}
	return build(id.sub, id.group, id.blocks[:len(id.blocks)-1:len(id.blocks)-1])
}

// ValidateResourceGroupName checks ARM's rule for resource group names: 1 to 90 letters, digits,
// '-', '.', '(', ')' or '_' (letters and digits in any script), not ending in '.'. The error is
// errs.Invalid, code InvalidResourceGroup.
func ValidateResourceGroupName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 90 || !utf8.ValidString(name) {
		return E(errs.Invalid, CodeInvalidResourceGroup,
			"The provided resource group name '%s' must be 1 to 90 characters long.", clip(name))
	}
	var bad []rune
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("-._()", r) && !containsRune(bad, r) {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return E(errs.Invalid, CodeInvalidResourceGroup,
			"The provided resource group name '%s' has these invalid characters: '%s'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.",
			clip(name), printable(string(bad)))
	}
	if strings.HasSuffix(name, ".") {
		return E(errs.Invalid, CodeInvalidResourceGroup,
			"The provided resource group name '%s' ends with '.'; a resource group name cannot end with a period.", clip(name))
	}
	return nil
}

// forbiddenInNames are the characters ARM refuses in resource names of every type.
const forbiddenInNames = `<>%&:\?#/`

// ValidateResourceName checks the rule ARM applies to the names of every resource type: 1 to 260
// characters, none of them a control character or one of < > % & : \ ? # /, not ending in '.'
// or ' '. Types have stricter rules of their own, which their domains check. The error is
// errs.Invalid, code InvalidResourceName.
func ValidateResourceName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 260 || !utf8.ValidString(name) {
		return E(errs.Invalid, CodeInvalidResourceName,
			"The resource name '%s' is invalid: it must be 1 to 260 characters long.", clip(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) || strings.ContainsRune(forbiddenInNames, r) {
			return E(errs.Invalid, CodeInvalidResourceName,
				"The resource name '%s' is invalid: it must not contain control characters or any of '%s'.", clip(name), forbiddenInNames)
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return E(errs.Invalid, CodeInvalidResourceName,
			"The resource name '%s' is invalid: it must not end with '.' or a space.", clip(name))
	}
	return nil
}

// validateNamespace checks a resource provider namespace: 1 to 128 ASCII letters, digits and
// dots, starting with a letter, with no empty part between dots ("Microsoft.Web").
func validateNamespace(ns string) error {
	ok := len(ns) <= 128 && isASCIILetter(ns[0]) && !strings.HasSuffix(ns, ".") && !strings.Contains(ns, "..")
	for i := 0; ok && i < len(ns); i++ {
		ok = isASCIILetter(ns[i]) || isASCIIDigit(ns[i]) || ns[i] == '.'
	}
	if !ok {
		return E(errs.Invalid, CodeInvalidResourceNamespace, "The resource namespace '%s' is invalid.", clip(ns))
	}
	return nil
}

// validateType checks one resource type segment: 1 to 128 ASCII letters and digits, starting
// with a letter ("sites", "userAssignedIdentities").
func validateType(t string) error {
	ok := len(t) <= 128 && isASCIILetter(t[0])
	for i := 0; ok && i < len(t); i++ {
		ok = isASCIILetter(t[i]) || isASCIIDigit(t[i])
	}
	if !ok {
		return E(errs.Invalid, CodeInvalidResourceType, "The resource type '%s' is invalid.", clip(t))
	}
	return nil
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isASCIIDigit(c byte) bool  { return '0' <= c && c <= '9' }

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}
