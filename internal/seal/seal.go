package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// AD is the identity of a sealed object, bound to it as associated data: a blob opens only with
// the AD it was sealed with.
type AD struct {
	Table   string // the table (or kind of object) holding the value, such as "ca" or "secret_versions"
	ID      string // the row's id
	Purpose string // what the value is, such as "private-key" or "value"
}

func (ad AD) String() string { return ad.Table + "/" + ad.ID + "/" + ad.Purpose }

var (
	// ErrWrongKEK means the blob's data key is wrapped under another KEK than the one asked to
	// open it (see BlobKEKID).
	ErrWrongKEK = errors.New("sealed under another key-encryption key")
	// ErrCorrupt means the blob is malformed, truncated, tampered with, or was sealed for another
	// AD (moved to another row or purpose).
	ErrCorrupt = errors.New("sealed value is corrupt or does not belong to this object")
)

// Blob layout, version 1:
//
//	version   1 byte  (1)
//	kek id    8 bytes (the raw bytes behind KEK.ID)
//	wrapNonce 12 bytes
//	wrapped   48 bytes: the 32-byte data key sealed under the KEK (AES-256-GCM)
//	nonce     12 bytes
//	payload   the plaintext sealed under the data key (AES-256-GCM), 16 bytes or more
//
// The payload's associated data is the version and the AD; the wrapped key's is the version, the
// KEK id and the AD. So rewrapping under another KEK leaves the payload bytes unchanged.
const (
	version1   = 1
	idSize     = 8
	nonceSize  = 12
	tagSize    = 16
	dataKeyLen = 32
	wrappedLen = dataKeyLen + tagSize

	offID        = 1
	offWrapNonce = offID + idSize
	offWrapped   = offWrapNonce + nonceSize
	offNonce     = offWrapped + wrappedLen
	offPayload   = offNonce + nonceSize
	minBlobLen   = offPayload + tagSize
)

// Overhead is how many bytes Seal adds to a plaintext.
const Overhead = minBlobLen

// layer labels keep the two GCM layers' associated data apart.
const (
	labelWrap    = "lanyard seal v1 wrap\x00"
	labelPayload = "lanyard seal v1 payload\x00"
)

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (ad AD) appendTo(b []byte) []byte {
	b = appendField(b, ad.Table)
	b = appendField(b, ad.ID)
	return appendField(b, ad.Purpose)
}

func payloadAD(ad AD) []byte {
	b := append([]byte(labelPayload), version1)
	return ad.appendTo(b)
}

func wrapAD(kekID []byte, ad AD) []byte {
	b := append([]byte(labelWrap), version1)
	b = append(b, kekID...)
	return ad.appendTo(b)
}

func corrupt(format string, args ...any) error {
	return &errs.Error{Kind: errs.Internal, Msg: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

// Seal encrypts plaintext for the object ad under a fresh data key, wraps that key under k and
// returns one self-describing blob. rand supplies the data key and the nonces.
func (k *KEK) Seal(rand io.Reader, plaintext []byte, ad AD) ([]byte, error) {
	var dataKey [dataKeyLen]byte
	defer clear(dataKey[:])
	blob := make([]byte, offPayload, offPayload+len(plaintext)+tagSize)
	blob[0] = version1
	copy(blob[offID:], k.rawID[:])
	if _, err := io.ReadFull(rand, dataKey[:]); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sealing: reading randomness")
	}
	if _, err := io.ReadFull(rand, blob[offWrapNonce:offWrapNonce+nonceSize]); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sealing: reading randomness")
	}
	if _, err := io.ReadFull(rand, blob[offNonce:offNonce+nonceSize]); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sealing: reading randomness")
	}
	k.aead.Seal(blob[offWrapped:offWrapped], blob[offWrapNonce:offWrapped], dataKey[:], wrapAD(k.rawID[:], ad))
	data, err := newGCM(dataKey[:])
	if err != nil {
		return nil, err
	}
	return data.Seal(blob, blob[offNonce:offPayload], plaintext, payloadAD(ad)), nil
}

// Open checks and decrypts a blob made by Seal (or Rewrap) for the object ad. It fails with
// ErrWrongKEK when the blob is wrapped under another KEK, and with ErrCorrupt when the blob is
// malformed, truncated, tampered with, or belongs to another AD.
func (k *KEK) Open(blob []byte, ad AD) ([]byte, error) {
	dataKey, err := k.unwrap(blob, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	data, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	plain, err := data.Open(nil, blob[offNonce:offPayload], blob[offPayload:], payloadAD(ad))
	if err != nil {
		return nil, corrupt("sealed value %s: the payload does not authenticate", ad)
	}
	return plain, nil
}

// Rewrap returns blob with its data key rewrapped under to. The payload (nonce and ciphertext)
// is unchanged byte for byte. blob must open under k for ad.
func (k *KEK) Rewrap(blob []byte, ad AD, to *KEK) ([]byte, error) {
	dataKey, err := k.unwrap(blob, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	// Check the payload too, so that a tampered blob is not given a fresh, valid wrapping.
	data, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	plain, err := data.Open(nil, blob[offNonce:offPayload], blob[offPayload:], payloadAD(ad))
	if err != nil {
		return nil, corrupt("sealed value %s: the payload does not authenticate", ad)
	}
	clear(plain)
	out := bytes.Clone(blob)
	copy(out[offID:], to.rawID[:])
	// A fresh nonce for the new wrapping. Rewrap takes no rand (its output is not meant to be
	// reproducible), so it reads crypto/rand, which never fails.
	rand.Read(out[offWrapNonce:offWrapped])
	to.aead.Seal(out[offWrapped:offWrapped], out[offWrapNonce:offWrapped], dataKey, wrapAD(to.rawID[:], ad))
	return out, nil
}

// unwrap checks blob's framing and KEK id and returns its data key.
func (k *KEK) unwrap(blob []byte, ad AD) ([]byte, error) {
	id, err := BlobKEKID(blob)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(blob[offID:offWrapNonce], k.rawID[:]) {
		return nil, &errs.Error{Kind: errs.Internal, Msg: fmt.Sprintf("sealed value %s is wrapped under key-encryption key %s, not %s", ad, id, k.id), Err: ErrWrongKEK}
	}
	dataKey, err := k.aead.Open(nil, blob[offWrapNonce:offWrapped], blob[offWrapped:offNonce], wrapAD(k.rawID[:], ad))
	if err != nil {
		return nil, corrupt("sealed value %s: the wrapped data key does not authenticate", ad)
	}
	return dataKey, nil
}

// BlobKEKID returns the id of the KEK that wraps blob's data key, after checking the blob's
// version and length (not its authenticity).
func BlobKEKID(blob []byte) (string, error) {
	if len(blob) < minBlobLen {
		return "", corrupt("sealed value is %d bytes, shorter than the %d-byte minimum", len(blob), minBlobLen)
	}
	if blob[0] != version1 {
		return "", corrupt("sealed value has unknown version %d", blob[0])
	}
	return hex.EncodeToString(blob[offID:offWrapNonce]), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sealing: data key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sealing: data key")
	}
	return aead, nil
}
