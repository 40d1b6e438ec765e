package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/tablet/mysqld"
)

// Restart backoff of a supervised part (Config.Supervise). The first
// restart comes quickly: a crashed tablet or gate is back serving within a
// second or two. A part that keeps crashing is restarted less and less
// often, so that a broken binary or a full disk does not spin; one that
// then ran for restartResetAfter counts as healthy again.
const (
	restartFirstDelay = 200 * time.Millisecond
	restartMaxDelay   = 30 * time.Second
	restartResetAfter = time.Minute
	// supervisePoll is how often a supervisor looks again at a part it
	// does not own for now: one stopped on purpose, or a mariadbd that a
	// tablet started (not a child of this process, so only polled).
	supervisePoll = 250 * time.Millisecond
	// mysqldRestartTimeout bounds a mariadbd's crash recovery on restart.
	mysqldRestartTimeout = 5 * time.Minute
)

// process is a running part the supervisor follows.
type process interface {
	PID() int
	Done() <-chan struct{}
}

// PID and Done make a child a process.
func (c *child) PID() int              { return c.cmd.Process.Pid }
func (c *child) Done() <-chan struct{} { return c.done }

// mysqldProcess is a mariadbd this cluster started (its child).
type mysqldProcess struct{ *mysqld.Process }

func (m mysqldProcess) PID() int { return m.Pid() }

// polledProcess is a process that is not our child (a mariadbd its tablet
// started): its end is seen by polling /proc.
type polledProcess struct {
	proc Proc
	done chan struct{}
}

func pollProcess(p Proc, stop <-chan struct{}) *polledProcess {
	pp := &polledProcess{proc: p, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(supervisePoll)
		defer t.Stop()
		for p.Alive() {
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
		close(pp.done)
	}()
	return pp
}

func (p *polledProcess) PID() int              { return p.proc.PID }
func (p *polledProcess) Done() <-chan struct{} { return p.done }

// supervised is one part the supervisor keeps running.
type supervised struct {
	name string
	// current is the part's process now (nil: none runs). Called with
	// c.mu held.
	current func() process
	// restart starts the part again after it exited by itself.
	restart func(exited process) error
}

// supervise keeps a part running: when its process exits and nobody
// meant it to (the cluster is not closing, the part is not held by
// StopTablet, StopMySQLD or RestartGate, and nobody started another one),
// it logs the exit and starts the part again with backoff. It returns when
// the cluster closes.
func (c *Cluster) supervise(s supervised) {
	delay := restartFirstDelay
	for {
		c.mu.Lock()
		p := s.current()
		c.mu.Unlock()
		if p == nil {
			if !c.sleepUnlessClosing(supervisePoll) {
				return
			}
			continue
		}
		began := time.Now()
		select {
		case <-p.Done():
		case <-c.superviseStop:
			return
		}
		if time.Since(began) >= restartResetAfter {
			delay = restartFirstDelay
		}
		if !c.shouldRestart(s, p) {
			if !c.sleepUnlessClosing(supervisePoll) {
				return
			}
			continue
		}
		c.log.Error("a part of the local cluster exited by itself: restarting it",
			zap.String("part", s.name), zap.Int("pid", p.PID()), zap.Duration("in", delay))
		if !c.sleepUnlessClosing(delay) {
			return
		}
		delay = min(delay*2, restartMaxDelay)
		if !c.shouldRestart(s, p) {
			continue
		}
		if err := s.restart(p); err != nil {
			c.log.Error("restarting a part of the local cluster failed", zap.String("part", s.name),
				zap.Error(err), zap.Duration("next_attempt_in", delay))
			continue
		}
		c.mu.Lock()
		c.restarts[s.name]++
		n := c.restarts[s.name]
		c.mu.Unlock()
		c.log.Info("restarted a part of the local cluster", zap.String("part", s.name), zap.Int("restarts", n))
	}
}

// shouldRestart reports whether exited, which was part s, is to be
// replaced: the cluster is not closing, the part is not held, and what
// runs as the part now is still exited (or nothing).
func (c *Cluster) shouldRestart(s supervised, exited process) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.held[s.name] {
		return false
	}
	now := s.current()
	return now == nil || now.PID() == exited.PID()
}

// sleepUnlessClosing sleeps d and reports false if the cluster started
// closing meanwhile.
func (c *Cluster) sleepUnlessClosing(d time.Duration) bool {
	select {
	case <-c.superviseStop:
		return false
	case <-time.After(d):
		return true
	}
}

