package appservice

import (
	"archive/zip"
	"bytes"
	"path"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/arm"
)

// FuzzParseRef: an accepted Key Vault reference starts with @Microsoft.KeyVault( and ends with
// ')', names a valid vault (lower case), a valid secret and an empty or 32-hex-digit version,
// and the same reference written in the VaultName syntax parses back to the same Ref.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret/)",
		"@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret/ec96f02080254f109c51a1f14cdb1931)",
		"@Microsoft.KeyVault(VaultName=myvault;SecretName=mysecret)",
		"@microsoft.keyvault(vaultname=MyVault; secretname=s; secretversion=EC96F02080254F109C51A1F14CDB1931)",
		"@Microsoft.KeyVault(VaultName=a;SecretName=b;VaultName=c)",
		"@Microsoft.KeyVault(SecretUri=ftp://x)",
		"@Microsoft.KeyVault()",
		"plain",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if !IsReference(s) || !strings.HasSuffix(s, ")") {
			t.Fatalf("accepted %q, which is not a reference", s)
		}
		if !refVaultName.MatchString(r.VaultName) || r.VaultName != strings.ToLower(r.VaultName) ||
			!refSecretName.MatchString(r.SecretName) || r.SecretVersion != "" && !refVersion.MatchString(r.SecretVersion) ||
			r.SecretVersion != strings.ToLower(r.SecretVersion) {
			t.Fatalf("accepted %q as %+v", s, r)
		}
		again := "@Microsoft.KeyVault(VaultName=" + r.VaultName + ";SecretName=" + r.SecretName
		if r.SecretVersion != "" {
			again += ";SecretVersion=" + r.SecretVersion
		}
		r2, err := ParseRef(again + ")")
		if err != nil || r2 != r {
			t.Fatalf("%q parsed as %+v, written back as %q: %+v %v", s, r, again, r2, err)
		}
	})
}

// FuzzParseRoute: a path this package accepts names a site by a valid ARM id of type
// Microsoft.Web/sites, and one of its operations with the methods it allows.
func FuzzParseRoute(f *testing.F) {
	site := "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Web/sites/fa1"
	for _, s := range []string{
		site + "/extensions/zipdeploy", site + "/config/appsettings", site + "/config/appsettings/list",
		site + "/config/configreferences/appsettings", site + "/config/configreferences/appsettings/KEY",
		site + "/host/default/listkeys", site + "/host/default/functionKeys/k", site + "/host/default/masterKey/_master",
		site + "/functions/fn/listkeys", site + "/functions/fn/listsecrets", site + "/functions/fn/keys/k",
		site + "//functions/fn/keys/k", site + "/functions/fn/keys",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, ok := parseRoute(p)
		if !ok {
			return
		}
		id, err := arm.Parse(rt.site)
		if err != nil {
			return // the handler answers the id's own error
		}
		if !strings.EqualFold(id.ResourceType(), "Microsoft.Web/sites") || rt.op == 0 || rt.methods == "" {
			t.Fatalf("%q accepted as %+v (%s)", p, rt, id.ResourceType())
		}
		if (rt.op == opHostKey || rt.op == opFnKey) && rt.name == "" || (rt.op == opFnKey || rt.op == opFnListKeys || rt.op == opFnListSecrets) && rt.fn == "" {
			t.Fatalf("%q accepted without a name: %+v", p, rt)
		}
	})
}

// FuzzCheckZip: an accepted package is a zip whose every entry is a relative path that stays
// in the tree and is not a link.
func FuzzCheckZip(f *testing.F) {
	for _, names := range [][]string{{"host.json", "fn/function.json"}, {"../x"}, {"/abs"}, {"a/../../b"}, {`..\x`}} {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			w, _ := zw.Create(n)
			w.Write([]byte("x"))
		}
		zw.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckZip(b) != nil {
			return
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("accepted a package zip cannot read: %v", err)
		}
		for _, e := range zr.File {
			n := path.Clean(strings.ReplaceAll(e.Name, "\\", "/"))
			if strings.HasPrefix(n, "/") || n == ".." || strings.HasPrefix(n, "../") || e.Mode()&(1<<27) != 0 {
				t.Fatalf("accepted the entry %q (mode %v)", e.Name, e.Mode())
			}
		}
	})
}
