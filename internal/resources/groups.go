package resources

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// GroupInput is the body of a resource group PUT or PATCH: nil fields are not given.
type GroupInput struct {
	Location  *string
	Tags      map[string]string
	TagsGiven bool
	ManagedBy *string
}

func groupNotFound(name string) error {
	return arm.E(errs.NotFound, arm.CodeResourceGroupNotFound, "Resource group '%s' could not be found.", clip(name))
}

// groupScope checks the subscription and the group name and returns the group's id.
func (s *Service) groupScope(ctx context.Context, tenantID, subID, name string) (arm.ID, error) {
	sub, err := s.subscription(ctx, tenantID, subID)
	if err != nil {
		return arm.ID{}, err
	}
	if err := arm.ValidateResourceGroupName(name); err != nil {
		return arm.ID{}, err
	}
	return arm.MustParse("/subscriptions/" + sub.ID + "/resourceGroups/" + name), nil
}

// PutGroup creates or updates a resource group (PUT), or updates one (patch: PATCH, which needs
// it to exist). A group's location cannot change.
func (s *Service) PutGroup(ctx context.Context, p authn.Principal, tenantID, subID, name string, in GroupInput, patch bool) (g Group, created bool, err error) {
	scope, err := s.groupScope(ctx, tenantID, subID, name)
	if err != nil {
		return Group{}, false, err
	}
	if err := s.Access.Check(ctx, p, tenantID, ActionGroupWrite, scope); err != nil {
		return Group{}, false, err
	}
	defer func() { err = s.recordWrite(ctx, p, "resourcegroup.write", scope.String(), "", err) }()
	old, err := s.Store.GetResourceGroup(ctx, tenantID, scope.SubscriptionID(), name)
	exists := err == nil
	switch {
	case err != nil && !errs.Is(err, errs.NotFound):
		return Group{}, false, err
	case !exists && patch:
		return Group{}, false, groupNotFound(name)
	}
	g = Group{TenantID: tenantID, SubscriptionID: scope.SubscriptionID(), Name: name, Location: DefaultLocation, Created: s.now()}
	if exists {
		g = old
		if !patch {
			g.Tags, g.ManagedBy = nil, ""
		}
	}
	if in.Location != nil {
		loc, err := normalizeLocation(*in.Location)
		if err != nil {
			return Group{}, false, err
		}
		if exists && loc != old.Location {
			return Group{}, false, arm.E(errs.Conflict, CodeInvalidResourceGroupLocation,
				"Invalid resource group location '%s'. The Resource group already exists in location '%s'.", clip(*in.Location), old.Location)
		}
		g.Location = loc
	}
	if in.TagsGiven {
		if err := checkTags(in.Tags); err != nil {
			return Group{}, false, err
		}
		g.Tags = in.Tags
	}
	if in.ManagedBy != nil {
		g.ManagedBy = *in.ManagedBy
	}
	created, err = s.Store.PutResourceGroup(ctx, g)
	if err != nil {
		return Group{}, false, err
	}
	if !created && !exists { // another request created it meanwhile
		g, err = s.Store.GetResourceGroup(ctx, tenantID, g.SubscriptionID, name)
	}
	return g, created, err
}

// GetGroup returns a resource group p may read.
func (s *Service) GetGroup(ctx context.Context, p authn.Principal, tenantID, subID, name string) (Group, error) {
	scope, err := s.groupScope(ctx, tenantID, subID, name)
	if err != nil {
		return Group{}, err
	}
	if err := s.Access.Check(ctx, p, tenantID, ActionGroupRead, scope); err != nil {
		return Group{}, err
	}
	g, err := s.Store.GetResourceGroup(ctx, tenantID, scope.SubscriptionID(), name)
	if errs.Is(err, errs.NotFound) {
		return Group{}, groupNotFound(name)
	}
	return g, err
}

