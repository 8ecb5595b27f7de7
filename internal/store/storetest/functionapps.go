package storetest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/appservice"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/store"
)

// RunFunctionApps is the part of the suite for migration 0015: deployment packages, function
// keys and timer claims.
func RunFunctionApps(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Packages", testFnPackages},
		{"Keys", testFnKeys},
		{"TimerClaims", testFnTimerClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func digestOf(b []byte) string { return appservice.Digest(b) }

func siteChangedEvents(t *testing.T, db *store.DB) int {
	t.Helper()
	evs, err := db.NodeEvents(ctx, resTenant, 0, 1000)
	must(t, err, "NodeEvents")
	n := 0
	for _, e := range evs {
		if e.Kind == agentapi.EventSiteChanged {
			n++
		}
	}
	return n
}

func testFnPackages(t *testing.T, db *store.DB) {
	resFixture(t, db)
	a := put(t, db, resource(resources.TypeSite, "A"), 0)
	b := put(t, db, resource(resources.TypeSite, "B"), 0)
	ka, kb := strings.ToLower(a.ID), strings.ToLower(b.ID)
	pkgs := [][]byte{[]byte("zip one"), []byte("zip two"), []byte("zip three"), []byte("zip four")}
	doc := func(i int) json.RawMessage { return json.RawMessage(`{"digest":"` + digestOf(pkgs[i]) + `"}`) }
	events := siteChangedEvents(t, db)
	must(t, db.DeploySitePackage(ctx, resTenant, ka, digestOf(pkgs[0]), pkgs[0], doc(0), 2, t0), "deploy 0 to A")
	if got := siteChangedEvents(t, db); got != events+1 {
		t.Errorf("site-changed events after a deploy: %d, want %d", got, events+1)
	}
	// The same package on B: stored once, named by both.
	must(t, db.DeploySitePackage(ctx, resTenant, kb, digestOf(pkgs[0]), pkgs[0], doc(0), 2, t0), "deploy 0 to B")
	sites, err := db.PackageSites(ctx, resTenant, digestOf(pkgs[0]))
	must(t, err, "PackageSites")
	if len(sites) != 2 || sites[0] != ka || sites[1] != kb {
		t.Errorf("PackageSites: %v", sites)
	}
	got, err := db.GetSitePackage(ctx, resTenant, digestOf(pkgs[0]))
	must(t, err, "GetSitePackage")
	if !bytes.Equal(got, pkgs[0]) {
		t.Errorf("GetSitePackage: %q", got)
	}
	_, err = db.GetSitePackage(ctx, resOther, digestOf(pkgs[0]))
	wantKind(t, err, errs.NotFound, "another tenant's package")
	if s, err := db.PackageSites(ctx, resOther, digestOf(pkgs[0])); err != nil || len(s) != 0 {
		t.Errorf("PackageSites in another tenant: %v %v", s, err)
	}
	cfg, err := db.GetSiteConfig(ctx, resTenant, ka, "deployment")
	must(t, err, "GetSiteConfig deployment")
	if string(cfg) != string(doc(0)) {
		t.Errorf("deployment document: %s", cfg)
	}
	// A keeps its 2 newest deployments; package 0 stays while B names it.
	for i := 1; i <= 3; i++ {
		must(t, db.DeploySitePackage(ctx, resTenant, ka, digestOf(pkgs[i]), pkgs[i], doc(i), 2, t0.Add(time.Duration(i)*time.Minute)), "deploy to A")
	}
	for i, want := range []bool{true, false, true, true} {
		_, err := db.GetSitePackage(ctx, resTenant, digestOf(pkgs[i]))
		if (err == nil) != want {
			t.Errorf("package %d kept: %v, want %v", i, err == nil, want)
		}
	}
	if s, _ := db.PackageSites(ctx, resTenant, digestOf(pkgs[1])); len(s) != 0 {
		t.Errorf("a forgotten deployment still names its site: %v", s)
	}
	// Once B is gone, package 0 is garbage: pruning (or A's next deploy) collects it.
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: kb, Version: -1}), "delete B")
	n, err := db.PruneSitePackages(ctx)
	must(t, err, "PruneSitePackages")
	if n != 1 {
		t.Errorf("PruneSitePackages deleted %d packages, want 1", n)
	}
	_, err = db.GetSitePackage(ctx, resTenant, digestOf(pkgs[0]))
	wantKind(t, err, errs.NotFound, "package 0 after B is gone")
	wantKind(t, db.DeploySitePackage(ctx, resTenant, kb, digestOf(pkgs[0]), pkgs[0], doc(0), 2, t0), errs.NotFound, "deploy to a site that is gone")
	if _, err := db.GetSitePackage(ctx, resTenant, digestOf(pkgs[3])); err != nil {
		t.Errorf("A's current package after pruning: %v", err)
	}
	wantKind(t, db.DeploySitePackage(ctx, resOther, ka, digestOf(pkgs[0]), pkgs[0], doc(0), 2, t0), errs.NotFound, "deploy to another tenant's site")
}

