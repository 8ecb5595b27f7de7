package odata

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// A skip token is base64url (unpadded) of: a version byte, the key of the last item of the page,
// and a CRC-32 (IEEE, big-endian) of both. The checksum makes a mangled or invented token fail to
// decode instead of silently starting somewhere else; it is not a signature. The token does not
// bind the filter or the collection: a nextLink carries those beside it.
const (
	skipTokenV1     = 1
	maxSkipTokenKey = 1024 // bytes
)

// EncodeSkipToken returns the opaque $skiptoken that resumes a listing after lastKey, which must
// be valid UTF-8 of at most 1024 bytes for DecodeSkipToken to accept the token (ids are far
// shorter).
func EncodeSkipToken(lastKey string) string {
	b := make([]byte, 0, 1+len(lastKey)+4)
	b = append(b, skipTokenV1)
	b = append(b, lastKey...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeSkipToken returns the key a token from EncodeSkipToken carries. Anything else is the
// errs.Invalid error "Invalid $skiptoken".
func DecodeSkipToken(s string) (string, error) {
	bad := errs.E(errs.Invalid, "Invalid $skiptoken")
	if len(s) > base64.RawURLEncoding.EncodedLen(1+maxSkipTokenKey+4) {
		return "", bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	// The decoder skips CR and LF; a token that does not re-encode to itself is not one of ours.
	if err != nil || len(b) < 5 || b[0] != skipTokenV1 || base64.RawURLEncoding.EncodeToString(b) != s {
		return "", bad
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum || !utf8.Valid(body[1:]) {
		return "", bad
	}
	return string(body[1:]), nil
}
