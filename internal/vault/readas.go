package vault

import (
	"context"
	"strings"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// ReadSecretAs reads a secret's value as the principal p would through the data plane, for a
// caller inside the server (App Service's Key Vault references in app settings, functions.md
// §7, read with the site's identity): the vault named vaultName (without case), the secret name
// at version (its latest when ""), authorized by the vault's own rules for p (access policies,
// or RBAC data actions when the vault uses RBAC: authorize, the very check every data-plane
// request passes), with the same refusals of a disabled, not yet valid or expired version, and
// audited as a get by p. It returns the value and the version read.
//
// Errors: errs.NotFound with Code "VaultNotFound" for an unknown vault, "SecretNotFound" for an
// unknown (or deleted) secret or version; errs.Denied with Key Vault's codes
// ("Forbidden:AccessDenied", "Forbidden:ForbiddenByRbac", "Forbidden:SecretDisabled", ...).
func (s *Service) ReadSecretAs(ctx context.Context, p authn.Principal, vaultName, name, version string) (value, readVersion string, err error) {
	vaultName = strings.ToLower(vaultName)
	if !ValidName(name) {
		return "", "", badParameter("The secret name '%s' is not valid.", clip(name))
	}
	if version != "" && !versionPattern.MatchString(version) {
		return "", "", notFound(name, version)
	}
	v, set, err := s.vaults.vault(ctx, s.Store, vaultName)
	if errs.Is(err, errs.NotFound) {
		return "", "", &errs.Error{Kind: errs.NotFound, Code: "VaultNotFound", Msg: "No vault named '" + clip(vaultName) + "' exists."}
	}
	if err != nil {
		return "", "", err
	}
	rq := &request{v: v, set: set, c: caller{p}, name: name, ver: version}
	if err := s.authorize(ctx, rq, opGet); err != nil {
		_ = s.record(ctx, rq.c, v, opGet, name, version, err)
		return "", "", err
	}
	sec, x, err := s.Store.GetSecret(ctx, v.Key, name, version)
	if errs.Is(err, errs.NotFound) || err == nil && sec.Deleted() {
		err = notFound(name, version)
	}
	if err == nil {
		err = usable(x, s.now())
	}
	var plain []byte
	if err == nil {
		if plain, err = s.KEK.Open(x.Sealed, sealAD(v.Key, x.Name, x.Version)); err != nil {
			err = errs.Wrap(errs.Internal, err, "open sealed secret")
		}
	}
	if aerr := s.record(ctx, rq.c, v, opGet, name, x.Version, err); aerr != nil && err == nil {
		return "", "", errs.Wrap(errs.Unavailable, aerr, "The read could not be audited.")
	}
	if err != nil {
		return "", "", err
	}
	return string(plain), x.Version, nil
}
