package token

import "time"

// KeyRecord is a signing key as stored: the public certificate in clear, the private key sealed.
//
// A key's state is derived from its timestamps and the clock, so every server replica computes the
// same state without coordination:
//
//	pending   now < ActivateAt                      published in JWKS, not signing
//	active    ActivateAt <= now, not yet retired    published, signing (the newest active signs)
//	retired   RetireAt <= now < DropAt              published, not signing
//	gone      DropAt <= now                         not published
type KeyRecord struct {
	ID         string    // kid: base64url SHA-1 thumbprint of CertDER (= x5t)
	Alg        string    // "RS256" or "ES256"
	CertDER    []byte    // self-signed certificate of the public key (x5c)
	SealedKey  []byte    // PKCS#8 private key, sealed with AD {Table: "signing_keys", ID: ID, Purpose: "private-key"}
	KEKID      string    // id of the KEK that wraps SealedKey's data key
	CreatedAt  time.Time //
	ActivateAt time.Time // starts signing at this time
	RetireAt   time.Time // zero until a successor is scheduled; then the successor's ActivateAt
	DropAt     time.Time // zero until retired; then RetireAt + the longest token lifetime + skew
}

// KeyChange is what one locked rotation step writes: at most one new key, and new retire/drop
// times for existing keys (by id).
type KeyChange struct {
	Insert *KeyRecord
	Retire map[string]RetireTimes
}

// RetireTimes sets RetireAt and DropAt of an existing key.
type RetireTimes struct{ RetireAt, DropAt time.Time }
