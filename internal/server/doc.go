// Package server assembles a control plane: it opens the store, checks the key-encryption key,
// builds each domain's service, mounts their routes on one mux, and runs the listeners and the
// background tasks in one errgroup. It holds no rules of its own.
package server
