package agent

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// rememberFile is where an agent with Config.Remember keeps its endpoint's address and the
// headers of the apps registered on its control socket (mode 0600: it holds their headers).
const rememberFile = "remembered.json"

// remembered is rememberFile's content.
type remembered struct {
	Listen string          `json:"listen"`
	Apps   []rememberedApp `json:"apps"`

	mu   sync.Mutex
	path string
	log  *slog.Logger
}

type rememberedApp struct {
	Name   string `json:"name"`
	Site   string `json:"site"`
	Header string `json:"header"`
	Port   int    `json:"port,omitempty"` // its PORT, when the agent has a front door
}

// headerRE is the shape of the headers newHeader makes; a remembered one must have it.
var headerRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// loadRemembered reads dir's rememberFile; a missing file is an empty one, an unreadable one is
// logged and replaced.
func loadRemembered(dir string, log *slog.Logger) *remembered {
	r := &remembered{path: filepath.Join(dir, rememberFile), log: log}
	raw, err := os.ReadFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return r
	}
	if err == nil {
		err = json.Unmarshal(raw, r)
	}
	if err != nil {
		log.Warn("the agent's remembered endpoint and apps are unreadable: starting afresh", slog.String("file", r.path), slog.Any("error", err))
		r.Listen, r.Apps = "", nil
	}
	return r
}

// listen opens the endpoint's listener on the remembered address when addr is the default
// (any free loopback port) and that address is free again, else on addr.
func (r *remembered) listen(addr string) (net.Listener, error) {
	if addr == DefaultListen && r.Listen != "" {
		ln, err := net.Listen("tcp", r.Listen)
		if err == nil {
			return ln, nil
		}
		r.log.Warn("the endpoint's address of the last run is taken: it moves, and shells and apps given the old one must be given the new one (`lanyard dev env`)",
			slog.String("address", r.Listen), slog.Any("error", err))
	}
	return net.Listen("tcp", addr)
}

// app returns the remembered header of the app name for site, if any.
func (r *remembered) app(name, site string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.Apps {
		if a.Name == name && a.Site == site && headerRE.MatchString(a.Header) {
			return []byte(a.Header)
		}
	}
	return nil
}

// port returns the remembered PORT of the app name for site when it is free again, else 0.
func (r *remembered) port(name, site string) int {
	r.mu.Lock()
	var p int
	for _, a := range r.Apps {
		if a.Name == name && a.Site == site {
			p = a.Port
		}
	}
	r.mu.Unlock()
	if p < 1 || p > 65535 {
		return 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		r.log.Warn("an app's port of the last run is taken: it gets another, and a shell given the old one must be given the new one (`lanyard dev env`)",
			slog.String("app", name), slog.Int("port", p))
		return 0
	}
	ln.Close()
	return p
}

// save writes the endpoint's address and the apps' headers.
func (r *remembered) save(listen string, apps []rememberedApp) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Listen, r.Apps = listen, apps
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(r.path, append(raw, '\n'), 0o600)
}

// restoreApps registers again the apps remembered from the last run, with their headers.
func (a *Agent) restoreApps() {
	for _, ra := range slices.Clone(a.remember.Apps) {
		cfg := AppConfig{Site: ra.Site, Name: ra.Name}.withDefaults()
		if cfg.validate(false) != nil || !headerRE.MatchString(ra.Header) {
			continue
		}
		if _, err := a.StartApp(a.life, cfg); err != nil {
			a.log.Warn("a remembered app could not be registered again", slog.String("app", ra.Name), slog.Any("error", err))
		}
	}
}

// saveRemembered records the endpoint's address and the current headers of the apps registered
// without a command (those of the control socket); apps the agent runs itself get a new header
// at each start and are not remembered.
func (a *Agent) saveRemembered() {
	if a.remember == nil {
		return
	}
	var apps []rememberedApp
	a.apps.mu.RLock()
	for _, ap := range a.apps.byName {
		if ap.log == nil {
			apps = append(apps, rememberedApp{Name: ap.cfg.Name, Site: ap.cfg.Site, Header: string(ap.header), Port: ap.port})
		}
	}
	a.apps.mu.RUnlock()
	slices.SortFunc(apps, func(x, y rememberedApp) int { return strings.Compare(x.Name, y.Name) })
	if err := a.remember.save(a.ln.Addr().String(), apps); err != nil {
		a.log.Warn("the agent could not record its endpoint and apps for its next start", slog.Any("error", errs.Wrap(errs.Internal, err, "writing "+rememberFile)))
	}
}
