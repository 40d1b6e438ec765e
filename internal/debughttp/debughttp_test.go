package debughttp

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestRedactArgs(t *testing.T) {
	got := RedactArgs([]string{"shardtablet", "--mysql-password=s3cret", "--replication-password", "r3pl", "--mysql-password-file", "/run/pw", "--alias", "zone1-100", "--tls-key=/k.pem"})
	want := []string{"shardtablet", "--mysql-password=<redacted>", "--replication-password", "<redacted>", "--mysql-password-file", "/run/pw", "--alias", "zone1-100", "--tls-key=<redacted>"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RedactArgs:\n got %q\nwant %q", got, want)
	}
}

func TestDebugPagesNeedTheToken(t *testing.T) {
	mux := Mux(NewRegistry("test"), func(w io.Writer) { _, _ = io.WriteString(w, "status") }, WithToken("t0k"))
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/debug/status", "", http.StatusUnauthorized},
		{"/debug/status", "Bearer wrong", http.StatusUnauthorized},
		{"/debug/status", "Bearer t0k", http.StatusOK},
		{"/debug/status?token=t0k", "", http.StatusOK},
		{"/debug/pprof/cmdline", "", http.StatusUnauthorized},
		{"/metrics", "", http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("GET %s (Authorization %q): %d, want %d", c.path, c.auth, rec.Code, c.want)
		}
	}
}

func TestReadyzFollowsReadyAndHealthzDoesNot(t *testing.T) {
	var notReady error = errors.New("topology not read yet")
	mux := Mux(NewRegistry("test"), func(io.Writer) {}, WithToken("t0k"), WithReady(func() error { return notReady }))
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "topology not read yet") {
		t.Errorf("/readyz while not ready: %d %q, want 503 with the reason", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready: %d, want 200 (the process is alive)", code)
	}
	notReady = nil
	if code, body := get("/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz once ready: %d %q, want 200 ready", code, body)
	}
}
