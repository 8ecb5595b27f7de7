package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the control plane's Prometheus metrics, in a registry of the server's own so that
// several servers in one test process do not collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	minted   prometheus.Counter
}

func newMetrics(keyStates func() map[string]int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lanyard_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		minted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanyard_tokens_minted_total", Help: "Access tokens minted.",
		}),
	}
	states := prometheus.NewDesc("lanyard_signing_keys", "Token-signing keys by state.", []string{"state"}, nil)
	m.reg.MustRegister(m.requests, m.latency, m.minted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectorFunc{desc: states, collect: func(ch chan<- prometheus.Metric) {
			for _, st := range []string{"pending", "active", "retired"} {
				ch <- prometheus.MustNewConstMetric(states, prometheus.GaugeValue, float64(keyStates()[st]), st)
			}
		}})
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// collectorFunc is a collector of one description computed at scrape time.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
