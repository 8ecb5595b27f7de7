package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/frontdoor"
	"github.com/lanyardhq/lanyard/internal/functions"
	"github.com/lanyardhq/lanyard/internal/pkgzip"
)

// The agent's side of function apps: which sites it hosts in-process with a function host
// (package functions), fetching their deployment package, checking its digest, unpacking it
// (package pkgzip) and switching to it without losing a request; the host's configuration
// (environment, settings, keys, Key Vault reads, timer claims, sandbox, log, metrics).
//
// A site is hosted in-process when its app was registered with a script root to run in place
// (AppConfig.Functions), or when it has no command, its kind is a function app's and a package
// is deployed. A function-app site with neither keeps being served as before: proxied to the
// process the caller of StartApp runs on $PORT (`lanyard app run`), so that deploying a package
// is what makes the agent host it.

// FunctionHost is a running function host as the agent uses it: a functions.Host, or what
// Config.FunctionHost makes.
type FunctionHost interface {
	http.Handler
	// Close stops the host, letting its invocations in flight finish until ctx ends.
	Close(ctx context.Context) error
}

// StartFunctionHost starts a functions.Host: the default of Config.FunctionHost.
func StartFunctionHost(ctx context.Context, cfg functions.Config) (FunctionHost, error) {
	h, err := functions.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// The function apps' timing and limits (Lanyard's own: App Service's zip deploy documents none).
const (
	fnStartTimeout = 2 * time.Minute  // a new host must be ready within this
	fnDrainTimeout = 4 * time.Minute  // the old host's requests in flight (the front door gives up at 230 s)
	fnRetryAfter   = 30 * time.Second // a version that failed is tried again after this (or when the site changes)
	maxPackageSize = 2 << 30          // a package the server describes as larger is refused (the server's own limit is at most this)
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// unpackLimits bound what a package unpacks to: pkgzip's defaults, but room for what the largest
// package the server takes (2 GiB) may hold.
var unpackLimits = pkgzip.Limits{MaxTotal: 4 << 30, MaxFile: 2 << 30}

// fnApp is one function app the agent hosts: the version serving now, and the loop that
// deploys the next one.
type fnApp struct {
	a    *Agent
	ap   *app
	dir  string // {state_dir}/functions/{name}: one directory per version, by digest, and home
	log  *appLog
	keys fnKeys
	sec  fnSecrets // one per app: its vault client outlives the versions
	cur  atomic.Pointer[fnVersion]

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	want agentapi.Site // the latest the server said of the site

	// owned by the loop
	failedKey string
	failedAt  time.Time
}

// fnVersion is one started host: a package (or the local script root) with one set of
// settings. refs counts the requests in it, plus one while it is the current version; the host
// is closed when it is no longer current and refs reaches zero (drained).
type fnVersion struct {
	key     string // what it was started from: the digest and the settings' hash
	label   string // the digest, or "local", for logs
	dir     string
	host    FunctionHost
	refs    atomic.Int64
	drained chan struct{}
}

func (v *fnVersion) acquire() bool {
	for {
		n := v.refs.Load()
		if n <= 0 {
			return false
		}
		if v.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (v *fnVersion) release() {
	if v.refs.Add(-1) == 0 {
		close(v.drained)
	}
}

// ServeHTTP serves a request with the current version. A request that took hold of a version
// is served by it to its end, even when a newer one is swapped in meanwhile: the old host is
// closed only once its last request is done.
func (fa *fnApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for {
		v := fa.cur.Load()
		if v == nil {
			// The front door answers 503 itself while the site is Starting; this is the window
			// before it learns the state.
			http.Error(w, "503 Service Unavailable: the function app is starting.", http.StatusServiceUnavailable)
			return
		}
		if v.acquire() {
			defer v.release()
			v.host.ServeHTTP(w, r)
			return
		}
		// v was swapped out between the load and the acquire: the next load sees its successor.
	}
}

// hostsFunctions says whether ap's site s is a function app the agent hosts in-process.
func hostsFunctions(ap *app, s agentapi.Site) bool {
	if ap.cfg.Functions != "" {
		return true
	}
	return len(ap.cfg.Command) == 0 && strings.Contains(strings.ToLower(s.Kind), "functionapp") &&
		s.Functions != nil && s.Functions.Package != nil
}

// functionApp returns the fnApp of ap for the site s the server described, starting it when
// new and handing it s (its loop deploys what changed); nil when the site is not hosted
// in-process, after stopping the fnApp it had. Called by syncSites, with the door's lock held.
func (a *Agent) functionApp(ap *app, s agentapi.Site) *fnApp {
	a.fnMu.Lock()
	defer a.fnMu.Unlock()
	fa := a.fns[ap.cfg.Name]
	if fa != nil && fa.ap != ap { // an app of that name stopped and another started
		fa.cancel() // it drains and closes by itself; the door's lock is not held for that
		delete(a.fns, ap.cfg.Name)
		fa = nil
	}
	if !hostsFunctions(ap, s) {
		if fa != nil {
			fa.cancel()
			delete(a.fns, ap.cfg.Name)
			a.setState(ap.cfg.Name, frontdoor.Running) // proxied again, as any app without a command
		}
		return nil
	}
	if fa == nil {
		if !ap.settled.Load() {
			// Its sandbox is still being made: no worker may start outside it. The front door
			// answers 503 (starting) until the sync after sandboxApp.
			a.setState(ap.cfg.Name, frontdoor.Starting)
			return nil
		}
		var err error
		if fa, err = a.newFnApp(ap); err != nil {
			a.log.Error("function app: cannot start", slog.String("app", ap.cfg.Name), slog.String("error", err.Error()))
			return nil
		}
		a.fns[ap.cfg.Name] = fa
		a.setState(ap.cfg.Name, frontdoor.Starting)
	}
	if s.Functions != nil {
		fa.keys.set(s.Functions.Keys) // in place: the running host sees them at once
	} else {
		fa.keys.set(agentapi.FunctionKeys{})
	}
	fa.mu.Lock()
	fa.want = s
	fa.mu.Unlock()
	select {
	case fa.kick <- struct{}{}:
	default:
	}
	return fa
}

// stopFunctions stops the function app of ap, if it has one (its app stopped), and waits for
// its host to drain and close; with wait false it does not wait (syncSites, under the door's
// lock).
func (a *Agent) stopFunctions(ap *app, wait bool) {
	a.fnMu.Lock()
	fa := a.fns[ap.cfg.Name]
	if fa != nil && fa.ap == ap {
		delete(a.fns, ap.cfg.Name)
	} else {
		fa = nil
	}
	a.fnMu.Unlock()
	if fa != nil {
		fa.cancel()
		if wait {
			<-fa.done
		}
	}
}

func (a *Agent) newFnApp(ap *app) (*fnApp, error) {
	dir := filepath.Join(a.cfg.StateDir, "functions", ap.cfg.Name)
	for _, sub := range []string{"home", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "creating the function app's directory")
		}
	}
	log := ap.log
	if log == nil {
		var err error
		if log, err = openAppLog(LogPath(a.cfg.StateDir, ap.cfg.Name), maxAppLog); err != nil {
			return nil, err
		}
	}
	fa := &fnApp{a: a, ap: ap, dir: dir, log: log, sec: fnSecrets{a: a, ap: ap}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	fa.ctx, fa.cancel = context.WithCancel(a.life)
	go fa.loop()
	return fa, nil
}

// loop deploys what the site asks for, one version at a time, until the app stops.
func (fa *fnApp) loop() {
	defer close(fa.done)
	defer func() {
		if fa.ap.log == nil {
			fa.log.Close()
		}
	}()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-fa.ctx.Done():
			if v := fa.cur.Swap(nil); v != nil {
				fa.retire(v)
			}
			return
		case <-fa.kick:
		case <-retry.C:
		}
		if fa.apply() {
			retry.Reset(fnRetryAfter)
		}
	}
}

// apply deploys the site's wanted version when it is not the one serving; it reports whether a
// failed version waits to be tried again.
func (fa *fnApp) apply() (failed bool) {
	fa.mu.Lock()
	s := fa.want
	fa.mu.Unlock()
	key, label := fa.versionKey(s)
	if cur := fa.cur.Load(); cur != nil && cur.key == key {
		return false
	}
	if key == fa.failedKey && fa.a.now().Sub(fa.failedAt) < fnRetryAfter {
		return true
	}
	if err := fa.deploy(s, key, label); err != nil {
		if fa.ctx.Err() != nil {
			return false
		}
		fa.failedKey, fa.failedAt = key, fa.a.now()
		fa.a.met.deploys.WithLabelValues(fa.ap.cfg.Name, "failed").Inc()
		msg := "version " + label + " failed to start: " + err.Error()
		if fa.cur.Load() != nil {
			msg += "; the previous version keeps serving"
		}
		fa.a.log.Warn("function app: a version failed to start", slog.String("app", fa.ap.cfg.Name), slog.String("version", label), slog.String("error", err.Error()))
		fa.a.note(fa.noteTarget(), msg)
		return true
	}
	fa.failedKey = ""
	fa.a.met.deploys.WithLabelValues(fa.ap.cfg.Name, "served").Inc()
	return false
}

// noteTarget is an app value whose log is fa's (note writes to ap.log).
func (fa *fnApp) noteTarget() *app {
	return &app{cfg: fa.ap.cfg, log: fa.log}
}

// versionKey names what a host is started from: the package's digest (or the local root) and
// a hash of the settings (the keys are not in it: they change in place).
func (fa *fnApp) versionKey(s agentapi.Site) (key, label string) {
	label = "local"
	if fa.ap.cfg.Functions == "" && s.Functions != nil && s.Functions.Package != nil {
		label = s.Functions.Package.Digest
	}
	h := sha256.New()
	names := make([]string, 0, len(s.Settings))
	for k := range s.Settings {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		writeLen(h, k)
		writeLen(h, s.Settings[k])
	}
	// The site's own names and Easy Auth end up in the workers' environment too.
	writeLen(h, s.Name)
	writeLen(h, s.HostName)
	writeLen(h, strconv.FormatBool(s.Auth != nil))
	return label + "/" + hex.EncodeToString(h.Sum(nil)), label
}

func writeLen(h hash.Hash, s string) {
	fmt.Fprintf(h, "%d:%s", len(s), s)
}

// deploy makes the version key ready (fetching and unpacking its package unless it is on disk
// already), starts its host, and swaps it in; then the old version drains and is closed, and
// the directories of versions no longer used are removed.
func (fa *fnApp) deploy(s agentapi.Site, key, label string) error {
	root := fa.ap.cfg.Functions
	if root == "" {
		var err error
		if root, err = fa.unpacked(s.Functions.Package); err != nil {
			return err
		}
	}
	cfg := fa.a.functionsConfig(fa, s, root)
	ctx, cancel := context.WithTimeout(fa.ctx, fnStartTimeout)
	defer cancel()
	start := fa.a.cfg.FunctionHost
	if start == nil {
		start = StartFunctionHost
	}
	host, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	if fa.ctx.Err() != nil { // stopped while it started: it never serves
		_ = host.Close(context.WithoutCancel(ctx))
		return fa.ctx.Err()
	}
	v := &fnVersion{key: key, label: label, dir: root, host: host, drained: make(chan struct{})}
	v.refs.Store(1)
	old := fa.cur.Swap(v)
	fa.a.setState(fa.ap.cfg.Name, frontdoor.Running)
	fa.a.log.Info("function app: version serving", slog.String("app", fa.ap.cfg.Name), slog.String("version", label))
	fa.a.note(fa.noteTarget(), "version "+label+" serving")
	if old != nil {
		fa.retire(old)
	}
	if fa.ctx.Err() == nil {
		fa.cleanup()
	}
	return nil
}

// retire drops v's hold as the current version, waits for its requests in flight (up to
// fnDrainTimeout) and closes its host.
func (fa *fnApp) retire(v *fnVersion) {
	v.release()
	t := time.NewTimer(fnDrainTimeout)
	select {
	case <-v.drained:
	case <-t.C:
		fa.a.log.Warn("function app: the old version's requests did not finish in time; closing it", slog.String("app", fa.ap.cfg.Name), slog.String("version", v.label))
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(fa.ctx), fnDrainTimeout)
	defer cancel()
	if err := v.host.Close(ctx); err != nil {
		fa.a.log.Warn("function app: closing a host", slog.String("app", fa.ap.cfg.Name), slog.String("version", v.label), slog.String("error", err.Error()))
	}
}

// cleanup removes the version directories (and leftovers of interrupted downloads) that the
// current version does not use.
func (fa *fnApp) cleanup() {
	cur := fa.cur.Load()
	entries, err := os.ReadDir(fa.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(fa.dir, e.Name())
		if e.Name() == "home" || e.Name() == "work" || cur != nil && p == cur.dir {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			fa.a.log.Warn("function app: removing an old version", slog.String("app", fa.ap.cfg.Name), slog.String("dir", p), slog.String("error", err.Error()))
		}
	}
}

// unpacked returns the directory of package p, fetching, checking and unpacking it when it is
// not on disk yet. The directory appears whole or not at all: the package is unpacked beside
// it and renamed into place, so a directory of that name (after a restart, say) is the package
// of that digest.
func (fa *fnApp) unpacked(p *agentapi.Package) (string, error) {
	if !digestRE.MatchString(p.Digest) {
		return "", errs.E(errs.Invalid, "the package's digest %q is not sha256:<64 hex digits>", clip(p.Digest))
	}
	if p.Size <= 0 || p.Size > maxPackageSize {
		return "", errs.E(errs.Invalid, "the package's size %d is not between 1 and %d bytes", p.Size, maxPackageSize)
	}
	hexDigest := strings.TrimPrefix(p.Digest, "sha256:")
	dir := filepath.Join(fa.dir, hexDigest)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	zf, err := os.CreateTemp(fa.dir, ".zip-"+hexDigest[:12]+"-*")
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "creating the package's download file")
	}
	defer os.Remove(zf.Name())
	defer zf.Close()
	ctx, cancel := context.WithTimeout(fa.ctx, fnStartTimeout)
	defer cancel()
	err = fa.a.up.download(ctx, agentapi.PathPackages+"/"+p.Digest, func(body io.Reader) error {
		if _, err := zf.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := zf.Truncate(0); err != nil {
			return err
		}
		// The digest is checked on the bytes as they arrive; at most Size+1 are read.
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(zf, h), io.LimitReader(body, p.Size+1))
		switch {
		case err != nil:
			return fmt.Errorf("downloading the package: %w", err)
		case n != p.Size:
			return errs.E(errs.Invalid, "the package downloaded is %s bytes, not the %d its description says", sizeWord(n, p.Size), p.Size)
		case "sha256:"+hex.EncodeToString(h.Sum(nil)) != p.Digest:
			return errs.E(errs.Invalid, "the package downloaded does not have the digest %s: refused", p.Digest)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := filepath.Join(fa.dir, ".unpack-"+hexDigest[:12]+"-"+hex.EncodeToString(suffix[:]))
	if err := pkgzip.Unpack(zf, p.Size, tmp, unpackLimits); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return dir, nil // unpacked meanwhile by the app's previous loop, still stopping
		}
		return "", errs.Wrap(errs.Internal, err, "moving the unpacked package into place")
	}
	return dir, nil
}

