package nodes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// The agent API's function-app routes (Lanyard's own): a node fetches the packages of the
// function apps it hosts, and claims timer ticks so that one node of those hosting an app runs
// each tick.

var (
	digestRE   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	functionRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_\-]{0,127}$`)
)

// The ticks a node may claim: not older than MaxTickAge (claims are kept a day, so a tick is
// never claimed twice) nor further ahead than MaxTickLead.
const (
	MaxTickAge  = 23 * time.Hour
	MaxTickLead = time.Hour
)

// errNoPackage is the one answer to a package the node may not have: unknown, another
// tenant's, or only of sites placed elsewhere (a node cannot learn which packages exist).
var errNoPackage = &errs.Error{Kind: errs.NotFound, Code: "package_not_found", Msg: "no package of that digest for a site on this node"}

// servePackage serves GET PathPackages/{digest}: the zip, to a node hosting a site of its tenant
// that is (or was recently) deployed with it; the digest is checked against the bytes.
func (s *Service) servePackage(w http.ResponseWriter, r *http.Request, n Node) error {
	digest := r.PathValue("digest")
	if !digestRE.MatchString(digest) {
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "the digest must be sha256: and 64 lower-case hex digits"}
	}
	ctx := r.Context()
	sites, err := s.Store.PackageSites(ctx, n.TenantID, digest)
	if err != nil {
		return err
	}
	hosted := false
	for _, key := range sites {
		res, err := s.Store.GetResourceIdentities(ctx, n.TenantID, key)
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if resources.PlacedOn(res, n.Name) {
			hosted = true
			break
		}
	}
	if !hosted {
		return errNoPackage
	}
	body, err := s.Store.GetSitePackage(ctx, n.TenantID, digest)
	if errs.Is(err, errs.NotFound) {
		return errNoPackage
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return errs.E(errs.Internal, "stored package %s does not match its digest", digest)
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("ETag", `"`+digest+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	return nil
}

// serveTimerClaim serves POST PathTimerClaim for a site placed on the node.
func (s *Service) serveTimerClaim(w http.ResponseWriter, r *http.Request, n Node) error {
	var req agentapi.TimerClaim
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: errs.Message(err)}
	}
	id, err := arm.Parse(req.App)
	switch {
	case err != nil || !strings.EqualFold(id.ResourceType(), resources.TypeSite):
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "app must be a site's ARM id"}
	case !functionRE.MatchString(req.Function):
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "function must be a function's name"}
	case req.Tick.IsZero():
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "tick is required"}
	case req.Tick.Before(s.now().Add(-MaxTickAge)) || req.Tick.After(s.now().Add(MaxTickLead)):
		// The store keeps claims a day: a tick older than that could be claimed twice, and one
		// far ahead is no tick an agent runs now.
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "tick is not within the last 23 hours or the next hour"}
	}
	ctx := r.Context()
	res, err := s.Store.GetResourceIdentities(ctx, n.TenantID, id.Key())
	if errs.Is(err, errs.NotFound) || err == nil && !resources.PlacedOn(res, n.Name) {
		return &errs.Error{Kind: errs.Denied, Code: agentapi.CodeForbidden, Msg: "the site is not placed on this node"}
	}
	if err != nil {
		return err
	}
	claimed, err := s.Store.ClaimTimer(ctx, id.Key(), strings.ToLower(req.Function), req.Tick.UTC().Truncate(time.Microsecond), n.ID, s.now())
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, agentapi.TimerClaimResponse{Claimed: claimed})
	return nil
}
