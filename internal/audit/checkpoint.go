package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// Signed checkpoints (Lanyard's own; Azure's activity log has nothing like them). The chain alone
// is unkeyed: whoever can write the database can rebuild it from any row on, or cut off its
// newest rows, and Verify finds nothing. A checkpoint is the chain's head (the last event's seq
// and hash) at a moment, signed with an Ed25519 key whose private half the database holds only
// sealed under the KEK. Operators keep copies (the server logs each one; `lanyard audit
// checkpoint` prints one), and VerifyCheckpoints checks the chain against them: a rewritten
// chain no longer has the checkpoint's hash at its seq, and a cut-off chain ends before it.
// Events written after the newest checkpoint an operator holds are covered by the chain only.

// Checkpoint is the audit chain's head at a moment, signed.
type Checkpoint struct {
	Seq       int64     `json:"seq"`       // the last event covered
	Hash      string    `json:"hash"`      // its hash (hex)
	Time      time.Time `json:"time"`      // when it was signed (UTC, microseconds)
	KeyID     string    `json:"keyId"`     // the signing key (CheckpointKeyID of its public key)
	Signature []byte    `json:"signature"` // Ed25519 over CheckpointMessage (base64 in JSON)
}

// CheckpointKey is a checkpoint signing key's public half, as operators and verify see it.
type CheckpointKey struct {
	ID        string            `json:"keyId"`
	PublicKey ed25519.PublicKey `json:"publicKey"` // raw 32 bytes (base64 in JSON)
}

// CheckpointKeyID names an Ed25519 public key: hex of the first 8 bytes of its SHA-256.
func CheckpointKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// CheckpointMessage is what a checkpoint's signature covers: a version label, the seq, the
// time and the hash, each fixed-width or length-prefixed.
func CheckpointMessage(c Checkpoint) []byte {
	var b []byte
	b = append(b, "lanyard-audit-checkpoint-v1\x00"...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UTC().UnixMicro()))
	b = binary.BigEndian.AppendUint64(b, uint64(len(c.Hash)))
	return append(b, c.Hash...)
}

// CheckpointStore is what checkpoints need from storage.
type CheckpointStore interface {
	// AuditHead returns the last event's seq and hash (0 and "" for an empty chain).
	AuditHead(ctx context.Context) (int64, string, error)
	PutAuditCheckpoint(ctx context.Context, c Checkpoint) error
	// ListAuditCheckpoints returns the stored checkpoints, newest first, at most limit.
	ListAuditCheckpoints(ctx context.Context, limit int) ([]Checkpoint, error)
	// AuditCheckpointKeys returns the public halves of every checkpoint key ever used.
	AuditCheckpointKeys(ctx context.Context) ([]CheckpointKey, error)
}

// Checkpointer signs checkpoints of the chain: at every Interval, on demand (Checkpoint) and when
// Run ends (shutdown). Each is stored and logged at Info (the log line is a copy out of the
// database's reach).
type Checkpointer struct {
	Store    CheckpointStore
	Key      ed25519.PrivateKey
	Interval time.Duration // default 15 minutes
	Log      *slog.Logger
	Now      func() time.Time
}

// DefaultCheckpointInterval is how often a server signs a checkpoint.
const DefaultCheckpointInterval = 15 * time.Minute

// Checkpoint signs and stores a checkpoint of the chain's head now.
func (c *Checkpointer) Checkpoint(ctx context.Context) (Checkpoint, error) {
	seq, hash, err := c.Store.AuditHead(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	cp := c.sign(seq, hash)
	if err := c.Store.PutAuditCheckpoint(ctx, cp); err != nil {
		return Checkpoint{}, err
	}
	if c.Log != nil {
		c.Log.LogAttrs(ctx, slog.LevelInfo, "audit checkpoint", slog.Int64("seq", cp.Seq), slog.String("hash", cp.Hash),
			slog.Time("at", cp.Time), slog.String("key_id", cp.KeyID), slog.String("signature", base64.StdEncoding.EncodeToString(cp.Signature)))
	}
	return cp, nil
}

// sign makes a checkpoint of (seq, hash) now.
func (c *Checkpointer) sign(seq int64, hash string) Checkpoint {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	cp := Checkpoint{Seq: seq, Hash: hash, Time: now().UTC().Truncate(time.Microsecond),
		KeyID: CheckpointKeyID(c.Key.Public().(ed25519.PublicKey))}
	cp.Signature = ed25519.Sign(c.Key, CheckpointMessage(cp))
	return cp
}

// Run signs a checkpoint every Interval and one more when ctx ends.
func (c *Checkpointer) Run(ctx context.Context) error {
	every := c.Interval
	if every <= 0 {
		every = DefaultCheckpointInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The shutdown checkpoint: a copy of the head as this server leaves it.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, err := c.Checkpoint(sctx)
			cancel()
			if err != nil && c.Log != nil {
				c.Log.Warn("audit checkpoint at shutdown failed", "err", err)
			}
			return nil
		case <-t.C:
			if _, err := c.Checkpoint(ctx); err != nil && c.Log != nil && ctx.Err() == nil {
				c.Log.Warn("audit checkpoint failed", "err", err)
			}
		}
	}
}

// EventAt returns the event with sequence number seq, if the chain has it.
func EventAt(ctx context.Context, st Store, seq int64) (Event, bool, error) {
	if seq < 1 {
		return Event{}, false, nil
	}
	evs, err := st.ListAudit(ctx, seq-1, 1)
	if err != nil || len(evs) == 0 || evs[0].Seq != seq {
		return Event{}, false, err
	}
	return evs[0], true, nil
}

