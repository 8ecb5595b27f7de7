package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/token"
)

// RunNodes is the nodes domain's part of the suite: join tokens, enrollment, and the events the
// triggers of migration 0005 write.
func RunNodes(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Enroll", testNodesEnroll},
		{"Events", testNodesEvents},
		{"EnrollConcurrent", testNodesEnrollConcurrent},
		{"ChangeNotifications", testChangeNotifications},
		{"MintSnapshot", testNodeMintSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// nodeFixture makes the resources fixture and a machine with a system-assigned identity.
func nodeFixture(t *testing.T, db *store.DB) (machine resources.Resource, sp directory.ServicePrincipal) {
	t.Helper()
	resFixture(t, db)
	r := resource(resources.TypeMachine, "node1")
	sp = resSP(t, 1, r.ID, false)
	r.SystemAssigned, r.PrincipalID, r.ClientID = true, sp.ID, sp.AppID
	return put(t, db, r, 0, sp), sp
}

// testNodeMintSnapshot: GetNodeAndResource under a mint snapshot (migration 0018) sees every
// change made before the snapshot was taken: an identity attached and detached, the node
// replaced.
func testNodeMintSnapshot(t *testing.T, db *store.DB) {
	machine, _ := nodeFixture(t, db)
	must(t, db.CreateJoinToken(ctx, joinToken("h1", t0.Add(time.Hour))), "CreateJoinToken")
	n := nodes.Node{ID: "0a000000-0000-4000-8000-000000000001", TenantID: resTenant, Name: "node1", MachineID: machine.ID, Created: t0, Renewed: t0}
	must(t, db.EnrollNode(ctx, "h1", t0.Add(time.Minute), n), "EnrollNode")
	uami := resource(resources.TypeUserAssigned, "snapua")
	usp := resSP(t, 8, uami.ID, true)
	uami.PrincipalID, uami.ClientID = usp.ID, usp.AppID
	put(t, db, uami, 0, usp)
	site := resource(resources.TypeSite, "snapsite")
	siteR := put(t, db, site, 0)
	key := strings.ToLower(siteR.ID)
	read := func(id string) (resources.Resource, error) {
		t.Helper()
		sctx, err := db.MintSnapshot(ctx)
		must(t, err, "MintSnapshot")
		_, r, found, err := db.GetNodeAndResource(sctx, id, key)
		if err == nil && !found {
			t.Fatalf("GetNodeAndResource: the site is not found")
		}
		_, again, _, _ := db.GetNodeAndResource(sctx, id, key)
		if len(again.UserAssigned) != len(r.UserAssigned) {
			t.Errorf("under one snapshot: %d then %d identities", len(r.UserAssigned), len(again.UserAssigned))
		}
		return r, err
	}
	if r, err := read(n.ID); err != nil || len(r.UserAssigned) != 0 {
		t.Fatalf("before an identity is attached: %+v, %v", r.UserAssigned, err)
	}
	site.UserAssigned = []resources.UserAssignedRef{{ID: uami.ID}}
	siteR = put(t, db, site, siteR.Version)
	if r, err := read(n.ID); err != nil || len(r.UserAssigned) != 1 || r.UserAssigned[0].PrincipalID != usp.ID {
		t.Errorf("the next snapshot after an identity was attached: %+v, %v", r.UserAssigned, err)
	}
	site.UserAssigned = nil
	put(t, db, site, siteR.Version)
	if r, err := read(n.ID); err != nil || len(r.UserAssigned) != 0 {
		t.Errorf("the next snapshot after the identity was detached: %+v, %v", r.UserAssigned, err)
	}
	must(t, db.CreateJoinToken(ctx, joinToken("h2", t0.Add(time.Hour))), "CreateJoinToken h2")
	n2 := n
	n2.ID = "0a000000-0000-4000-8000-000000000002"
	must(t, db.EnrollNode(ctx, "h2", t0.Add(2*time.Minute), n2), "EnrollNode again")
	if _, err := read(n.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the next snapshot after the node was replaced: %v, want NotFound", err)
	}
}

func joinToken(hash string, expires time.Time) nodes.JoinToken {
	return nodes.JoinToken{Hash: hash, TenantID: resTenant, NodeName: "node1", Created: t0, Expires: expires, CreatedBy: "admin"}
}

func testNodesEnroll(t *testing.T, db *store.DB) {
	machine, _ := nodeFixture(t, db)
	must(t, db.CreateJoinToken(ctx, joinToken("h1", t0.Add(time.Hour))), "CreateJoinToken")
	if err := db.CreateJoinToken(ctx, joinToken("h1", t0.Add(time.Hour))); !errs.Is(err, errs.Conflict) {
		t.Errorf("a second token with the same hash: %v, want Conflict", err)
	}
	unknownTenant := joinToken("h0", t0.Add(time.Hour))
	unknownTenant.TenantID = "7e000000-0000-4000-8000-0000000000ff"
	if err := db.CreateJoinToken(ctx, unknownTenant); !errs.Is(err, errs.NotFound) {
		t.Errorf("a token for an unknown tenant: %v, want NotFound", err)
	}
	if _, err := db.GetJoinToken(ctx, "nope"); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetJoinToken unknown: %v", err)
	}
	n := nodes.Node{ID: "0a000000-0000-4000-8000-000000000001", TenantID: resTenant, Name: "Node1", MachineID: machine.ID, Created: t0, Renewed: t0}
	must(t, db.EnrollNode(ctx, "h1", t0.Add(time.Minute), n), "EnrollNode")
	jt, err := db.GetJoinToken(ctx, "h1")
	must(t, err, "GetJoinToken")
	sameTime(t, "join token Used", jt.Used, t0.Add(time.Minute))
	// Used once: never again, expired: never.
	if err := db.EnrollNode(ctx, "h1", t0.Add(2*time.Minute), n); !errs.Is(err, errs.Denied) {
		t.Errorf("a used token: %v, want Denied", err)
	}
	must(t, db.CreateJoinToken(ctx, joinToken("h2", t0.Add(time.Hour))), "CreateJoinToken h2")
	if err := db.EnrollNode(ctx, "h2", t0.Add(time.Hour), n); !errs.Is(err, errs.Denied) {
		t.Errorf("an expired token: %v, want Denied", err)
	}
	got, err := db.GetNode(ctx, n.ID)
	must(t, err, "GetNode")
	if got.Name != "Node1" || got.MachineID != machine.ID || got.TenantID != resTenant {
		t.Errorf("GetNode = %+v", got)
	}
	if byName, err := db.GetNodeByName(ctx, resTenant, "NODE1"); err != nil || byName.ID != n.ID {
		t.Errorf("GetNodeByName = %+v, %v", byName, err)
	}
	// The node with its machine, or with another resource, in one statement.
	gn, gr, found, err := db.GetNodeAndResource(ctx, n.ID, "")
	must(t, err, "GetNodeAndResource (machine)")
	if !found || gn.ID != n.ID || gn.MachineID != machine.ID || gn.Name != "Node1" || gr.ID != machine.ID || gr.PrincipalID != machine.PrincipalID {
		t.Errorf("GetNodeAndResource (machine) = %+v, %+v, %v", gn, gr, found)
	}
	sameTime(t, "GetNodeAndResource Created", gn.Created, t0)
	uami := resource(resources.TypeUserAssigned, "nodeua")
	usp := resSP(t, 7, uami.ID, true)
	uami.PrincipalID, uami.ClientID = usp.ID, usp.AppID
	put(t, db, uami, 0, usp)
	site := resource(resources.TypeSite, "nodesite")
	site.UserAssigned = []resources.UserAssignedRef{{ID: uami.ID}}
	siteR := put(t, db, site, 0)
	gn, gr, found, err = db.GetNodeAndResource(ctx, n.ID, strings.ToLower(siteR.ID))
	must(t, err, "GetNodeAndResource (site)")
	if !found || gn.ID != n.ID || gr.ID != siteR.ID || len(gr.UserAssigned) != 1 || gr.UserAssigned[0].PrincipalID != usp.ID {
		t.Errorf("GetNodeAndResource (site) = %+v, %+v, %v", gn, gr, found)
	}
	gn, _, found, err = db.GetNodeAndResource(ctx, n.ID, strings.ToLower(siteR.ID)+"x")
	if err != nil || found || gn.ID != n.ID {
		t.Errorf("GetNodeAndResource of no resource = %+v, %v, %v", gn, found, err)
	}
	_, _, _, err = db.GetNodeAndResource(ctx, "0a000000-0000-4000-8000-0000000000ff", "")
	wantKind(t, err, errs.NotFound, "GetNodeAndResource of no node")
	// Enrolling the name again replaces the node: its old id is gone.
	n2 := n
	n2.ID = "0a000000-0000-4000-8000-000000000002"
	must(t, db.EnrollNode(ctx, "h2", t0.Add(30*time.Minute), n2), "EnrollNode again")
	if _, err := db.GetNode(ctx, n.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the replaced node: %v, want NotFound", err)
	}
	list, err := db.ListNodes(ctx, resTenant)
	if err != nil || len(list) != 1 || list[0].ID != n2.ID {
		t.Errorf("ListNodes = %+v, %v", list, err)
	}
	must(t, db.TouchNode(ctx, n2.ID, t0.Add(40*time.Minute)), "TouchNode")
	got, _ = db.GetNode(ctx, n2.ID)
	sameTime(t, "node Renewed", got.Renewed, t0.Add(40*time.Minute))
	// Deleting the machine deletes the node.
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(machine.ID), Version: -1}), "delete machine")
	if _, err := db.GetNode(ctx, n2.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the node of a deleted machine: %v, want NotFound", err)
	}
}