func fnKey(id, scope, name string) appservice.FunctionKey {
	return appservice.FunctionKey{ID: id, Scope: scope, Name: name, KEKID: "kek1", Sealed: []byte("sealed-" + id), Created: t0}
}

func testFnKeys(t *testing.T, db *store.DB) {
	resFixture(t, db)
	site := put(t, db, resource(resources.TypeSite, "F"), 0)
	key := strings.ToLower(site.ID)
	added, err := db.AddFunctionKey(ctx, resTenant, key, fnKey("k1", appservice.ScopeMaster, "_master"))
	must(t, err, "AddFunctionKey")
	if !added {
		t.Error("AddFunctionKey of a new key: not added")
	}
	if added, err := db.AddFunctionKey(ctx, resTenant, key, fnKey("k2", appservice.ScopeMaster, "_master")); err != nil || added {
		t.Errorf("AddFunctionKey of an existing key: %v %v", added, err)
	}
	created, err := db.PutFunctionKey(ctx, resTenant, key, fnKey("k3", appservice.ScopeHost, "default"))
	must(t, err, "PutFunctionKey")
	if !created {
		t.Error("PutFunctionKey of a new key: created false")
	}
	created, err = db.PutFunctionKey(ctx, resTenant, key, fnKey("k4", appservice.ScopeHost, "default"))
	must(t, err, "PutFunctionKey again")
	if created {
		t.Error("PutFunctionKey replacing a key: created true")
	}
	_, err = db.PutFunctionKey(ctx, resTenant, key, fnKey("k5", appservice.ScopeFunction+"hello", "default"))
	must(t, err, "PutFunctionKey of a function")
	list, err := db.ListFunctionKeys(ctx, resTenant, key)
	must(t, err, "ListFunctionKeys")
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID+"/"+k.Scope+"/"+k.Name+"/"+string(k.Sealed))
	}
	want := "k5/function:hello/default/sealed-k5 k4/host/default/sealed-k4 k1/master/_master/sealed-k1"
	if strings.Join(ids, " ") != want {
		t.Errorf("ListFunctionKeys: %v, want %s", ids, want)
	}
	if l, err := db.ListFunctionKeys(ctx, resOther, key); err != nil || len(l) != 0 {
		t.Errorf("another tenant's keys: %v %v", l, err)
	}
	found, err := db.DeleteFunctionKey(ctx, resTenant, key, appservice.ScopeHost, "default", time.Now())
	must(t, err, "DeleteFunctionKey")
	if !found {
		t.Error("DeleteFunctionKey: not found")
	}
	if found, err := db.DeleteFunctionKey(ctx, resTenant, key, appservice.ScopeHost, "default", time.Now()); err != nil || found {
		t.Errorf("DeleteFunctionKey twice: %v %v", found, err)
	}
	_, err = db.PutFunctionKey(ctx, resOther, key, fnKey("k6", appservice.ScopeHost, "x"))
	wantKind(t, err, errs.NotFound, "PutFunctionKey on another tenant's site")
	// The keys go with the site.
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: key, Version: -1}), "delete site")
	put(t, db, resource(resources.TypeSite, "F"), 0)
	if l, err := db.ListFunctionKeys(ctx, resTenant, key); err != nil || len(l) != 0 {
		t.Errorf("keys of a site made again: %v %v", l, err)
	}
}

func testFnTimerClaims(t *testing.T, db *store.DB) {
	resFixture(t, db)
	site := put(t, db, resource(resources.TypeSite, "T"), 0)
	key := strings.ToLower(site.ID)
	tick := t0.Add(5 * time.Minute)
	// Many nodes claim the same tick at once: exactly one wins.
	var mu sync.Mutex
	var wg sync.WaitGroup
	winners := 0
	for i := range 8 {
		wg.Go(func() {
			ok, err := db.ClaimTimer(ctx, key, "tick", tick, "node"+string(rune('a'+i)), t0)
			if err != nil {
				t.Errorf("ClaimTimer: %v", err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d nodes claimed the tick, want 1", winners)
	}
	// Another tick, another function: each claimed anew; the winner may ask again.
	ok, err := db.ClaimTimer(ctx, key, "tick", tick.Add(time.Minute), "nodez", t0)
	if err != nil || !ok {
		t.Errorf("next tick: %v %v", ok, err)
	}
	if ok, err := db.ClaimTimer(ctx, key, "tick", tick.Add(time.Minute), "nodez", t0); err != nil || !ok {
		t.Errorf("the winner asking again: %v %v", ok, err)
	}
	if ok, err := db.ClaimTimer(ctx, key, "other", tick, "nodey", t0); err != nil || !ok {
		t.Errorf("another function's tick: %v %v", ok, err)
	}
	// A day later the old claims are pruned: the old tick could be claimed by anyone again
	// (agents never ask for ticks that old).
	if ok, err := db.ClaimTimer(ctx, key, "tick", tick, "nodey", t0.Add(25*time.Hour)); err != nil || !ok {
		t.Errorf("a tick whose claim was pruned: %v %v", ok, err)
	}
}
