// Command kvreader is the app of the vault access-policy test: unmodified azidentity and
// azsecrets, as a user's app would use them under the agent, with no secret of its own. It reads
// one secret every 100 ms and prints a line per read:
//
//	KVREAD <n> <start unix nanoseconds> OK <first 8 hex of the value's SHA-256>
//	KVREAD <n> <start unix nanoseconds> ERR <status> <error code>
//
// It takes VAULT_URL and SECRET_NAME, trusts what SSL_CERT_FILE names (the agent's CA bundle),
// and dials every host at LANYARD_DIAL (the test's loopback server: vault host names do not
// resolve on a test machine). The identity comes from the agent's IDENTITY_ENDPOINT and
// IDENTITY_HEADER, read by azidentity itself.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func main() {
	dial := os.Getenv("LANYARD_DIAL")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dial)
	}
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(1)
	}
	c, err := azsecrets.NewClient(os.Getenv("VAULT_URL"), cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: transport, Timeout: 30 * time.Second}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	for n := 1; ; n++ {
		start := time.Now()
		resp, err := c.GetSecret(context.Background(), os.Getenv("SECRET_NAME"), "", nil)
		var re *azcore.ResponseError
		switch {
		case err == nil && resp.Value != nil:
			sum := sha256.Sum256([]byte(*resp.Value))
			fmt.Printf("KVREAD %d %d OK %x\n", n, start.UnixNano(), sum[:4])
		case errors.As(err, &re):
			fmt.Printf("KVREAD %d %d ERR %d %s\n", n, start.UnixNano(), re.StatusCode, re.ErrorCode)
		default:
			fmt.Printf("KVREAD %d %d ERR 0 %q\n", n, start.UnixNano(), fmt.Sprint(err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
