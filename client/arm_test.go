package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lanyardhq/lanyard/client"
)

const testSub = "3f2e1d0c-9b8a-4766-8554-433221100fed"

// armServer is a stand-in management API: a paged identity list, a subscription list, a site
// whose PUT and DELETE run as asynchronous operations, and ARM's error shape. It records every
// request's path and query.
type armServer struct {
	mu    sync.Mutex
	reqs  []string
	polls int
}

func (s *armServer) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r.Method+" "+r.URL.RequestURI())
}

func newARMServer(t *testing.T) (*client.Client, *armServer) {
	s := &armServer{}
	const uai = "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
	const site = "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Web/sites/web"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		if r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":"MissingApiVersionParameter","message":"The api-version query parameter (?api-version=) is required for all requests."}}`)
			return
		}
		switch {
		case r.URL.Path == "/subscriptions":
			fmt.Fprintf(w, `{"value":[{"id":"/subscriptions/%s","subscriptionId":"%s","tenantId":"t","displayName":"Default","state":"Enabled"}]}`, testSub, testSub)
		case r.URL.Path == uai:
			skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
			var page []client.Resource
			for i := skip; i < 7 && i < skip+3; i++ {
				page = append(page, client.Resource{Name: fmt.Sprintf("id%d", i)})
			}
			body := map[string]any{"value": page}
			switch {
			case skip+3 >= 7:
			case skip == 0: // ARM's nextLink: absolute, on the public URL, api-version included
				body["nextLink"] = fmt.Sprintf("https://localhost:8443%s?api-version=2023-01-31&$skiptoken=%d", uai, skip+3)
			default: // one without api-version: the client adds it
				body["nextLink"] = fmt.Sprintf("https://localhost:8443%s?$skiptoken=%d", uai, skip+3)
			}
			json.NewEncoder(w).Encode(body)
		case r.URL.Path == site && r.Method == http.MethodPut:
			w.Header().Set("Azure-AsyncOperation", "https://localhost:8443/operations/put?api-version=2022-09-01")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"name":"web","properties":{"state":"Creating"}}`)
		case r.URL.Path == site && r.Method == http.MethodGet:
			fmt.Fprint(w, `{"name":"web","properties":{"state":"Running"}}`)
		case r.URL.Path == site && r.Method == http.MethodDelete:
			w.Header().Set("Location", "https://localhost:8443/operations/delete?api-version=2022-09-01")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusAccepted)
		case r.URL.Path == "/operations/put":
			s.mu.Lock()
			s.polls++
			n := s.polls
			s.mu.Unlock()
			w.Header().Set("Retry-After", "0")
			if n < 2 {
				fmt.Fprint(w, `{"status":"InProgress"}`)
				return
			}
			fmt.Fprint(w, `{"status":"Succeeded"}`)
		case r.URL.Path == "/operations/delete":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/operations/failed":
			fmt.Fprint(w, `{"status":"Failed","error":{"code":"Conflict","message":"the site is busy"}}`)
		case r.URL.Path == "/subscriptions/"+testSub+"/resourceGroups/failing":
			w.Header().Set("Azure-AsyncOperation", "/operations/failed?api-version=2021-04-01")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":"ResourceGroupNotFound","message":"Resource group '%s' could not be found."}}`, r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return &client.Client{BaseURL: srv.URL, HTTP: srv.Client()}, s
}