// VerifyCheckpoints checks the chain (st) against checkpoints, signed by keys: a checkpoint
// whose signature does not verify, or whose key is unknown, is reported as forged; one whose seq
// is past the chain's end reports removed newest events; one whose hash differs from the
// chain's event at its seq reports a rewritten chain. last is the chain's last seq (Verify's
// count of a whole chain). Checkpoints of an empty chain (seq 0) check only their signature.
func VerifyCheckpoints(ctx context.Context, st Store, last int64, cps []Checkpoint, keys []CheckpointKey) ([]Problem, error) {
	base := int64(0)
	if b, ok := st.(baser); ok {
		var err error
		if base, _, err = b.AuditBase(ctx); err != nil {
			return nil, err
		}
	}
	var problems []Problem
	for _, cp := range cps {
		var lookupErr error
		p := checkOne(cp, keys, last, func(seq int64) (string, bool) {
			if seq <= base {
				return "", true // exported and pruned: its segment file carries it (VerifySegmentFile)
			}
			e, found, err := EventAt(ctx, st, seq)
			if err != nil {
				lookupErr = err
			}
			return e.Hash, found
		})
		if lookupErr != nil {
			return problems, lookupErr
		}
		if p != nil {
			problems = append(problems, *p)
		}
	}
	return problems, nil
}

// checkOne checks one checkpoint against keys and a chain ending at last whose event hashes
// hashAt gives ("" and true: not checkable here, accepted).
func checkOne(cp Checkpoint, keys []CheckpointKey, last int64, hashAt func(seq int64) (string, bool)) *Problem {
	when := cp.Time.UTC().Format(time.RFC3339)
	var pub ed25519.PublicKey
	for _, k := range keys {
		if k.ID == cp.KeyID {
			pub = k.PublicKey
		}
	}
	switch {
	case pub == nil:
		return &Problem{cp.Seq, fmt.Sprintf("checkpoint of %s is signed with key %q, which this server never used: it is forged or from another installation", when, cp.KeyID)}
	case len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, CheckpointMessage(cp), cp.Signature):
		return &Problem{cp.Seq, fmt.Sprintf("checkpoint of %s has a signature that does not verify: it was altered or forged", when)}
	case cp.Seq == 0:
		return nil
	case cp.Seq > last:
		return &Problem{cp.Seq, fmt.Sprintf("the chain ends at event %d but the checkpoint of %s covers up to event %d: the newest events were removed (truncation)", last, when, cp.Seq)}
	}
	hash, found := hashAt(cp.Seq)
	switch {
	case !found:
		return &Problem{cp.Seq, fmt.Sprintf("the checkpoint of %s covers event %d, which is missing", when, cp.Seq)}
	case hash != "" && hash != cp.Hash:
		return &Problem{cp.Seq, fmt.Sprintf("event %d's hash is not the one the checkpoint of %s signed: the chain up to it was rewritten", cp.Seq, when)}
	}
	return nil
}

// baser is a Store whose chain may start after a base (retention removed older events).
type baser interface {
	AuditBase(ctx context.Context) (int64, string, error)
}

// ValidateCheckpoint checks that a checkpoint given by a caller is well formed.
func ValidateCheckpoint(c Checkpoint) error {
	switch {
	case c.Seq < 0:
		return errs.E(errs.Invalid, "checkpoint seq %d is negative", c.Seq)
	case c.Seq > 0 && len(c.Hash) != 64:
		return errs.E(errs.Invalid, "checkpoint of seq %d: hash must be 64 hex digits", c.Seq)
	case len(c.Signature) != ed25519.SignatureSize:
		return errs.E(errs.Invalid, "checkpoint of seq %d: signature must be %d bytes", c.Seq, ed25519.SignatureSize)
	case c.KeyID == "" || len(c.KeyID) > 64:
		return errs.E(errs.Invalid, "checkpoint of seq %d: keyId is missing or too long", c.Seq)
	}
	return nil
}

// CheckpointKeyStore keeps the checkpoint signing key, sealed.
type CheckpointKeyStore interface {
	// AuditCheckpointKey returns the key (id, public half, sealed seed); when there is none it
	// stores the one create returns, and when two servers make one at once both get the first.
	AuditCheckpointKey(ctx context.Context, create func() (id string, pub []byte, kekID string, sealed []byte, err error)) (string, []byte, []byte, error)
}

// LoadOrCreateCheckpointKey returns the installation's checkpoint signing key: made on the first
// start of the first server, its seed sealed under kek (AD audit_checkpoint_keys/{id}/private-key,
// so KEK rotation rewraps it), shared by every server of the store.
func LoadOrCreateCheckpointKey(ctx context.Context, st CheckpointKeyStore, kek *seal.KEK, rand io.Reader) (ed25519.PrivateKey, error) {
	ad := func(id string) seal.AD {
		return seal.AD{Table: "audit_checkpoint_keys", ID: id, Purpose: "private-key"}
	}
	id, _, sealed, err := st.AuditCheckpointKey(ctx, func() (string, []byte, string, []byte, error) {
		pub, priv, err := ed25519.GenerateKey(rand)
		if err != nil {
			return "", nil, "", nil, err
		}
		id := CheckpointKeyID(pub)
		blob, err := kek.Seal(rand, priv.Seed(), ad(id))
		return id, pub, kek.ID(), blob, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	seed, err := kek.Open(sealed, ad(id))
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key %s: %w", id, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit checkpoint key %s: the sealed seed is %d bytes, not %d", id, len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
