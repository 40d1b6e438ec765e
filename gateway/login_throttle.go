package gateway

import (
	"context"
	"net"
	"sync"
	"time"
)

// loginThrottle slows password guessing: after freeLoginFailures failed
// logins from one client address within loginFailureWindow, each further
// failure from it is answered only after a delay that doubles up to
// maxLoginDelay. The guesser gets a handful of tries per minute instead
// of hundreds per second; a legitimate client that typed its password
// wrong twice is not slowed at all, and its next success clears the
// count.
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string]*loginFailures
	now      func() time.Time
}

type loginFailures struct {
	count int
	last  time.Time
}

const (
	freeLoginFailures  = 5
	loginFailureWindow = time.Minute
	firstLoginDelay    = 250 * time.Millisecond
	maxLoginDelay      = 5 * time.Second
	// maxTrackedAddresses bounds the table: past it, the oldest entries
	// are dropped first.
	maxTrackedAddresses = 100000
)

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{failures: map[string]*loginFailures{}, now: time.Now}
}

// failed records a failed login from addr and returns how long to wait
// before answering it. A nil throttle never waits.
func (t *loginThrottle) failed(addr net.Addr) time.Duration {
	if t == nil {
		return 0
	}
	key := addressKey(addr)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.failures[key]
	if f == nil || now.Sub(f.last) > loginFailureWindow {
		if len(t.failures) >= maxTrackedAddresses {
			t.forgetOld(now)
		}
		f = &loginFailures{}
		t.failures[key] = f
	}
	f.count++
	f.last = now
	if f.count <= freeLoginFailures {
		return 0
	}
	delay := firstLoginDelay << min(f.count-freeLoginFailures-1, 10)
	return min(delay, maxLoginDelay)
}

// succeeded clears addr's failures.
func (t *loginThrottle) succeeded(addr net.Addr) {
	if t == nil {
		return
	}
	key := addressKey(addr)
	t.mu.Lock()
	delete(t.failures, key)
	t.mu.Unlock()
}

// forgetOld drops entries older than the window, and if that is not
// enough, all of them (a flood from many addresses). t.mu is held.
func (t *loginThrottle) forgetOld(now time.Time) {
	for k, f := range t.failures {
		if now.Sub(f.last) > loginFailureWindow {
			delete(t.failures, k)
		}
	}
	if len(t.failures) >= maxTrackedAddresses {
		t.failures = map[string]*loginFailures{}
	}
}

// addressKey is the client's IP address (its port changes with every
// connection).
func addressKey(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	if addr == nil {
		return ""
	}
	return addr.String()
}

// wait sleeps for d unless ctx ends first.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
