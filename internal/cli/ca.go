package cli

import (
	"github.com/spf13/cobra"
)

func newCACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "The server's certificate authority", Example: `  lanyard ca export > lanyard-ca.pem`}
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the root CA certificate (PEM), for clients to trust",
		Example: `  lanyard ca export > lanyard-ca.pem
  SSL_CERT_FILE=lanyard-ca.pem ./my-app`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pem, err := g.client().CAPEM(cmd.Context())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(pem)
			return err
		},
	})
	return cmd
}
