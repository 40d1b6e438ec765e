// Package debughttp serves what every Shardgate process exposes on its HTTP
// port: Prometheus metrics, a status page, a liveness probe (/healthz), a
// readiness probe (/readyz) and pprof.
package debughttp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors,
// so every process reports memory, goroutines and CPU the same way, and
// <process>_build_info, which says what build runs (1, with the version,
// the VCS revision and the Go version as labels), as Prometheus
// exporters do.
func NewRegistry(process string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo(process))
	return reg
}

func buildInfo(process string) prometheus.Collector {
	labels := prometheus.Labels{"version": "unknown", "revision": "unknown", "goversion": runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		labels["version"] = info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				labels["revision"] = s.Value
			}
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.modified" && s.Value == "true" {
				labels["revision"] += "-modified"
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: process + "_build_info", Help: "The build running: always 1; its labels say which.", ConstLabels: labels,
	}, func() float64 { return 1 })
}

// StatusFunc writes a plain-text status page.
type StatusFunc func(w io.Writer)

// Option changes what Mux serves.
type Option func(*options)

type options struct {
	token string
	ready func() error
}

// WithToken requires token for /debug/* (the status page and pprof, which
// show the process's state and can slow it down): as "Authorization:
// Bearer <token>" or "?token=<token>". /metrics, /healthz and /readyz stay open
// for scrapers and probes. An empty token requires nothing.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithReady makes /readyz answer 200 "ready" while ready returns nil, and
// 503 with its error otherwise. Without it /readyz answers as /healthz.
// /healthz (liveness: the process answers) and /readyz (readiness: it
// does its work, e.g. a gate that has read the topology, a tablet that
// serves) differ so that an orchestrator restarts a process only when it
// hangs, and merely keeps traffic from one that is not ready. ready may
// be called concurrently.
func WithReady(ready func() error) Option { return func(o *options) { o.ready = ready } }

// Mux returns the standard handlers; callers may add their own routes
// (under /debug/ they get the same token check with Protect).
func Mux(reg *prometheus.Registry, status StatusFunc, opts ...Option) *http.ServeMux {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	protect := func(h http.HandlerFunc) http.Handler { return Protect(o.token, h) }
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/status", protect(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		status(w)
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.ready != nil {
			if err := o.ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/debug/pprof/", protect(pprof.Index))
	mux.Handle("/debug/pprof/cmdline", protect(redactedCmdline))
	mux.Handle("/debug/pprof/profile", protect(pprof.Profile))
	mux.Handle("/debug/pprof/symbol", protect(pprof.Symbol))
	mux.Handle("/debug/pprof/trace", protect(pprof.Trace))
	return mux
}

// Protect requires token (when not empty) before h.
func Protect(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if q := r.URL.Query().Get("token"); q != "" {
			got = []byte("Bearer " + q)
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shardgate debug"`)
			http.Error(w, "this page needs the debug token (--debug-token-file): Authorization: Bearer <token>, or ?token=<token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// redactedCmdline is pprof's cmdline with the values of flags that carry
// secrets replaced: the page is for seeing how a process was started,
// not its passwords.
func redactedCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(RedactArgs(os.Args), "\x00"))
}

// RedactArgs returns args with the values of flags whose names mention a
// password, secret, token or key replaced by "<redacted>".
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	secret := func(flag string) bool {
		name := strings.ToLower(strings.TrimLeft(flag, "-"))
		if strings.HasSuffix(name, "-file") || strings.HasSuffix(name, "_file") {
			return false // a file's name is not the secret
		}
		for _, w := range []string{"password", "passwd", "secret", "token", "key"} {
			if strings.Contains(name, w) {
				return true
			}
		}
		return false
	}
	for i := 1; i < len(out); i++ {
		arg := out[i]
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		if name, _, ok := strings.Cut(arg, "="); ok {
			if secret(name) {
				out[i] = name + "=<redacted>"
			}
			continue
		}
		if secret(arg) && i+1 < len(out) && !strings.HasPrefix(out[i+1], "-") {
			out[i+1] = "<redacted>"
			i++
		}
	}
	return out
}

// Serve listens on addr and serves h until ctx ends. The listener is
// opened before Serve returns, so a port conflict is reported at once.
func Serve(ctx context.Context, addr string, h http.Handler) (<-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return done, nil
}
