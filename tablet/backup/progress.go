package backup

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// progress counts what a long operation has done; it is safe for
// concurrent use. The engine keeps the current one for /debug/status and
// the RPC streams snapshots of it.
type progress struct {
	op      string // backup, restore, verify
	started time.Time
	m       *metrics

	mu                    sync.Mutex
	phase                 string
	bytesTotal, rowsTotal int64
	tablesTotal           int32
	bytesDone, rowsDone   atomic.Int64
	tablesDone            atomic.Int32
}

func newProgress(op string, m *metrics) *progress {
	return &progress{op: op, started: time.Now(), m: m, phase: "starting"}
}

func (p *progress) setPhase(phase string) {
	p.mu.Lock()
	p.phase = phase
	p.mu.Unlock()
}

func (p *progress) setTotals(bytes, rows int64, tables int) {
	p.mu.Lock()
	p.bytesTotal, p.rowsTotal, p.tablesTotal = bytes, rows, int32(tables)
	p.mu.Unlock()
}

func (p *progress) add(bytes, rows int64) {
	p.bytesDone.Add(bytes)
	p.rowsDone.Add(rows)
	if p.m != nil {
		p.m.bytes.WithLabelValues(p.op).Add(float64(bytes))
		p.m.rows.WithLabelValues(p.op).Add(float64(rows))
	}
}

func (p *progress) tableDone() { p.tablesDone.Add(1) }

// snapshot returns the progress so far; ETA comes from the byte rate.
func (p *progress) snapshot() *backuppb.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.started).Seconds()
	pr := &backuppb.Progress{
		Phase: p.phase, BytesDone: p.bytesDone.Load(), BytesTotal: p.bytesTotal,
		RowsDone: p.rowsDone.Load(), RowsTotal: p.rowsTotal,
		TablesDone: p.tablesDone.Load(), TablesTotal: p.tablesTotal,
		ElapsedSeconds: elapsed, EtaSeconds: -1,
	}
	if f := p.fractionLocked(); f > 0 {
		pr.EtaSeconds = max(0, elapsed/f-elapsed)
	}
	return pr
}

// fractionLocked estimates the share done, by rows when their total is
// known (a backup's totals are the server's estimates), else by bytes.
func (p *progress) fractionLocked() float64 {
	switch {
	case p.rowsTotal > 0:
		return min(1, float64(p.rowsDone.Load())/float64(p.rowsTotal))
	case p.bytesTotal > 0:
		return min(1, float64(p.bytesDone.Load())/float64(p.bytesTotal))
	}
	return 0
}

// fraction is the share done, 0..1.
func (p *progress) fraction() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fractionLocked()
}
