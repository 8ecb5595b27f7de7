package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// addLinkLocal puts the link-local address of hostport on the dummy interface lanyard0 (made
// when missing; on the loopback interface where the kernel has no dummy interfaces) with the ip
// command, and returns what takes it away again. Nothing is sent to
// the address. It needs CAP_NET_ADMIN.
func addLinkLocal(ctx context.Context, log *slog.Logger, hostport string) (undo func(), err error) {
	addr, need := needsLink(hostport)
	if !need {
		return func() {}, nil
	}
	create := !linkExists()
	up, down := linkCommands(addr, create)
	link := dummyLink
	run := func(argv []string) error {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("`%s`: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	undo = func() {
		for _, argv := range down {
			out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
			if err != nil {
				log.Warn("removing the IMDS address", slog.String("command", strings.Join(argv, " ")),
					slog.String("error", err.Error()), slog.String("output", strings.TrimSpace(string(out))))
			}
		}
	}
	if create {
		if err := run(up[0]); err != nil {
			// No dummy interfaces in this kernel: the loopback interface holds the address.
			log.Warn("no dummy interface: the IMDS address goes on the loopback interface", slog.String("error", err.Error()))
			up, down = loopbackCommands(addr)
			link = "lo"
		} else {
			up = up[1:]
		}
	}
	for i, argv := range up {
		if err := run(argv); err != nil {
			if i > 0 || link == dummyLink && create {
				undo()
			}
			return nil, fmt.Errorf("putting %s on the interface %s (imds.listen on a link-local address needs CAP_NET_ADMIN): %w",
				addr, link, err)
		}
	}
	log.Info("IMDS address added", slog.String("address", addr.String()), slog.String("interface", link))
	return undo, nil
}
