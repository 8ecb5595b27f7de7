package frontdoor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the front door's per-site counters: requests by status class and a latency
// histogram, labelled by site.
type metrics struct {
	requests *prometheus.CounterVec   // site, class
	latency  *prometheus.HistogramVec // site
}

// siteMetrics are one site's children, resolved once so that a request does no label lookup.
type siteMetrics struct {
	class   [6]prometheus.Counter // 1xx … 5xx; [0] other
	latency prometheus.Observer
}

var classes = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_frontdoor_requests_total", Help: "Requests the front door answered, by site and status class.",
		}, []string{"site", "class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lanyard_frontdoor_request_duration_seconds", Help: "Time from a request's arrival to the end of its answer, by site.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 230},
		}, []string{"site"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *metrics) site(name string) *siteMetrics {
	s := &siteMetrics{latency: m.latency.WithLabelValues(name)}
	for i, c := range classes {
		s.class[i] = m.requests.WithLabelValues(name, c)
	}
	return s
}

func (m *metrics) forget(name string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"site": name})
	m.latency.DeleteLabelValues(name)
}

func (s *siteMetrics) observe(status int, d time.Duration) {
	i := status / 100
	if i < 1 || i > 5 {
		i = 0
	}
	s.class[i].Inc()
	s.latency.Observe(d.Seconds())
}
