package compat

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestARMListPages: the management API pages its resource group and resource lists as ARM does
// ($top, then nextLink with a $skipToken), and the unmodified armresources pagers walk every
// page: each group and resource exactly once. A principal that may read only some groups sees
// those, page after page. Without $top a list is one answer (armmsi's pager, which has no $top).
func TestARMListPages(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	sub := managementAPI(t, env).SubscriptionID
	ctx := context.Background()
	_, cred := owner(t, env, sub)
	groups, err := armresources.NewResourceGroupsClient(sub, cred, armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 8 {
		name := fmt.Sprintf("Page-RG-%d", i)
		if _, err := groups.CreateOrUpdate(ctx, name, armresources.ResourceGroup{Location: to.Ptr("local")}, nil); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		want = append(want, name)
	}
	// Lists every group, counting pages and checking each page's size.
	list := func(c *armresources.ResourceGroupsClient, top int32) ([]string, int) {
		t.Helper()
		pager := c.NewListPager(&armresources.ResourceGroupsClientListOptions{Top: to.Ptr(top)})
		var names []string
		pages := 0
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("list groups, page %d: %v", pages+1, err)
			}
			pages++
			if len(page.Value) > int(top) {
				t.Errorf("page %d has %d groups, more than $top=%d", pages, len(page.Value), top)
			}
			for _, g := range page.Value {
				names = append(names, *g.Name)
			}
		}
		return names, pages
	}
	got, pages := list(groups, 3)
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("armresources pager with $top=3: %d pages of %v, want 3 pages of %v (in name order)", pages, got, want)
	}
	// The raw answer (through the admin socket, whose host is "admin"): nextLink is the request's
	// own URL, with $top and the api-version.
	var raw struct {
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"nextLink"`
	}
	admin(t, env, http.MethodGet, "/subscriptions/"+sub+"/resourcegroups?$top=5", client.APIVersionResourceGroups, nil, &raw)
	if len(raw.Value) != 5 || !strings.Contains(raw.NextLink, "/subscriptions/"+sub+"/resourcegroups?") ||
		!strings.Contains(raw.NextLink, "%24top=5") || !strings.Contains(raw.NextLink, "api-version=") || !strings.Contains(raw.NextLink, "%24skipToken=") {
		t.Errorf("first page of 5: %d groups, nextLink %q", len(raw.Value), raw.NextLink)
	}
	if code, body := getWith(t, env, mint(t, env, newApp(t, env, "bad-token", nil).ID, managementURI),
		"/subscriptions/"+sub+"/resourcegroups?$top=0&api-version="+client.APIVersionResourceGroups); code != http.StatusBadRequest || !strings.Contains(body, "$top must be") {
		t.Errorf("$top=0: %d %s", code, body)
	}

	// Resources of a group, through the generic list, two a page.
	ids, err := armmsi.NewUserAssignedIdentitiesClient(sub, cred, armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for i := range 5 {
		name := fmt.Sprintf("id-%d", i)
		if _, err := ids.CreateOrUpdate(ctx, "Page-RG-0", name, armmsi.Identity{Location: to.Ptr("local")}, nil); err != nil {
			t.Fatal(err)
		}
		wantIDs = append(wantIDs, name)
	}
	res, err := armresources.NewClient(sub, cred, armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	pager := res.NewListByResourceGroupPager("Page-RG-0", &armresources.ClientListByResourceGroupOptions{Top: to.Ptr[int32](2)})
	var gotIDs []string
	resPages := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resPages++
		for _, r := range page.Value {
			gotIDs = append(gotIDs, *r.Name)
		}
	}
	if !slices.Equal(gotIDs, wantIDs) || resPages != 3 {
		t.Errorf("resources of Page-RG-0 by 2: %d pages of %v, want 3 of %v", resPages, gotIDs, wantIDs)
	}
	// armmsi's pager (no $top): one answer with all of them.
	all := collect(t, ids.NewListByResourceGroupPager("Page-RG-0", nil), func(r armmsi.UserAssignedIdentitiesClientListByResourceGroupResponse) []*armmsi.Identity {
		return r.Value
	}, func(it *armmsi.Identity) string { return *it.Name })
	if !slices.Equal(all, wantIDs) {
		t.Errorf("armmsi list: %v", all)
	}

	// A Reader of three groups only: those three, one a page.
	reader := newApp(t, env, "rg-reader", nil)
	for _, g := range []string{"Page-RG-1", "Page-RG-4", "Page-RG-7"} {
		assignRole(t, env, sub, "/subscriptions/"+sub+"/resourceGroups/"+g, readerRoleID, reader.ID)
	}
	rgroups, err := armresources.NewResourceGroupsClient(sub, credential(mint(t, env, reader.ID, managementURI)), armOptions(env))
	if err != nil {
		t.Fatal(err)
	}
	if got, pages := list(rgroups, 1); !slices.Equal(got, []string{"Page-RG-1", "Page-RG-4", "Page-RG-7"}) || pages != 3 {
		t.Errorf("reader of three groups, by 1: %d pages of %v", pages, got)
	}
}