func TestARMListFollowsNextLink(t *testing.T) {
	c, s := newARMServer(t)
	var got []client.Resource
	path := client.ResourcePath(testSub, "rg", client.TypeIdentities, "")
	if err := c.ARM(context.Background(), http.MethodGet, path, client.APIVersionIdentities, nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || got[0].Name != "id0" || got[6].Name != "id6" {
		t.Fatalf("got %+v", got)
	}
	for _, r := range s.reqs {
		if strings.Count(r, "api-version=") != 1 {
			t.Errorf("request %s: want exactly one api-version", r)
		}
	}
	if len(s.reqs) != 3 {
		t.Fatalf("requests: %v", s.reqs)
	}
}

func TestARMAPIVersion(t *testing.T) {
	c, s := newARMServer(t)
	ctx := context.Background()
	var subs []client.Subscription
	if err := c.ARM(ctx, http.MethodGet, "/subscriptions?$top=5", "2022-12-01", nil, &subs); err != nil {
		t.Fatal(err)
	}
	if err := c.ARM(ctx, http.MethodGet, "https://lanyard.example.com/subscriptions?api-version=2020-01-01", "2022-12-01", nil, &subs); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /subscriptions?$top=5&api-version=2022-12-01", "GET /subscriptions?api-version=2020-01-01"}
	if strings.Join(s.reqs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(s.reqs, "\n"), strings.Join(want, "\n"))
	}
	// Without an api-version the server's error comes back in ARM's shape.
	err := c.ARM(ctx, http.MethodGet, "/subscriptions", "", nil, &subs)
	if e, ok := err.(*client.Error); !ok || e.Status != 400 || e.Code != "MissingApiVersionParameter" {
		t.Fatalf("%#v", err)
	}
	if err := c.ARM(ctx, http.MethodGet, "subscriptions", "1", nil, nil); err == nil || !strings.Contains(err.Error(), "neither a path") {
		t.Fatalf("relative path: %v", err)
	}
}

func TestARMErrors(t *testing.T) {
	c, _ := newARMServer(t)
	var out json.RawMessage
	err := c.ARM(context.Background(), http.MethodGet, client.ResourceGroupPath(testSub, "nope"), client.APIVersionResourceGroups, nil, &out)
	if !client.IsNotFound(err) || !strings.Contains(err.Error(), "ResourceGroupNotFound") {
		t.Fatalf("%v", err)
	}
}

func TestARMPollsAsyncOperations(t *testing.T) {
	c, s := newARMServer(t)
	ctx := context.Background()
	path := client.ResourcePath(testSub, "rg", client.TypeSites, "web")
	var site struct {
		Properties struct{ State string } `json:"properties"`
	}
	if err := c.ARM(ctx, http.MethodPut, path, client.APIVersionSites, map[string]string{"location": "local"}, &site); err != nil {
		t.Fatal(err)
	}
	if site.Properties.State != "Running" {
		t.Fatalf("after the operation, the resource is read again: %+v", site)
	}
	if s.polls != 2 {
		t.Fatalf("polled %d times, want 2", s.polls)
	}
	if err := c.ARM(ctx, http.MethodDelete, path, client.APIVersionSites, nil, nil); err != nil {
		t.Fatal(err)
	}
	if last := s.reqs[len(s.reqs)-1]; last != "GET /operations/delete?api-version=2022-09-01" {
		t.Fatalf("last request %s", last)
	}
	err := c.ARM(ctx, http.MethodDelete, client.ResourceGroupPath(testSub, "failing"), client.APIVersionResourceGroups, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "the site is busy") || !strings.Contains(err.Error(), "Conflict") {
		t.Fatalf("failed operation: %v", err)
	}
}

func TestDefaultSubscription(t *testing.T) {
	c, s := newARMServer(t)
	sub, err := c.DefaultSubscription(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sub.SubscriptionID != testSub || sub.ID != "/subscriptions/"+testSub || sub.DisplayName != "Default" {
		t.Fatalf("%+v", sub)
	}
	if s.reqs[0] != "GET /subscriptions?api-version=2022-12-01" {
		t.Fatalf("%v", s.reqs)
	}
}

func TestAPIVersionTable(t *testing.T) {
	for _, typ := range client.ResourceTypes() {
		v, ok := client.APIVersion(strings.ToUpper(typ))
		if !ok || len(v) < 10 {
			t.Errorf("%s: %q %v", typ, v, ok)
		}
	}
	if _, ok := client.APIVersion("Microsoft.Compute/virtualMachines"); ok {
		t.Fatal("an unknown type has an api-version")
	}
}

func TestIdentityType(t *testing.T) {
	for _, tc := range []struct {
		system, user bool
		want         string
	}{{false, false, "None"}, {true, false, "SystemAssigned"}, {false, true, "UserAssigned"}, {true, true, "SystemAssigned, UserAssigned"}} {
		if got := client.IdentityType(tc.system, tc.user); got != tc.want {
			t.Errorf("%v %v: %q", tc.system, tc.user, got)
		}
		if got := (&client.Identity{Type: tc.want}).HasSystemAssigned(); got != tc.system {
			t.Errorf("%s has system-assigned: %v", tc.want, got)
		}
	}
}