func sizeWord(n, want int64) string {
	if n > want {
		return "over " + strconv.FormatInt(want, 10)
	}
	return strconv.FormatInt(n, 10)
}

// functionsConfig is the host's configuration for fa's site s, run from root.
func (a *Agent) functionsConfig(fa *fnApp, s agentapi.Site, root string) functions.Config {
	ap := fa.ap
	cfg := functions.Config{
		Name: s.Name, HostName: s.HostName, Root: root,
		Env:      a.functionsEnv(fa, s, root),
		Settings: maps.Clone(s.Settings),
		Keys:     &fa.keys,
		Secrets:  &fa.sec,
		Timers:   &fnTimers{a: a, site: ap.cfg.Site},
		Log:      a.log.With(slog.String("app", ap.cfg.Name)),
		// The host's own files (the Node worker's script): beside the versions, where the
		// app's sandbox sees them as it sees the package.
		WorkDir:     filepath.Join(fa.dir, "work"),
		FunctionLog: fa.log,
		// The host's collectors are labelled by site and function, and a second host (the next
		// version, another app) shares them: counts go on across deploys.
		Registerer: a.met.reg,
		Now:        a.now,
	}
	if cfg.Name == "" {
		cfg.Name = ap.cfg.Name
	}
	if sb := ap.sb.Load(); sb != nil {
		cfg.Command = func(argv []string) (*exec.Cmd, error) { return sb.Command(argv) }
		cfg.Dial = sb.Netns.Dial
	}
	return cfg
}

