package localcluster

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// fakeProcess is a process whose exit the test decides.
type fakeProcess struct {
	pid  int
	done chan struct{}
}

func newFake(pid int) *fakeProcess { return &fakeProcess{pid: pid, done: make(chan struct{})} }

func (f *fakeProcess) PID() int              { return f.pid }
func (f *fakeProcess) Done() <-chan struct{} { return f.done }

// fakePart is one supervised part whose processes are fakes.
type fakePart struct {
	mu       sync.Mutex
	now      *fakeProcess
	nextPID  int
	failNext int // restarts to fail before one succeeds
	started  chan *fakeProcess
}

func (p *fakePart) supervised(c *Cluster) supervised {
	return supervised{
		name: "part",
		current: func() process {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.now == nil {
				return nil
			}
			return p.now
		},
		restart: func(process) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.failNext > 0 {
				p.failNext--
				return errTest
			}
			p.nextPID++
			p.now = newFake(p.nextPID)
			p.started <- p.now
			return nil
		},
	}
}

var errTest = errors.New("start failed")

func newSupervisingCluster(t *testing.T) *Cluster {
	c := &Cluster{log: zaptest.NewLogger(t), held: map[string]bool{}, restarts: map[string]int{}, superviseStop: make(chan struct{})}
	t.Cleanup(func() { close(c.superviseStop) })
	return c
}

func waitStarted(t *testing.T, p *fakePart) *fakeProcess {
	t.Helper()
	select {
	case f := <-p.started:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not restart the part")
		return nil
	}
}

func TestSuperviseRestartsACrashedPartAndCountsIt(t *testing.T) {
	c := newSupervisingCluster(t)
	p := &fakePart{now: newFake(1), nextPID: 1, started: make(chan *fakeProcess, 4)}
	go c.supervise(p.supervised(c))

	close(p.now.done)
	second := waitStarted(t, p)
	close(second.done)
	third := waitStarted(t, p)
	if third.pid != 3 {
		t.Fatalf("third process has pid %d, want 3", third.pid)
	}
	waitRestarts(t, c, 2, "")
}

// waitRestarts waits until the supervisor counted want restarts of the
// part: the count follows a restart, which the fake reports as it starts.
func waitRestarts(t *testing.T, c *Cluster, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Restarts()["part"] != want {
		if time.Now().After(deadline) {
			t.Fatalf("Restarts()[part] = %d, want %d%s", c.Restarts()["part"], want, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSuperviseRetriesAFailedStart(t *testing.T) {
	c := newSupervisingCluster(t)
	p := &fakePart{now: newFake(1), nextPID: 1, failNext: 2, started: make(chan *fakeProcess, 4)}
	go c.supervise(p.supervised(c))
	close(p.now.done)
	if f := waitStarted(t, p); f.pid != 2 {
		t.Fatalf("restarted pid %d, want 2", f.pid)
	}
	waitRestarts(t, c, 1, " (failed starts are not restarts)")
	time.Sleep(50 * time.Millisecond) // nothing more comes
	if got := c.Restarts()["part"]; got != 1 {
		t.Fatalf("Restarts()[part] = %d, want 1 (failed starts are not restarts)", got)
	}
}

func TestSuperviseLeavesAHeldPartAlone(t *testing.T) {
	c := newSupervisingCluster(t)
	p := &fakePart{now: newFake(1), nextPID: 1, started: make(chan *fakeProcess, 4)}
	c.hold("part")
	go c.supervise(p.supervised(c))
	close(p.now.done)
	select {
	case f := <-p.started:
		t.Fatalf("a held part was restarted (pid %d)", f.pid)
	case <-time.After(4 * restartFirstDelay):
	}
	// Released (StartTablet), the part is restarted if still down.
	c.release("part")
	waitStarted(t, p)
}

func TestSuperviseFollowsAProcessStartedByOthers(t *testing.T) {
	c := newSupervisingCluster(t)
	p := &fakePart{now: newFake(1), nextPID: 1, started: make(chan *fakeProcess, 4)}
	go c.supervise(p.supervised(c))
	// Someone else (StartTablet, a tablet starting its mariadbd) replaces
	// the process just as it exits: the supervisor follows the new one.
	p.mu.Lock()
	old := p.now
	p.now = newFake(50)
	p.mu.Unlock()
	close(old.done)
	select {
	case f := <-p.started:
		t.Fatalf("the supervisor started pid %d although pid 50 runs", f.pid)
	case <-time.After(4 * restartFirstDelay):
	}
	p.mu.Lock()
	replaced := p.now
	p.mu.Unlock()
	close(replaced.done)
	waitStarted(t, p)
}
