package cli

import "github.com/spf13/cobra"

// newFunctionAppCmd is "lanyard functionapp", like "az functionapp": the same commands as
// "lanyard webapp", on sites of kind functionapp.
func newFunctionAppCmd(g *globals) *cobra.Command { return newSiteCmd(g, functionAppKind) }