// functionsEnv is the workers' environment besides the app settings: the agent's own (less the
// identity variables of another source), the app's configured variables, its identity (in its
// sandbox when it has one), then what App Service sets for a function app (functions.md §10).
func (a *Agent) functionsEnv(fa *fnApp, s agentapi.Site, root string) []string {
	// Not a.env: what the front door adds (its PORT is for apps that listen themselves; the host
	// gives its workers their ports) is set below from s, without the door's lock, which
	// syncSites holds while it waits for nothing of this loop.
	identity := a.identityEnv(fa.ap)
	a.sandboxEnv(fa.ap, identity)
	vars := a.baseEnv(fa.ap, identity)
	name := s.Name
	if name == "" {
		name = fa.ap.cfg.Name
	}
	vars["WEBSITE_SITE_NAME"] = name // Azure's
	if s.HostName != "" {
		vars["WEBSITE_HOSTNAME"] = s.HostName // Azure's: the default host name
	}
	sub, rg := siteScope(fa.ap.cfg.Site)
	if rg != "" {
		vars["WEBSITE_RESOURCE_GROUP"] = rg
		// Azure's is "{subscription}+{resourceGroup}-{region}webspace" (format unverified,
		// functions.md §10); Lanyard has no regions of its own and says "Lanyard".
		vars["WEBSITE_OWNER_NAME"] = sub + "+" + rg + "-Lanyardwebspace"
	}
	// Azure's is an opaque id of the instance; Lanyard's instance is the node.
	vars["WEBSITE_INSTANCE_ID"] = a.state.enrollment().NodeID
	// Azure's is /home, shared by the app's instances; Lanyard's is a directory of the app's
	// own on the node, kept across deploys.
	vars["HOME"] = filepath.Join(fa.dir, "home")
	vars["AzureWebJobsScriptRoot"] = root
	delete(vars, "WEBSITE_AUTH_ENABLED")
	if s.Auth != nil {
		vars["WEBSITE_AUTH_ENABLED"] = "True" // Azure's, when Easy Auth is on
	}
	return Env(vars).List()
}

// siteScope returns the subscription and resource group of a site's ARM id (the first of each
// keyword: a site's id ends with its name, so no name is read as one).
func siteScope(id string) (sub, rg string) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		switch strings.ToLower(parts[i]) {
		case "subscriptions":
			if sub == "" {
				sub = parts[i+1]
			}
		case "resourcegroups":
			if rg == "" {
				rg = parts[i+1]
			}
		}
	}
	return sub, rg
}
