package vault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// A backup is one secret with all its versions, as JSON, sealed under the tenant's backup key
// with the tenant as associated data: it opens only in a vault of the same tenant (and
// installation). The backup key is random, made on the tenant's first backup and kept in the
// store sealed under the KEK, so a KEK rotation rewraps it and backups taken before the rotation
// still restore. Backups taken before backup keys existed were sealed under the KEK itself; they
// restore as long as that KEK is the server's. On the wire a backup is base64url without
// padding, as the Go client decodes it.

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

// backupKeyAD is the associated data a tenant's backup key is sealed with under the KEK (the
// store registers the column, so that KEK rotation covers it).
func backupKeyAD(tenantID string) seal.AD {
	return seal.AD{Table: "vault_backup_keys", ID: strings.ToLower(tenantID), Purpose: "key"}
}

// backupKey returns the tenant's backup key, making it on first use.
func (s *Service) backupKey(ctx context.Context, tenantID string) (*seal.KEK, error) {
	sealed, err := s.Store.VaultBackupKey(ctx, tenantID, func() (string, []byte, error) {
		raw := make([]byte, seal.KeySize)
		defer clear(raw)
		if _, err := io.ReadFull(s.rand(), raw); err != nil {
			return "", nil, errs.Wrap(errs.Internal, err, "random backup key")
		}
		b, err := s.KEK.Seal(s.rand(), raw, backupKeyAD(tenantID))
		if err != nil {
			return "", nil, errs.Wrap(errs.Internal, err, "seal backup key")
		}
		return s.KEK.ID(), b, nil
	})
	if err != nil {
		return nil, err
	}
	raw, err := s.KEK.Open(sealed, backupKeyAD(tenantID))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "open backup key")
	}
	defer clear(raw)
	return seal.ParseKEK(raw)
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

// openBackup reads a backup's wire form for a vault of tenantID with whichever of keys sealed
// it, and checks what it holds.
func openBackup(keys []*seal.KEK, tenantID, wire string) (backupPayload, error) {
	bad := badParameter("The backup blob is malformed, was made by another installation or belongs to another tenant: a backup restores only into a vault of the tenant it was taken in.")
	blob, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(wire, "="))
	if err != nil || len(blob) == 0 {
		return backupPayload{}, bad
	}
	id, err := seal.BlobKEKID(blob)
	if err != nil {
		return backupPayload{}, bad
	}
	var raw []byte
	err = bad
	for _, k := range keys {
		if k.ID() == id {
			raw, err = k.Open(blob, backupAD(tenantID))
			break
		}
	}
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
		key, err := s.backupKey(rq.r.Context(), rq.v.TenantID)
		if err != nil {
			return result{}, err
		}
		wire, err := sealBackup(key, s.rand(), rq.v.TenantID, p)
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
		key, err := s.backupKey(rq.r.Context(), rq.v.TenantID)
		if err != nil {
			return result{}, err
		}
		p, err := openBackup([]*seal.KEK{key, s.KEK}, rq.v.TenantID, in.Value)
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