// hold stops the supervisor from restarting part name (stopped on
// purpose) until release.
func (c *Cluster) hold(name string) {
	c.mu.Lock()
	c.held[name] = true
	c.mu.Unlock()
}

func (c *Cluster) release(name string) {
	c.mu.Lock()
	delete(c.held, name)
	c.mu.Unlock()
}

// Restarts says how many times the supervisor restarted each part, by
// part name ("gate", "tablet zone1-100", "mysqld ks/-80 (zone1-100)").
func (c *Cluster) Restarts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.restarts))
	for k, v := range c.restarts {
		out[k] = v
	}
	return out
}

// superviseAll starts a supervisor for the gate and for every tablet and
// mariadbd known now (Config.Supervise).
func (c *Cluster) superviseAll() {
	go c.supervise(c.gateSupervised())
	c.mu.Lock()
	n := len(c.p.tablets)
	c.mu.Unlock()
	for i := range n {
		c.superviseTablet(i)
	}
}

// superviseTablet supervises tablet i and its mariadbd, if supervision is
// on.
func (c *Cluster) superviseTablet(i int) {
	if !c.p.cfg.Supervise {
		return
	}
	go c.supervise(c.tabletSupervised(i))
	go c.supervise(c.mysqldSupervised(i))
}

func (c *Cluster) gateSupervised() supervised {
	return supervised{
		name: c.gatePart().Name,
		current: func() process {
			if c.gate == nil {
				return nil
			}
			return c.gate
		},
		restart: func(exited process) error {
			ch, err := exited.(*child).respawn()
			if err != nil {
				return err
			}
			return c.installGate(ch)
		},
	}
}

func (c *Cluster) tabletSupervised(i int) supervised {
	c.mu.Lock()
	name := c.tabletPart(c.p.tablets[i]).Name
	c.mu.Unlock()
	return supervised{
		name: name,
		current: func() process {
			if c.tablets[i] == nil {
				return nil
			}
			return c.tablets[i]
		},
		restart: func(exited process) error {
			ch, err := exited.(*child).respawn()
			if err != nil {
				return err
			}
			return c.installTablet(i, ch)
		},
	}
}

// mysqldSupervised follows tablet i's mariadbd, whoever started it: this
// cluster (a child, waited for) or the tablet (a restore; polled).
func (c *Cluster) mysqldSupervised(i int) supervised {
	c.mu.Lock()
	t := c.p.tablets[i]
	c.mu.Unlock()
	var polled *polledProcess
	return supervised{
		name: mysqldName(t),
		current: func() process {
			if m := c.mysqlds[i]; m != nil {
				select {
				case <-m.Done():
				default:
					return mysqldProcess{m}
				}
			}
			pid, ok := mysqld.Running(t.MySQL.DataDir)
			if !ok {
				return nil
			}
			if polled == nil || polled.proc.PID != pid {
				polled = pollProcess(procOf(pid), c.superviseStop)
			}
			return polled
		},
		restart: func(process) error {
			ctx, cancel := context.WithTimeout(context.Background(), mysqldRestartTimeout)
			defer cancel()
			proc, err := mysqld.Start(ctx, c.serverConfig(ctx, t))
			if errors.Is(err, mysqld.ErrAlreadyRunning) {
				return nil // its tablet started it meanwhile: follow that one
			}
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.mysqlds[i] = proc
			c.mu.Unlock()
			return c.recordMySQLD(i)
		},
	}
}

// installTablet makes ch tablet i's process and records it in the state
// file.
func (c *Cluster) installTablet(i int, ch *child) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tablets[i] = ch
	c.state.Parts = slices.DeleteFunc(c.state.Parts, func(p Part) bool { return p.Kind == KindTablet && p.Name == ch.part.Name })
	c.addPartLocked(ch.part)
	return c.saveLocked()
}

// installGate makes ch the gate process and records it in the state file.
func (c *Cluster) installGate(ch *child) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = ch
	c.state.Parts = slices.DeleteFunc(c.state.Parts, func(p Part) bool { return p.Kind == KindGate })
	c.addPartLocked(ch.part)
	return c.saveLocked()
}

// respawn starts the same command again, with the same arguments and
// environment, its output appended to the same log.
func (c *child) respawn() (*child, error) {
	part := c.part
	part.Proc = Proc{}
	ch, err := startCmd(part, exec.Command(c.cmd.Path, c.cmd.Args[1:]...), c.cmd.Env)
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", part.Name, err)
	}
	return ch, nil
}
