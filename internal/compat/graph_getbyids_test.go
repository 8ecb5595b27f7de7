package compat

import (
	"context"
	"slices"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/directoryobjects"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestGraphSDKGetByIdsAndStartswith: msgraph-sdk-go's directoryObjects.getByIds resolves ids to
// typed objects (service principals, an application), and its servicePrincipals list with
// $filter=startswith(displayName,…) finds names without regard to case, page after page.
func TestGraphSDKGetByIdsAndStartswith(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	graphSP := builtin(t, env, graphAppID)
	reader := newApp(t, env, "reader", nil)
	grant(t, env, reader, graphSP, "Application.Read.All")
	var want []string
	for _, name := range []string{"Search-One", "search-two", "SEARCH-three", "other"} {
		s := newApp(t, env, name, nil)
		if name != "other" {
			want = append(want, s.ID)
		}
	}
	c := newGraphClient(t, env, mint(t, env, reader.ID, graphURI))

	body := directoryobjects.NewGetByIdsPostRequestBody()
	body.SetIds(append(slices.Clone(want), "6f5e4d3c-2b1a-4098-8765-43210fedcba9"))
	body.SetTypes([]string{"servicePrincipal"})
	got, err := c.DirectoryObjects().GetByIds().PostAsGetByIdsPostResponse(ctx, body, nil)
	if err != nil {
		t.Fatalf("POST directoryObjects/getByIds: %v (%s)", err, odataCode(err))
	}
	var ids []string
	for _, o := range got.GetValue() {
		sp, ok := o.(models.ServicePrincipalable)
		if !ok {
			t.Fatalf("getByIds gave a %T, want a service principal", o)
		}
		ids = append(ids, *sp.GetId())
		if sp.GetDisplayName() == nil || sp.GetAppId() == nil {
			t.Errorf("service principal %s without its properties", *sp.GetId())
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("getByIds: %v, want %v", ids, want)
	}

	filter, top := "startswith(displayName,'sEaRcH-')", int32(2)
	var found []string
	page, err := c.ServicePrincipals().Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &filter, Top: &top},
	})
	for pages := 1; ; pages++ {
		if err != nil {
			t.Fatalf("list servicePrincipals %s, page %d: %v (%s)", filter, pages, err, odataCode(err))
		}
		for _, sp := range page.GetValue() {
			found = append(found, *sp.GetId())
		}
		next := page.GetOdataNextLink()
		if next == nil {
			break
		}
		page, err = c.ServicePrincipals().WithUrl(*next).Get(ctx, nil)
	}
	slices.Sort(found)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Errorf("startswith by 2 a page: %v, want %v", found, want)
	}
}
