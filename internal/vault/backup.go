package vault

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// A backup is one secret with all its versions, as JSON, sealed under the KEK with the tenant
// as associated data: it opens only in a vault of the same tenant (and installation). On the
// wire it is base64url without padding, as the Go client decodes it.

const backupFormat = 1

type backupVersion struct {
	Version     string            `json:"version"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   int64             `json:"nbf,omitempty"`
	Expires     int64             `json:"exp,omitempty"`
	Created     int64             `json:"created"`
	Updated     int64             `json:"updated"`
}

type backupPayload struct {
	Format   int             `json:"format"`
	Name     string          `json:"name"`
	Versions []backupVersion `json:"versions"`
}

func backupAD(tenantID string) seal.AD {
	return seal.AD{Table: "vault_backups", ID: strings.ToLower(tenantID), Purpose: "secret-backup"}
}

// sealBackup makes the wire form of a backup of p for tenantID.
func sealBackup(kek *seal.KEK, rand io.Reader, tenantID string, p backupPayload) (string, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "encode backup")
	}
	blob, err := kek.Seal(rand, raw, backupAD(tenantID))
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "seal backup")
	}
	return base64.RawURLEncoding.EncodeToString(blob), nil
}

// openBackup reads a backup's wire form for a vault of tenantID and checks what it holds.
func openBackup(kek *seal.KEK, tenantID, wire string) (backupPayload, error) {
	bad := badParameter("The backup blob is malformed, was made by another installation or belongs to another tenant: a backup restores only into a vault of the tenant it was taken in.")
	blob, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(wire, "="))
	if err != nil || len(blob) == 0 {
		return backupPayload{}, bad
	}
	raw, err := kek.Open(blob, backupAD(tenantID))
	if err != nil {
		return backupPayload{}, bad
	}
	var p backupPayload
	if err := json.Unmarshal(raw, &p); err != nil || p.Format != backupFormat || !ValidName(p.Name) || len(p.Versions) == 0 {
		return backupPayload{}, bad
	}
	for _, v := range p.Versions {
		if !versionPattern.MatchString(v.Version) || len(v.Value) > MaxValueBytes {
			return backupPayload{}, bad
		}
	}
	return p, nil
}

type backupJSON struct {
	Value string `json:"value"`
}

func (s *Service) backup(rq *request) error {
	return s.run(rq, opBackup, func() (result, error) {
		vs, err := s.Store.ListSecretVersions(rq.r.Context(), rq.v.Key, rq.name, "", 0)
		if errs.Is(err, errs.NotFound) {
			return result{}, notFound(rq.name, "")
		}
		if err != nil {
			return result{}, err
		}
		p := backupPayload{Format: backupFormat, Name: vs[0].Name}
		for _, x := range vs {
			plain, err := s.KEK.Open(x.Sealed, sealAD(rq.v.Key, x.Name, x.Version))
			if err != nil {
				return result{}, errs.Wrap(errs.Internal, err, "open sealed secret")
			}
			p.Versions = append(p.Versions, backupVersion{
				Version: x.Version, Value: string(plain), ContentType: x.ContentType, Tags: x.Tags, Enabled: x.Enabled,
				NotBefore: unixOr0(x.NotBefore), Expires: unixOr0(x.Expires), Created: x.Created.Unix(), Updated: x.Updated.Unix(),
			})
		}
		wire, err := sealBackup(s.KEK, s.rand(), rq.v.TenantID, p)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: backupJSON{Value: wire}}, nil
	})
}

func unixOr0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOr0(u int64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(u, 0).UTC()
}

func (s *Service) restore(rq *request) error {
	return s.run(rq, opRestore, func() (result, error) {
		var in backupJSON
		if err := decode(rq.r, maxBackupBody, &in); err != nil {
			return result{}, err
		}
		p, err := openBackup(s.KEK, rq.v.TenantID, in.Value)
		if err != nil {
			return result{}, err
		}
		rq.name = p.Name
		var vs []Version
		for _, b := range p.Versions {
			x := Version{VaultKey: rq.v.Key, Name: p.Name, Version: b.Version, ContentType: b.ContentType, Tags: b.Tags,
				Enabled: b.Enabled, NotBefore: timeOr0(b.NotBefore), Expires: timeOr0(b.Expires),
				Created: time.Unix(b.Created, 0).UTC(), Updated: time.Unix(b.Updated, 0).UTC(), KEKID: s.KEK.ID()}
			if x.Sealed, err = s.KEK.Seal(s.rand(), []byte(b.Value), sealAD(rq.v.Key, p.Name, b.Version)); err != nil {
				return result{}, errs.Wrap(errs.Internal, err, "seal")
			}
			vs = append(vs, x)
		}
		if err := s.Store.RestoreSecret(rq.r.Context(), vs); err != nil {
			return result{}, mapStore(err, p.Name)
		}
		last := vs[len(vs)-1]
		return result{status: http.StatusOK, body: s.bundle(rq, last, nil, true), version: last.Version}, nil
	})
}
