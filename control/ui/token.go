package ui

import (
	"crypto/subtle"
	"net/http"
	"time"
)

// tokenCookie keeps a browser's token once it gave it in the address.
const tokenCookie = "shardgate_ui_token"

// RequireToken lets through only requests that carry token: as
// "Authorization: Bearer <token>" (scripts), or once as ?token=<token>
// in the address, after which the browser keeps it in an HttpOnly,
// SameSite=Strict cookie (the pages' links and refreshes do not repeat
// it). /healthz stays open for probes. An empty token requires nothing.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	match := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && match(q) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int((30 * 24 * time.Hour).Seconds())})
			next.ServeHTTP(w, r)
			return
		}
		if auth := r.Header.Get("Authorization"); auth != "" && match(stripBearer(auth)) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && match(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="shardgate admin UI"`)
		http.Error(w, "the admin UI needs its token (shardctl serve --token-file): open it once as /?token=<token>, or send Authorization: Bearer <token>", http.StatusUnauthorized)
	})
}

func stripBearer(h string) string {
	const prefix = "Bearer "
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}
