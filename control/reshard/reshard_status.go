package reshard

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shardgate/shardgate/proto/topopb"
)

// CopyProgress sums a workflow's copy over its streams.
type CopyProgress struct {
	Copied, Total int64
	// RowsPerSecond is the copying streams' summed recent rate.
	RowsPerSecond float64
	// ETA is the time left at that rate (0: unknown or done).
	ETA time.Duration
	// Done: every stream finished copying.
	Done bool
}

// Progress sums the copy of every stream.
func (s *WorkflowStatus) Progress() CopyProgress {
	var p CopyProgress
	p.Done = len(s.Streams) > 0
	for _, st := range s.Streams {
		c, t := streamCopy(st)
		p.Copied += c
		p.Total += t
		if st.Phase == topopb.StreamStatus_COPYING || st.Phase == topopb.StreamStatus_PHASE_UNSPECIFIED {
			p.Done = false
			p.RowsPerSecond += st.RowsPerSecond
		}
	}
	if !p.Done && p.RowsPerSecond > 0 && p.Total > p.Copied {
		p.ETA = time.Duration(float64(p.Total-p.Copied) / p.RowsPerSecond * float64(time.Second)).Round(time.Second)
	}
	return p
}

// streamCopy is a stream's rows copied and (estimated) total. A table
// copied in full counts its copied rows as its total, estimates being
// estimates.
func streamCopy(st *topopb.StreamStatus) (copied, total int64) {
	for _, t := range st.Tables {
		copied += t.RowsCopied
		if t.Done {
			total += t.RowsCopied
		} else {
			total += max(t.RowsTotal, t.RowsCopied)
		}
	}
	return copied, total
}

// WriteStatus prints a workflow's state and each stream's phase,
// position, lag, rate and copy progress per table, with an ETA.
func WriteStatus(w io.Writer, s *WorkflowStatus, now time.Time) error {
	wf := s.Workflow
	dir := fmt.Sprintf("%s -> %s", strings.Join(wf.Sources, ","), strings.Join(wf.Targets, ","))
	if wf.Reversed {
		dir = fmt.Sprintf("%s -> %s (reverse streams: writes are on the targets)", strings.Join(wf.Targets, ","), strings.Join(wf.Sources, ","))
	}
	fmt.Fprintf(w, "workflow %s.%s: %s, %s\n", wf.Keyspace, wf.Name, wf.State, dir)
	if wf.Message != "" {
		fmt.Fprintf(w, "  last: %s\n", wf.Message)
	}
	writeCutoverFailure(w, wf.CutoverFailed, now)
	settings := []string{}
	if wf.MaxRowsPerSecond > 0 {
		settings = append(settings, fmt.Sprintf("max %d rows/s per stream", wf.MaxRowsPerSecond))
	}
	if wf.MaxReplicaLagSeconds > 0 {
		settings = append(settings, fmt.Sprintf("copy pauses while a target's replica lags more than %ds", wf.MaxReplicaLagSeconds))
	}
	parallel := "all streams of a target copy at once"
	if wf.CopyStreams > 0 {
		parallel = fmt.Sprintf("%d stream(s) of a target copy at once", wf.CopyStreams)
	}
	batch := wf.CopyBatchRows
	if batch <= 0 {
		batch = 10000
	}
	settings = append(settings, parallel, fmt.Sprintf("%d rows per copy round", batch))
	if wf.Paused {
		settings = append(settings, "PAUSED")
	}
	fmt.Fprintf(w, "  copy: %s\n", strings.Join(settings, ", "))
	p := s.Progress()
	switch {
	case p.Done:
		fmt.Fprintf(w, "  copied %d rows; streams follow the senders' binlogs\n", p.Copied)
	case p.Total > 0:
		eta := "unknown"
		if p.ETA > 0 {
			eta = p.ETA.String()
		}
		fmt.Fprintf(w, "  copied %d of ~%d rows (%.0f%%) at %.0f rows/s, ETA %s\n", p.Copied, p.Total, 100*float64(p.Copied)/float64(p.Total), p.RowsPerSecond, eta)
	}
	streams := append([]*topopb.StreamStatus(nil), s.Streams...)
	sort.Slice(streams, func(i, j int) bool {
		if streams[i].Receiver != streams[j].Receiver {
			return streams[i].Receiver < streams[j].Receiver
		}
		return streams[i].Sender < streams[j].Sender
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  STREAM\tTABLET\tPHASE\tLAG\tROWS/S\tPOSITION\tREPORTED\tCOPY")
	for _, st := range streams {
		lag := "-"
		if st.Phase == topopb.StreamStatus_RUNNING || st.Phase == topopb.StreamStatus_STOPPED {
			lag = (time.Duration(st.LagMs) * time.Millisecond).String()
		}
		age := now.Sub(time.UnixMilli(st.UpdatedUnixMs)).Round(time.Second)
		fmt.Fprintf(tw, "  %s <- %s\t%s\t%s\t%s\t%.0f\t%s\t%s ago\t%s\n", st.Receiver, st.Sender, st.Tablet, st.Phase, lag, st.RowsPerSecond,
			truncatePosition(st.Position), age, tableProgress(st))
		if st.Error != "" {
			fmt.Fprintf(tw, "  \terror: %s\n", st.Error)
		}
		if st.Throttled != "" {
			fmt.Fprintf(tw, "  \tthrottled: %s\n", st.Throttled)
		}
	}
	return tw.Flush()
}

// tableProgress is "t1 done 1200, t2 3400/10000 (34%), t3 pending".
func tableProgress(st *topopb.StreamStatus) string {
	var parts []string
	for _, t := range st.Tables {
		switch {
		case t.Done:
			parts = append(parts, fmt.Sprintf("%s done %d", t.Table, t.RowsCopied))
		case t.RowsCopied == 0 && st.Phase != topopb.StreamStatus_COPYING:
			parts = append(parts, t.Table+" pending")
		case t.RowsTotal > 0:
			parts = append(parts, fmt.Sprintf("%s %d/~%d (%d%%)", t.Table, t.RowsCopied, t.RowsTotal, min(100, 100*t.RowsCopied/t.RowsTotal)))
		default:
			parts = append(parts, fmt.Sprintf("%s %d", t.Table, t.RowsCopied))
		}
	}
	return strings.Join(parts, ", ")
}

// truncatePosition keeps a long multi-domain GTID position readable.
func truncatePosition(p string) string {
	if p == "" {
		return "-"
	}
	if len(p) > 40 {
		return p[:37] + "..."
	}
	return p
}

// writeCutoverFailure prints what a failed switch of writes left, if one
// did: the step, the error, whether it was undone, and what to do.
func writeCutoverFailure(w io.Writer, f *topopb.CutoverFailure, now time.Time) {
	if f == nil {
		return
	}
	fmt.Fprintf(w, "  CUTOVER FAILED: %s at step %s, %v ago: %s\n", f.Operation, f.Step, now.Sub(time.UnixMilli(f.FailedUnixMs)).Round(time.Second), f.Error)
	if f.Undone {
		fmt.Fprintf(w, "    undone: the shards that served writes before serve them as before\n")
	} else {
		fmt.Fprintf(w, "    NOT fully undone: the shards that served writes before may not serve them\n")
		for _, e := range f.UndoErrors {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	fmt.Fprintf(w, "    next: %s\n", f.Next)
}
