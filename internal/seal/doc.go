// Package seal owns envelope encryption under the installation's key-encryption key (KEK).
//
// Every secret Lanyard stores (secret values, token signing keys, the CA's private key) is sealed
// here: a fresh AES-256 data key per object encrypts the payload with AES-256-GCM, and the KEK
// wraps that data key with AES-256-GCM. Both layers bind the object's identity (AD: table, id,
// purpose) as associated data, so a sealed blob copied to another row, or read for another
// purpose, does not open. The package also loads and creates KEKs and rotates stored values from
// one KEK to another by rewrapping only their data keys.
//
// It does not decide where the KEK comes from (internal/config does: a file or LANYARD_KEK), and
// it does not store anything: rotation talks to storage through the RotateStore interface, which
// internal/store implements.
package seal
