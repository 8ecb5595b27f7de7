// Package compat holds the compatibility tests: the official client SDKs (msgraph-sdk-go,
// azidentity, azsecrets, the ARM clients), unmodified but for base URL, allowed hosts and CA trust,
// driven against an in-process Lanyard the way a user's code drives them. It has no code of its
// own; the tests live here so that only this package's test binary pays for compiling the SDKs.
package compat