func testNodesEvents(t *testing.T, db *store.DB) {
	machine, sp := nodeFixture(t, db)
	last0, pruned, err := db.NodeEventHorizon(ctx)
	must(t, err, "NodeEventHorizon")
	if pruned != 0 {
		t.Errorf("pruned %d on a new database", pruned)
	}
	api := directory.ServicePrincipal{TenantID: resTenant, ID: "6e000000-0000-4000-8000-0000000000aa", AppID: "6f000000-0000-4000-8000-0000000000aa",
		Type: directory.TypeApplication, DisplayName: "api", AccountEnabled: true, Created: t0}
	_, err = db.CreateServicePrincipal(ctx, api, nil)
	must(t, err, "CreateServicePrincipal")
	a, err := db.CreateAppRoleAssignment(ctx, directory.AppRoleAssignment{TenantID: resTenant, ID: strings.Repeat("a", 43),
		AppRoleID: directory.DefaultAccessRole, PrincipalID: sp.ID, ResourceID: api.ID, Created: t0})
	must(t, err, "CreateAppRoleAssignment")
	must(t, db.DeleteAppRoleAssignment(ctx, resTenant, a.ID), "DeleteAppRoleAssignment")
	evs, err := db.NodeEvents(ctx, resTenant, last0, 100)
	must(t, err, "NodeEvents")
	if len(evs) != 2 || evs[0].PrincipalID != sp.ID || evs[1].PrincipalID != sp.ID || evs[0].Kind != "identity-changed" || evs[1].Seq <= evs[0].Seq {
		t.Fatalf("events after a grant and a revocation: %+v", evs)
	}
	if other, err := db.NodeEvents(ctx, resOther, last0, 100); err != nil || len(other) != 0 {
		t.Errorf("another tenant's events: %+v, %v", other, err)
	}
	if after, _ := db.NodeEvents(ctx, resTenant, evs[0].Seq, 100); len(after) != 1 || after[0].Seq != evs[1].Seq {
		t.Errorf("events after the first: %+v", after)
	}
	last, _, err := db.NodeEventHorizon(ctx)
	if err != nil || last != evs[1].Seq {
		t.Errorf("horizon %d, %v; want %d", last, err, evs[1].Seq)
	}
	// Deleting the machine deletes its identity: one more event.
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(machine.ID), Version: -1}), "delete machine")
	evs, _ = db.NodeEvents(ctx, resTenant, last, 100)
	if len(evs) == 0 || evs[len(evs)-1].PrincipalID != sp.ID {
		t.Errorf("events after the identity's deletion: %+v", evs)
	}
	// Pruning forgets events and remembers through which seq.
	must(t, db.PruneNodeEvents(ctx, time.Now().Add(time.Hour)), "PruneNodeEvents")
	last2, pruned, err := db.NodeEventHorizon(ctx)
	must(t, err, "NodeEventHorizon")
	if pruned == 0 || pruned != last2 {
		t.Errorf("after pruning everything: last %d pruned %d", last2, pruned)
	}
	if evs, _ := db.NodeEvents(ctx, resTenant, 0, 100); len(evs) != 0 {
		t.Errorf("events left after pruning: %+v", evs)
	}
}

