// Command sandboxgo reads a secret as Go code written for Azure does: azidentity's managed
// identity credential and azsecrets with the vault's Azure URL, no option set. It runs in a
// Lanyard sandbox, where https://NAME.vault.azure.net is Lanyard's vault NAME. It prints the
// secret's value and id.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func main() {
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(1)
	}
	c, err := azsecrets.NewClient("https://"+os.Args[1]+".vault.azure.net/", cred, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	resp, err := c.GetSecret(context.Background(), os.Args[2], "", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "get:", err)
		os.Exit(1)
	}
	fmt.Println(*resp.Value, *resp.ID)
}
