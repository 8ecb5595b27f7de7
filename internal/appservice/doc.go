// Package appservice is the server's side of what App Service and Azure Functions keep about a
// site beyond its resource (issue 14): app settings (config/appsettings) and their Key Vault
// references (resolved with the site's identity through the vault's own authorization, with
// Azure's status API, config/configreferences/appsettings), a function app's keys (the master
// key, host, system and per-function keys, sealed at rest, and the ARM key actions listkeys,
// listsecrets and the key writes), deployment packages (zipdeploy, content addressed in the
// store) and the timer ticks nodes claim so that one of them runs each. It serves these ARM
// routes under .../providers/Microsoft.Web/sites/{name}, and gives the agent API (internal/nodes)
// what a node needs to host a function app.
//
// It does not own sites themselves (resources creates them and their identities and checks
// the caller's ARM actions), secrets (vault reads them, as the site's identity), nor the
// function host (internal/functions runs on the nodes).
package appservice
