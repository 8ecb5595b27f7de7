package directory_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/directory"
)

// FuzzDispatch sends arbitrary paths (alternate keys, $ref, nested navigation, escapes), methods
// and bodies to the handler as administrator: it must never panic nor answer 5xx, and every
// answer but a 204 is a JSON body.
func FuzzDispatch(f *testing.F) {
	e := newEnv(f)
	sp := e.graphSP()["id"].(string)
	for _, p := range []string{
		"servicePrincipals(appId='" + directory.DirectoryAppID + "')?$select=id,appRoles",
		"servicePrincipals(appId='" + directory.DirectoryAppID + "')/appRoleAssignedTo",
		"servicePrincipals('" + sp + "')/appRoleAssignments/abc",
		"servicePrincipals/" + sp + "/appRoleAssignedTo/x/$ref",
		"applications(appId='x')/y", "applications(displayName='x')", "applications(appId='a',id='b')",
		"groups/" + sp + "/members/$ref", "groups/" + sp + "/members/" + sp + "/$ref", "groups(appId='" + sp + "')/members",
		"roleManagement/directory/roleAssignments/x", "roleManagement/directory/roleAssignments('x')",
		"servicePrincipals(appId=%27" + directory.VaultAppID + "%27)", "servicePrincipals/%2F", "a/b/c/d/e/f",
		"servicePrincipals?$filter=servicePrincipalNames/any(x:x eq 'https://graph.microsoft.com')&$top=1",
		"servicePrincipals?$skiptoken=AQ", "$metadata", "servicePrincipals/$count",
	} {
		f.Add(byte(0), p, "")
		f.Add(byte(1), p, `{"displayName":"x"}`)
		f.Add(byte(3), p, `{"@odata.id":"https://x/v1.0/directoryObjects/`+sp+`"}`)
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut}
	h := e.svc.Handler()
	f.Fuzz(func(t *testing.T, m byte, path, body string) {
		method := methods[int(m)%len(methods)]
		if strings.ContainsAny(path, " \t\r\n#") {
			return // not a request line a client can send
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL.RawQuery = ""
		p, q, _ := strings.Cut(path, "?")
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = "/v1.0/"+p, "/v1.0/"+p, q
		if req.URL.EscapedPath() != "/v1.0/"+p {
			return // not a valid escaped path
		}
		req.Header.Set(principalHeader, "admin")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code != http.StatusNoContent && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: %d with a body that is not JSON: %s", method, path, w.Code, w.Body)
		}
	})
}
