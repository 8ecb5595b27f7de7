package resources

import (
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// identityKinds says which identities a type's identity property may carry.
type identityKinds int

const (
	identityNone       identityKinds = iota // no identity property
	identitySystemOnly                      // SystemAssigned only (Arc machines)
	identityAny                             // SystemAssigned and UserAssigned
)

// Type is a resource type the management API serves.
type Type struct {
	Name     string   // ARM's casing: "Microsoft.Web/sites"
	Versions []string // the api-versions Azure publishes for it, accepted on its routes
	identity identityKinds
	name     *regexp.Regexp // the type's naming rule
	nameRule string         // the rule in words, for the error message
	minLen   int
	maxLen   int
	// createdOK: a PUT that creates answers 200, not 201. App Service's API does (its
	// CreateOrUpdate answers 200 or 202, and clients generated from it refuse a 201).
	createdOK bool
}

// PutStatus is the status of a successful PUT or PATCH: 201 when it created the resource,
// unless the type's API answers 200 then too.
func (t *Type) PutStatus(created bool) int {
	if created && !t.createdOK {
		return http.StatusCreated
	}
	return http.StatusOK
}

// Key returns the type in lower case.
func (t *Type) Key() string { return strings.ToLower(t.Name) }

// Action returns the ARM action for verb ("read", "write", "delete") on the type.
func (t *Type) Action(verb string) string { return t.Name + "/" + verb }

// The types, by the names of Types.
const (
	TypeSite         = "Microsoft.Web/sites"
	TypeMachine      = "Microsoft.HybridCompute/machines"
	TypeUserAssigned = "Microsoft.ManagedIdentity/userAssignedIdentities"
	TypeVault        = "Microsoft.KeyVault/vaults"
	TypeGroup        = "Microsoft.Resources/resourceGroups"
	TypeSubscription = "Microsoft.Resources/subscriptions"
)

// Actions on subscriptions and resource groups, and the linked action attaching a user-assigned
// identity needs on it.
const (
	ActionSubscriptionRead   = "Microsoft.Resources/subscriptions/read"
	ActionGroupRead          = "Microsoft.Resources/subscriptions/resourceGroups/read"
	ActionGroupWrite         = "Microsoft.Resources/subscriptions/resourceGroups/write"
	ActionGroupDelete        = "Microsoft.Resources/subscriptions/resourceGroups/delete"
	ActionAssignIdentity     = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
	ActionAccessPolicesWrite = "Microsoft.KeyVault/vaults/accessPolicies/write"
)

// The api-versions Azure publishes, per type (Azure's "resource types and versions" reference
// pages, 2026). Microsoft.Resources' cover resource groups and the /resources lists; the
// subscription routes take those and the subscription API's own.
var (
	webVersions = []string{
		"2015-08-01", "2016-03-01", "2016-08-01", "2018-02-01", "2018-11-01", "2019-08-01", "2020-06-01",
		"2020-09-01", "2020-10-01", "2020-12-01", "2021-01-01", "2021-01-15", "2021-02-01", "2021-03-01",
		"2022-03-01", "2022-09-01", "2023-01-01", "2023-12-01", "2024-04-01", "2024-11-01", "2025-03-01",
	}
	hybridComputeVersions = []string{
		"2019-03-18-preview", "2019-08-02-preview", "2019-12-12", "2020-07-30-preview", "2020-08-02",
		"2020-08-15-preview", "2021-01-28-preview", "2021-03-25-preview", "2021-04-22-preview",
		"2021-05-17-preview", "2021-05-20", "2021-06-10-preview", "2021-12-10-preview", "2022-03-10",
		"2022-05-10-preview", "2022-08-11-preview", "2022-11-10", "2022-12-27-preview", "2022-12-27",
		"2023-03-15-preview", "2023-06-20-preview", "2023-10-03-preview", "2024-03-31-preview",
		"2024-05-20-preview", "2024-07-10", "2024-07-31-preview", "2024-09-10-preview",
		"2024-11-10-preview", "2025-01-13", "2025-02-19-preview", "2025-06-01", "2025-08-21-preview",
		"2025-09-16-preview",
	}
	msiVersions = []string{
		"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31",
		"2023-07-31-preview", "2024-11-30", "2025-01-31-preview",
	}
	keyVaultVersions = []string{
		"2015-06-01", "2016-10-01", "2018-02-14-preview", "2018-02-14", "2019-09-01", "2020-04-01-preview",
		"2021-04-01-preview", "2021-06-01-preview", "2021-10-01", "2021-11-01-preview", "2022-02-01-preview",
		"2022-07-01", "2022-11-01", "2023-02-01", "2023-07-01", "2024-11-01", "2024-12-01-preview", "2025-05-01",
	}
	// ResourcesVersions are Microsoft.Resources' (resource groups, /resources).
	ResourcesVersions = []string{
		"2015-11-01", "2016-02-01", "2016-06-01", "2016-07-01", "2016-09-01", "2017-05-10", "2018-02-01",
		"2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-07-01", "2019-08-01", "2019-10-01",
		"2020-06-01", "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-09-01", "2023-07-01",
		"2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01",
	}
	// SubscriptionVersions are the subscription API's, plus Microsoft.Resources'.
	SubscriptionVersions = append([]string{
		"2014-04-01-preview", "2015-01-01", "2018-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2022-12-01",
	}, ResourcesVersions...)
)

var (
	alnumHyphen = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	msiName     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
	machineName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]*[a-zA-Z0-9_-])?$`)
	vaultName   = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
)

// Types are the resource types the management API serves.
var Types = []*Type{
	{Name: TypeSite, Versions: webVersions, identity: identityAny, name: alnumHyphen, minLen: 2, maxLen: 60,
		nameRule: "2 to 60 letters, digits and hyphens, starting and ending with a letter or a digit", createdOK: true},
	{Name: TypeMachine, Versions: hybridComputeVersions, identity: identitySystemOnly, name: machineName, minLen: 1, maxLen: 63,
		nameRule: "1 to 63 letters, digits, '-', '_' and '.', starting with a letter or a digit and not ending with '.'"},
	{Name: TypeUserAssigned, Versions: msiVersions, identity: identityNone, name: msiName, minLen: 3, maxLen: 128,
		nameRule: "3 to 128 letters, digits, '-' and '_', starting with a letter or a digit"},
	{Name: TypeVault, Versions: keyVaultVersions, identity: identityNone, name: vaultName, minLen: 3, maxLen: 24,
		nameRule: "3 to 24 letters, digits and hyphens, starting with a letter, ending with a letter or a digit, without consecutive hyphens"},
}

// TypeOf returns the Type named name (any case), or nil.
func TypeOf(name string) *Type {
	for _, t := range Types {
		if strings.EqualFold(t.Name, name) {
			return t
		}
	}
	return nil
}

// checkName checks a resource name against its type's rule.
func (t *Type) checkName(name string) error {
	n := utf8.RuneCountInString(name)
	ok := n >= t.minLen && n <= t.maxLen && t.name.MatchString(name)
	if ok && t.Name == TypeVault && strings.Contains(name, "--") {
		ok = false
	}
	if !ok {
		if t.Name == TypeVault {
			return arm.E(errs.Invalid, CodeVaultNameNotValid,
				"The vault name '%s' is invalid. A vault's name must be between 3-24 alphanumeric characters. "+
					"The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.", clip(name))
		}
		return arm.E(errs.Invalid, arm.CodeInvalidResourceName,
			"The resource name '%s' is invalid for type '%s': it must be %s.", clip(name), t.Name, t.nameRule)
	}
	return nil
}

// invalidType is ARM's answer for a resource type it does not know.
func invalidType(ns, typ string) error {
	return arm.E(errs.Invalid, CodeInvalidResourceType,
		"The resource type '%s' could not be found in the namespace '%s'.", clip(typ), clip(ns))
}

// ARM error codes of this domain.
const (
	CodeInvalidResourceType          = "InvalidResourceType"
	CodeLinkedAuthorizationFailed    = "LinkedAuthorizationFailed"
	CodeVaultAlreadyExists           = "VaultAlreadyExists"
	CodeVaultNameNotValid            = "VaultNameNotValid"
	CodeInvalidResourceGroupLocation = "InvalidResourceGroupLocation"
	CodeInvalidIdentity              = "InvalidIdentity"
	CodeMethodNotAllowed             = "MethodNotAllowed"
)
