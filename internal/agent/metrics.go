package agent

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// The endpoint labels.
const (
	epAppService = "appservice"
	epIMDS       = "imds"
)

// metrics is the agent's own registry and what it counts.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec // endpoint, code
	hits      *prometheus.CounterVec // endpoint
	misses    *prometheus.CounterVec // endpoint
	throttled *prometheus.CounterVec // endpoint, reason
	mint      *prometheus.HistogramVec
	events    *prometheus.CounterVec // kind
	restarts  *prometheus.CounterVec // app
	deploys   *prometheus.CounterVec // app, result: a function app's versions started (served) or not (failed)

	// resolved once: the hot path does no label lookup
	ep map[string]*epMetrics
}

type epMetrics struct {
	name      string
	ok, hit   prometheus.Counter
	miss      prometheus.Counter
	requests  *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

func newMetrics(c *cache) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_requests_total", Help: "Token requests answered, by endpoint and HTTP status.",
		}, []string{"endpoint", "code"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_token_cache_hits_total", Help: "Token requests answered from the cache.",
		}, []string{"endpoint"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_token_cache_misses_total", Help: "Token requests that waited for a mint.",
		}, []string{"endpoint"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_throttled_total", Help: "Token requests refused with 429, by endpoint and limit.",
		}, []string{"endpoint", "limit"}),
		mint: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lanyard_agent_mint_duration_seconds", Help: "Calls to the control plane's token endpoint, by result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_events_total", Help: "Events from the control plane acted on, by kind.",
		}, []string{"kind"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_app_restarts_total", Help: "Times an app was started again after it exited.",
		}, []string{"app"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_agent_function_deploys_total", Help: "Function app versions (a package, or new settings) the agent started: served, or failed (the previous version kept serving).",
		}, []string{"app", "result"}),
		ep: map[string]*epMetrics{},
	}
	m.reg.MustRegister(m.requests, m.hits, m.misses, m.throttled, m.mint, m.events, m.restarts, m.deploys,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lanyard_agent_cached_tokens", Help: "Tokens in the cache.",
		}, func() float64 { return float64(c.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lanyard_agent_token_cache_bytes", Help: "Bytes the cached tokens are counted as against token_cache.max_bytes.",
		}, func() float64 { return float64(c.size()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lanyard_agent_token_cache_evictions_total", Help: "Cached tokens evicted to stay within token_cache.max_tokens and max_bytes.",
		}, func() float64 { return float64(c.evictions.Load()) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, name := range []string{epAppService, epIMDS} {
		m.ep[name] = &epMetrics{
			name:      name,
			ok:        m.requests.WithLabelValues(name, "200"),
			hit:       m.hits.WithLabelValues(name),
			miss:      m.misses.WithLabelValues(name),
			requests:  m.requests,
			throttled: m.throttled,
		}
	}
	return m
}

// answered counts a response of the endpoint.
func (e *epMetrics) answered(status int, err error) {
	if status == 200 {
		e.ok.Inc()
		return
	}
	e.requests.WithLabelValues(e.name, strconv.Itoa(status)).Inc()
	var te *throttledError
	if errors.As(err, &te) {
		e.throttled.WithLabelValues(e.name, te.what).Inc()
	}
}

// observeMint records one call to the server.
func (m *metrics) observeMint(d time.Duration, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errs.Is(err, errs.Invalid) || errs.Is(err, errs.Denied):
		result = "refused"
	default:
		result = "error"
	}
	m.mint.WithLabelValues(result).Observe(d.Seconds())
}
