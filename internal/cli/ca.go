package cli

import (
	"github.com/spf13/cobra"
)

func newCACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "The server's certificate authority"}
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the root CA certificate (PEM), for clients to trust",
		Args:  cobra.NoArgs,
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