// ListGroups returns the resource groups of a subscription that p may read: all of them when p
// may read groups at the subscription, else those p may read one by one (403 when none). With
// pg.Top, one page of them in name order after pg.After, and the key to continue after ("" at
// the end).
func (s *Service) ListGroups(ctx context.Context, p authn.Principal, tenantID, subID string, pg arm.Paging) ([]Group, string, error) {
	sub, err := s.subscription(ctx, tenantID, subID)
	if err != nil {
		return nil, "", err
	}
	scope := arm.MustParse("/subscriptions/" + sub.ID)
	all, err := s.allowed(ctx, p, tenantID, ActionGroupRead, scope)
	if err != nil {
		return nil, "", err
	}
	out, next, err := pageOf(pg, func(after string, n int) ([]Group, error) {
		return s.Store.ListResourceGroups(ctx, tenantID, sub.ID, after, n)
	}, func(g Group) string { return strings.ToLower(g.Name) }, func(g Group) (bool, error) {
		if all {
			return true, nil
		}
		return s.allowed(ctx, p, tenantID, ActionGroupRead, arm.MustParse(g.ID()))
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) == 0 && !all && pg.After == "" {
		return nil, "", s.Access.Check(ctx, p, tenantID, ActionGroupRead, scope)
	}
	return out, next, nil
}

// pageOf reads a list through fetch (keyset pages after a key, n at most, 0 for all) and keeps
// the items keep accepts: all of them without pg.Top, else pg.Top of them after pg.After, reading
// on until the page is full or the list ends, and the key of the last one when there are more.
func pageOf[T any](pg arm.Paging, fetch func(after string, n int) ([]T, error), key func(T) string, keep func(T) (bool, error)) ([]T, string, error) {
	batch := 0
	if pg.Top > 0 {
		batch = pg.Top + 1
	}
	var out []T
	after := pg.After
	for {
		items, err := fetch(after, batch)
		if err != nil {
			return nil, "", err
		}
		for _, it := range items {
			ok, err := keep(it)
			if err != nil {
				return nil, "", err
			}
			if ok {
				out = append(out, it)
			}
		}
		if batch == 0 || len(items) < batch || len(out) > pg.Top {
			break
		}
		after = key(items[len(items)-1])
	}
	if pg.Top > 0 && len(out) > pg.Top {
		out = out[:pg.Top]
		return out, key(out[len(out)-1]), nil
	}
	return out, "", nil
}

// DeleteGroup deletes a resource group and everything in it, in one transaction: its resources,
// their system-assigned identities and the user-assigned identities it holds (with all their
// assignments and access policies), and the role assignments at or below it. Resources elsewhere
// that held one of its user-assigned identities are detached from it.
func (s *Service) DeleteGroup(ctx context.Context, p authn.Principal, tenantID, subID, name string) (err error) {
	scope, err := s.groupScope(ctx, tenantID, subID, name)
	if err != nil {
		return err
	}
	if err := s.Access.Check(ctx, p, tenantID, ActionGroupDelete, scope); err != nil {
		return err
	}
	defer func() { err = s.recordWrite(ctx, p, "resourcegroup.delete", scope.String(), "", err) }()
	err = s.Store.DeleteResourceGroup(ctx, tenantID, scope.SubscriptionID(), name)
	if errs.Is(err, errs.NotFound) {
		return groupNotFound(name)
	}
	return err
}

// normalizeLocation returns ARM's form of a location name: lower case without spaces
// ("West US" is "westus").
func normalizeLocation(loc string) (string, error) {
	l := strings.ToLower(strings.ReplaceAll(loc, " ", ""))
	if l == "" || len(l) > 64 {
		return "", arm.E(errs.Invalid, "LocationRequired", "The location '%s' is not valid: it must be 1 to 64 characters.", clip(loc))
	}
	for _, c := range l {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", arm.E(errs.Invalid, "LocationNotAvailableForResourceType", "The location '%s' is not valid: use letters, digits, '-' and '_'.", clip(loc))
		}
	}
	return l, nil
}

// ARM's limits on tags.
const (
	maxTags        = 50
	maxTagName     = 512
	maxTagValue    = 256
	forbiddenInTag = `<>%&\?/`
)

// checkTags applies ARM's rules for tags.
func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return arm.E(errs.Invalid, "InvalidTagNameCharacters", "At most %d tags are allowed.", maxTags)
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n == 0 || n > maxTagName || strings.ContainsAny(k, forbiddenInTag) {
			return arm.E(errs.Invalid, "InvalidTagNameCharacters",
				"The tag name '%s' is not valid: 1 to %d characters, none of '%s'.", clip(k), maxTagName, forbiddenInTag)
		}
		if utf8.RuneCountInString(v) > maxTagValue {
			return arm.E(errs.Invalid, "InvalidTagValueLength", "The value of tag '%s' is longer than %d characters.", clip(k), maxTagValue)
		}
	}
	return nil
}
