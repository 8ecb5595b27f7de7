package compat

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// newGraphClient builds an unmodified msgraph-sdk-go client the way a user points it at another
// cloud: allowed hosts, base URL, and a transport that trusts Lanyard's CA under the SDK's own
// default middleware (retry, redirect, compression, ...).
func newGraphClient(t *testing.T, env *lanyardtest.Env, token string) *msgraphsdk.GraphServiceClient {
	t.Helper()
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		credential(token), []string{graphURI + "/.default"}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	middleware := msgraphgocore.GetDefaultMiddlewaresWithOptions(&msgraphgocore.GraphClientOptions{GraphServiceVersion: "v1.0"})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: env.CAPool}
	hc := khttp.GetDefaultClient(middleware...)
	hc.Transport = khttp.NewCustomTransportWithParentTransport(tr, middleware...)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(env.URL + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func odataCode(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil && oe.GetErrorEscaped().GetCode() != nil {
		return *oe.GetErrorEscaped().GetCode()
	}
	return ""
}

// TestGraphSDKBootstrap is the standard managed-identity bootstrap: a deployment identity holding
// only AppRoleAssignment.ReadWrite.All and Application.Read.All reads the directory service
// principal's app roles and grants Directory.Read.All and Group.Read.All to a function's identity,
// with the unmodified Microsoft Graph Go SDK.
func TestGraphSDKBootstrap(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	graphSP := builtin(t, env, graphAppID)
	deployer := newApp(t, env, "deployer", nil)
	grant(t, env, deployer, graphSP, "AppRoleAssignment.ReadWrite.All")
	grant(t, env, deployer, graphSP, "Application.Read.All")
	fn := newApp(t, env, "func-identity", nil)

	client := newGraphClient(t, env, mint(t, env, deployer.ID, graphURI))
	appID := graphAppID
	got, err := client.ServicePrincipalsWithAppId(&appID).Get(ctx, &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id", "appRoles"}},
	})
	if err != nil {
		t.Fatalf("GET servicePrincipals(appId=…)?$select=id,appRoles: %v (%s)", err, odataCode(err))
	}
	if got.GetId() == nil || *got.GetId() != graphSP.ID {
		t.Fatalf("service principal id %v, want %s", got.GetId(), graphSP.ID)
	}
	if got.GetDisplayName() != nil {
		t.Errorf("$select=id,appRoles returned displayName %q", *got.GetDisplayName())
	}
	want := map[string]*uuid.UUID{"Directory.Read.All": nil, "Group.Read.All": nil}
	for _, r := range got.GetAppRoles() {
		if r.GetValue() != nil {
			if _, ok := want[*r.GetValue()]; ok {
				want[*r.GetValue()] = r.GetId()
			}
		}
	}
	fnID, resID := uuid.MustParse(fn.ID), uuid.MustParse(*got.GetId())
	for value, id := range want {
		if id == nil {
			t.Fatalf("app role %s not among the directory's roles", value)
		}
		body := models.NewAppRoleAssignment()
		body.SetPrincipalId(&fnID)
		body.SetResourceId(&resID)
		body.SetAppRoleId(id)
		a, err := client.ServicePrincipals().ByServicePrincipalId(*got.GetId()).AppRoleAssignedTo().Post(ctx, body, nil)
		if err != nil {
			t.Fatalf("POST appRoleAssignedTo %s: %v (%s)", value, err, odataCode(err))
		}
		if a.GetId() == nil || a.GetCreatedDateTime() == nil || a.GetPrincipalId() == nil || *a.GetPrincipalId() != fnID {
			t.Fatalf("assignment answer lacks fields: id %v created %v principal %v", a.GetId(), a.GetCreatedDateTime(), a.GetPrincipalId())
		}
	}

	// The next token minted for the function's identity carries exactly those roles.
	fnToken := mint(t, env, fn.ID, graphURI)
	if r := roles(t, fnToken); !slices.Equal(r, []string{"Directory.Read.All", "Group.Read.All"}) {
		t.Fatalf("roles in the function's token: %v", r)
	}
	fnClient := newGraphClient(t, env, fnToken)
	if _, err := fnClient.Groups().Get(ctx, nil); err != nil {
		t.Fatalf("GET /v1.0/groups with Group.Read.All: %v (%s)", err, odataCode(err))
	}
	if code, _ := getWith(t, env, fnToken, "/v1.0/groups"); code != http.StatusOK {
		t.Fatalf("GET /v1.0/groups with the granted token: %d", code)
	}
	// The deployer's token has neither role: groups are forbidden.
	if _, err := client.Groups().Get(ctx, nil); odataCode(err) != "Authorization_RequestDenied" {
		t.Fatalf("GET /v1.0/groups without Group.Read.All: %v (%s), want Authorization_RequestDenied", err, odataCode(err))
	}
	if code, _ := getWith(t, env, mint(t, env, deployer.ID, graphURI), "/v1.0/groups"); code != http.StatusForbidden {
		t.Fatalf("GET /v1.0/groups without the roles: %d, want 403", code)
	}

	// The same grant by a caller holding only one of the two permissions is refused.
	for _, only := range []string{"AppRoleAssignment.ReadWrite.All", "Application.Read.All"} {
		half := newApp(t, env, "half-"+only, nil)
		grant(t, env, half, graphSP, only)
		hc := newGraphClient(t, env, mint(t, env, half.ID, graphURI))
		body := models.NewAppRoleAssignment()
		other := newApp(t, env, "target-"+only, nil)
		otherID := uuid.MustParse(other.ID)
		body.SetPrincipalId(&otherID)
		body.SetResourceId(&resID)
		body.SetAppRoleId(want["Group.Read.All"])
		_, err := hc.ServicePrincipals().ByServicePrincipalId(*got.GetId()).AppRoleAssignedTo().Post(ctx, body, nil)
		if code := odataCode(err); code != "Authorization_RequestDenied" {
			t.Fatalf("grant by a caller holding only %s: %v (%q), want Authorization_RequestDenied", only, err, code)
		}
	}
}
