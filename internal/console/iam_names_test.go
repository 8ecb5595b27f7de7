package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/lanyardhq/lanyard/client"
)

// TestPrincipalNames: the IAM page's names come from getByIds for service principals and groups,
// so a group shows its name too. A session that may read role assignments but not the directory
// gets the page with the principals' ids (no names), not an error; another failure is still one.
// (A fake Graph: every console session acts as an administrator, who may read the directory,
// and role assignments name service principals only so far.)
func TestPrincipalNames(t *testing.T) {
	const spID, groupID = "6f1b0c2a-0000-4000-8000-0000000000a1", "6f1b0c2a-0000-4000-8000-0000000000a2"
	status := http.StatusOK
	graph := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ IDs, Types []string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		if status != http.StatusOK {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
			return
		}
		var out []map[string]string
		if slices.Contains(body.Types, "servicePrincipal") {
			out = append(out, map[string]string{"@odata.type": "#microsoft.graph.servicePrincipal", "id": spID, "displayName": "deployer"})
		}
		if slices.Contains(body.Types, "group") {
			out = append(out, map[string]string{"@odata.type": "#microsoft.graph.group", "id": groupID, "displayName": "Site operators"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"value": out})
	})
	api := &client.Client{BaseURL: "https://localhost:8443", HTTP: &http.Client{Transport: inProcess{h: graph}}}
	rows := []roleRow{{PrincipalID: spID}, {PrincipalID: groupID}}
	if err := principalNames(context.Background(), api, rows); err != nil {
		t.Fatal(err)
	}
	if rows[0].PrincipalName != "deployer" || rows[1].PrincipalName != "Site operators" {
		t.Errorf("names %q, %q", rows[0].PrincipalName, rows[1].PrincipalName)
	}

	status = http.StatusForbidden
	rows = []roleRow{{PrincipalID: spID}}
	if err := principalNames(context.Background(), api, rows); err != nil {
		t.Fatalf("names without the directory's read right: %v", err)
	}
	if rows[0].PrincipalName != "" || rows[0].PrincipalID != spID {
		t.Errorf("row %+v", rows[0])
	}
	status = http.StatusInternalServerError
	if err := principalNames(context.Background(), api, rows); err == nil {
		t.Error("a failure of the directory is not an error")
	}
}
