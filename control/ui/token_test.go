package ui

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequireToken(t *testing.T) {
	h := RequireToken("s3cret", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) }))
	do := func(path, auth string, cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("/", "", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", rec.Code)
	}
	if rec := do("/?token=wrong", "", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", rec.Code)
	}
	if rec := do("/", "Bearer s3cret", nil); rec.Code != http.StatusOK {
		t.Errorf("bearer: %d", rec.Code)
	}
	rec := do("/?token=s3cret", "", nil)
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("token in the address: %d, cookies %v", rec.Code, cookies)
	}
	if rec := do("/queries", "", cookies[0]); rec.Code != http.StatusOK {
		t.Errorf("with the cookie: %d", rec.Code)
	}
	if rec := do("/healthz", "", nil); rec.Code != http.StatusOK {
		t.Errorf("/healthz: %d", rec.Code)
	}
}