func testNodesEnrollConcurrent(t *testing.T, db *store.DB) {
	machine, _ := nodeFixture(t, db)
	must(t, db.CreateJoinToken(ctx, joinToken("race", t0.Add(time.Hour))), "CreateJoinToken")
	results := make(chan error, workers)
	for i := range workers {
		go func() {
			results <- db.EnrollNode(ctx, "race", t0.Add(time.Minute), nodes.Node{ID: "0b000000-0000-4000-8000-00000000000" + string(rune('0'+i)),
				TenantID: resTenant, Name: "node1", MachineID: machine.ID, Created: t0, Renewed: t0})
		}()
	}
	won := 0
	for range workers {
		err := <-results
		switch {
		case err == nil:
			won++
		case !errs.Is(err, errs.Denied):
			t.Errorf("a losing enrollment: %v, want Denied", err)
		}
	}
	if won != 1 {
		t.Errorf("%d enrollments with one join token, want 1", won)
	}
}

// testChangeNotifications: on PostgreSQL, WatchChanges announces that it (re)connected, then every
// committed node event and signing-key change (once per transaction, not per row); nothing for
// a transaction that is rolled back. SQLite announces nothing and says so.
func testChangeNotifications(t *testing.T, db *store.DB) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- db.WatchChanges(wctx, nil, func(kind string) { got <- kind }) }()
	if !db.Notifies() {
		if err := <-done; !errors.Is(err, store.ErrNoNotifications) {
			t.Fatalf("WatchChanges on a store that does not notify: %v", err)
		}
		return
	}
	next := func(what string) string {
		t.Helper()
		select {
		case k := <-got:
			return k
		case <-time.After(10 * time.Second):
			t.Fatalf("no notification %s", what)
		}
		return ""
	}
	if k := next("on connecting"); k != store.ChangeAny {
		t.Fatalf("first notification %q, want %q", k, store.ChangeAny)
	}
	_, sp := nodeFixture(t, db)
	for quiet := false; !quiet; { // the fixture's own notifications, if any
		select {
		case <-got:
		case <-time.After(300 * time.Millisecond):
			quiet = true
		}
	}
	api := directory.ServicePrincipal{TenantID: resTenant, ID: "6e000000-0000-4000-8000-0000000000bb", AppID: "6f000000-0000-4000-8000-0000000000bb",
		Type: directory.TypeApplication, DisplayName: "api", AccountEnabled: true, Created: t0}
	_, err := db.CreateServicePrincipal(ctx, api, nil)
	must(t, err, "CreateServicePrincipal")
	_, err = db.CreateAppRoleAssignment(ctx, directory.AppRoleAssignment{TenantID: resTenant, ID: strings.Repeat("b", 43),
		AppRoleID: directory.DefaultAccessRole, PrincipalID: sp.ID, ResourceID: api.ID, Created: t0})
	must(t, err, "CreateAppRoleAssignment")
	if k := next("for a role assignment"); k != store.ChangeNodeEvents {
		t.Fatalf("a role assignment announced %q, want %q", k, store.ChangeNodeEvents)
	}
	k1 := newKey("notify-k1", t0)
	must(t, update(db, token.KeyChange{Insert: &k1}), "insert a key")
	if k := next("for a signing key"); k != store.ChangeSigningKeys {
		t.Fatalf("a signing key announced %q, want %q", k, store.ChangeSigningKeys)
	}
	// A failed change announces nothing; an empty one neither.
	k2 := newKey("notify-k1", t0) // a duplicate: Conflict, rolled back
	if err := update(db, token.KeyChange{Insert: &k2}); err == nil {
		t.Fatal("a duplicate key was inserted")
	}
	must(t, update(db, token.KeyChange{}), "an empty change")
	select {
	case k := <-got:
		t.Fatalf("a rolled-back or empty change announced %q", k)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("WatchChanges after its context ended: %v", err)
	}
}
