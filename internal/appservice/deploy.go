package appservice

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/pkgzip"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// Deployment packages. Azure deploys a zip through the app's Kudu site (POST
// https://{app}.scm.azurewebsites.net/api/zipdeploy, functions.md; az functionapp deployment
// source config-zip). Lanyard has no SCM site: POST {site}/extensions/zipdeploy on the
// management API is its stand-in (Lanyard's route, ARM's authorization:
// Microsoft.Web/sites/publish/Action), with the zip as the body. The package is kept in the
// store by its digest (sha256, deduplicated per tenant), recorded as the site's current
// package (the config document "deployment") and announced to the tenant's agents. The store
// keeps each site's keepDeployments newest packages (a node still running an older one may
// fetch it) and deletes, at each deploy, the tenant's packages no site names any more.

// keepDeployments is how many packages of a site stay fetchable: the current one and those
// before it.
const keepDeployments = 3

// Deployment is the site's config document "deployment".
type Deployment struct {
	Digest   string    `json:"digest"`
	Size     int64     `json:"size"`
	Deployed time.Time `json:"deployedAt"`
	By       string    `json:"deployer,omitempty"`
}

// Digest returns a package's digest: "sha256:" + lower-case hex.
func Digest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ValidDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func ValidDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckZip checks body with the rules every agent unpacks by (package pkgzip: names, links and
// special files, duplicates, entry count, declared sizes), so that the server refuses at once,
// with a 400, what no node would run.
func CheckZip(body []byte) error {
	if err := pkgzip.Check(bytes.NewReader(body), int64(len(body)), pkgzip.Limits{}); err != nil {
		if errors.Is(err, pkgzip.ErrRefused) {
			return invalid("The package is refused: %s.", arm.Clip(err.Error()))
		}
		return err
	}
	return nil
}

// deploy stores body, already read within the size limit, as the package of site (authorised by
// the caller for publish) and makes it current.
func (s *Service) deploy(ctx context.Context, p authn.Principal, tenantID string, id arm.ID, site resources.Resource, body []byte) (Deployment, error) {
	if err := CheckZip(body); err != nil {
		return Deployment{}, err
	}
	d := Deployment{Digest: Digest(body), Size: int64(len(body)), Deployed: s.now().Truncate(time.Second), By: actorOf(p)}
	doc, err := json.Marshal(d)
	if err != nil {
		return Deployment{}, errs.Wrap(errs.Internal, err, "encode deployment")
	}
	err = s.Store.DeploySitePackage(ctx, tenantID, site.Key(), d.Digest, body, doc, keepDeployments, d.Deployed)
	if errs.Is(err, errs.NotFound) {
		err = resources.ResourceNotFound(id)
	}
	if err := s.record(ctx, p, "site.deploy", id.String(), fmt.Sprintf("digest=%s size=%d", d.Digest, d.Size), err); err != nil {
		return Deployment{}, err
	}
	return d, nil
}

func actorOf(p authn.Principal) string {
	if p.Actor != "" {
		return p.Actor
	}
	return "sp:" + p.ObjectID
}

// CurrentPackage returns the package a site is deployed with; nil when none.
func (s *Service) CurrentPackage(ctx context.Context, tenantID, siteKey string) (*agentapi.Package, error) {
	raw, err := s.Store.GetSiteConfig(ctx, tenantID, siteKey, configDeployment)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d Deployment
	if err := json.Unmarshal(raw, &d); err != nil || !ValidDigest(d.Digest) {
		return nil, errs.E(errs.Internal, "stored deployment of %s is not valid", siteKey)
	}
	return &agentapi.Package{Digest: d.Digest, Size: d.Size}, nil
}

// serveZipDeploy serves POST {site}/extensions/zipdeploy: the body is the zip
// (application/zip, application/octet-stream or application/x-zip-compressed).
func (s *Service) serveZipDeploy(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/zip", "application/octet-stream", "application/x-zip-compressed":
		default:
			return arm.E(errs.Invalid, "UnsupportedMediaType", "The package must be sent as application/zip, not '%s'.", arm.Clip(ct))
		}
	}
	// Authorize before reading a body that may be large.
	site, err := s.Sites.SiteFor(r.Context(), p, tenantID, id, actionPublish)
	if err != nil {
		return err
	}
	limit := s.maxPackage()
	if r.ContentLength > limit {
		s.tooLarge(w, r, limit)
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.tooLarge(w, r, limit)
		return nil
	}
	if err != nil {
		return arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The package could not be read.")
	}
	d, err := s.deploy(r.Context(), p, tenantID, id, site, body)
	if err != nil {
		return err
	}
	// Kudu's deployment record, roughly (status 4 is Success); digest and size are Lanyard's.
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"id": strings.TrimPrefix(d.Digest, "sha256:")[:32], "status": 4, "status_text": "", "complete": true, "active": true,
		"message": "Created via a push deployment", "deployer": "ZipDeploy", "author": d.By,
		"received_time": d.Deployed, "end_time": d.Deployed, "site_name": id.Name(),
		"digest": d.Digest, "size": d.Size,
	})
	return nil
}

func (s *Service) tooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	s.shape()(w, r, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
		fmt.Sprintf("The package is larger than %d bytes, the server's limit (limits.max_package_size).", limit))
}

// PruneInterval is how often Run collects the packages of deleted sites.
const PruneInterval = time.Hour

// Run collects, every PruneInterval until ctx ends, the packages that no site names any more
// (a deploy collects its own tenant's; this catches those of deleted sites). Several servers may
// run it: the delete is the same statement on each.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := s.Store.PruneSitePackages(ctx)
		if s.Log == nil {
			continue
		}
		if err != nil && ctx.Err() == nil {
			s.Log.WarnContext(ctx, "prune site packages", "error", err.Error())
		} else if n > 0 {
			s.Log.InfoContext(ctx, "pruned site packages", "count", n)
		}
	}
}
