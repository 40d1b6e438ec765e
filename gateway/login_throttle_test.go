package gateway

import (
	"net"
	"testing"
	"time"
)

func TestLoginThrottle(t *testing.T) {
	th := newLoginThrottle()
	now := time.Unix(1000, 0)
	th.now = func() time.Time { return now }
	attacker := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 1}
	other := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 10), Port: 2}
	var delays []time.Duration
	for i := 0; i < 12; i++ {
		attacker.Port++ // a new connection each time: the address counts, not the port
		delays = append(delays, th.failed(attacker))
	}
	for i, d := range delays[:freeLoginFailures] {
		if d != 0 {
			t.Errorf("failure %d delayed %v: the first %d are free", i+1, d, freeLoginFailures)
		}
	}
	if delays[5] != firstLoginDelay || delays[6] != 2*firstLoginDelay || delays[11] != maxLoginDelay {
		t.Errorf("delays %v: want %v doubling to %v", delays, firstLoginDelay, maxLoginDelay)
	}
	if d := th.failed(other); d != 0 {
		t.Errorf("another address was slowed: %v", d)
	}
	th.succeeded(attacker)
	if d := th.failed(attacker); d != 0 {
		t.Errorf("after a success: delayed %v", d)
	}
	for i := 0; i < 10; i++ {
		th.failed(other)
	}
	now = now.Add(2 * loginFailureWindow)
	if d := th.failed(other); d != 0 {
		t.Errorf("failures older than the window still count: %v", d)
	}
}
