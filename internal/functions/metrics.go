package functions

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's per-function metrics (Lanyard's own): invocations by result and a
// duration histogram, labelled by site and function.
type metrics struct {
	invocations *prometheus.CounterVec   // site, function, result
	duration    *prometheus.HistogramVec // site, function
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_function_invocations_total", Help: "Function invocations, by site, function and result (succeeded, failed).",
		}, []string{"site", "function", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lanyard_function_duration_seconds", Help: "Duration of function invocations, by site and function.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"site", "function"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.invocations, m.duration} {
			if err := reg.Register(c); err != nil {
				// a second host on the same registerer (another site) shares the collectors
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					switch c.(type) {
					case *prometheus.CounterVec:
						m.invocations = are.ExistingCollector.(*prometheus.CounterVec)
					case *prometheus.HistogramVec:
						m.duration = are.ExistingCollector.(*prometheus.HistogramVec)
					}
				}
			}
		}
	}
	return m
}

// fnMetrics are one function's children, resolved once.
type fnMetrics struct {
	succeeded, failed prometheus.Counter
	duration          prometheus.Observer
}

func (m *metrics) function(site, fn string) *fnMetrics {
	return &fnMetrics{
		succeeded: m.invocations.WithLabelValues(site, fn, "succeeded"),
		failed:    m.invocations.WithLabelValues(site, fn, "failed"),
		duration:  m.duration.WithLabelValues(site, fn),
	}
}

func (f *fnMetrics) observe(ok bool, d time.Duration) {
	if ok {
		f.succeeded.Inc()
	} else {
		f.failed.Inc()
	}
	f.duration.Observe(d.Seconds())
}
