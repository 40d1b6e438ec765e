// Package insights gathers the statement statistics of the cluster's
// gates (`shardctl insights`, the admin UI's queries page): it reads each
// registered gate's report from its HTTP port (querystats.ReportPath)
// and merges the same statements across gates, so that the table shows
// where the load of the whole cluster is. A gate that cannot be read is
// named in Problems and the others are still shown.
package insights

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// Cluster is the statements of the gates read, merged.
type Cluster struct {
	// Gates are the gates whose statistics are included.
	Gates      []string               `json:"gates"`
	Statements []querystats.Statement `json:"statements"`
	// Evictions sums the gates' evictions: when not 0, statements that
	// ran rarely may be missing.
	Evictions uint64 `json:"evictions"`
	// Problems name the gates that could not be read, and why.
	Problems []string `json:"problems,omitempty"`
}

// readTimeout bounds reading one gate's report.
const readTimeout = 5 * time.Second

// Reader reads gates' reports.
type Reader struct {
	// Client makes the requests (nil: http.DefaultClient).
	Client *http.Client
	// Token is the gates' debug token (their --debug-token-file), sent
	// when not empty: gates that have one require it.
	Token string
}

// Gather reads the statistics of every registered gate, or only of the
// gate named gate (its name or id) when it is not empty.
func (r Reader) Gather(ctx context.Context, ts *topo.Server, gate string) (*Cluster, error) {
	gates, err := ts.ListGates(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the gates: %w", err)
	}
	if gate != "" {
		var chosen []*topopb.Gate
		for _, g := range gates {
			if g.Name == gate || g.Id == gate {
				chosen = append(chosen, g)
			}
		}
		if len(chosen) == 0 {
			return nil, fmt.Errorf("no registered gate is named %q (shardctl serve lists them)", gate)
		}
		gates = chosen
	}
	return r.Read(ctx, gates), nil
}

// Read reads the reports of gates in parallel and merges them.
func (r Reader) Read(ctx context.Context, gates []*topopb.Gate) *Cluster {
	reports := make([]*querystats.Report, len(gates))
	errs := make([]error, len(gates))
	var wg sync.WaitGroup
	for i, g := range gates {
		wg.Go(func() { reports[i], errs[i] = r.Report(ctx, g) })
	}
	wg.Wait()
	out := &Cluster{}
	var lists [][]querystats.Statement
	for i, g := range gates {
		if errs[i] != nil {
			out.Problems = append(out.Problems, errs[i].Error())
			continue
		}
		out.Gates = append(out.Gates, g.Name)
		out.Evictions += reports[i].Evictions
		lists = append(lists, reports[i].Statements)
	}
	out.Statements = querystats.Merge(lists...)
	return out
}

// ReportURL is where a gate serves its statistics.
func ReportURL(g *topopb.Gate) string {
	host := g.Hostname
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(int(g.HttpPort))) + querystats.ReportPath
}

// Report fetches one gate's report. Its errors name the gate and say
// what to do.
func (r Reader) Report(ctx context.Context, g *topopb.Gate) (*querystats.Report, error) {
	name := g.Name
	if name == "" {
		name = g.Id
	}
	if g.HttpPort == 0 {
		return nil, fmt.Errorf("gate %s has no HTTP port: no query statistics", name)
	}
	url := ReportURL(g)
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("gate %s: %w", name, err)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gate %s: query statistics: %w", name, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("gate %s refuses its query statistics (%s at %s): give the gates' --debug-token-file", name, resp.Status, url)
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("gate %s has no query statistics (%s at %s): %s", name, resp.Status, url, strings.TrimSpace(string(body)))
	}
	var rep querystats.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("gate %s: query statistics at %s: %w", name, url, err)
	}
	return &rep, nil
}

// Top orders statements by a column (the most first) and keeps the first
// limit (all when limit <= 0), of one keyspace when keyspace is not empty.
func Top(stmts []querystats.Statement, by querystats.Column, keyspace string, limit int) []querystats.Statement {
	var out []querystats.Statement
	for _, s := range stmts {
		if keyspace == "" || s.Keyspace == keyspace {
			out = append(out, s)
		}
	}
	querystats.SortBy(out, by, true)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// tableColumns are the columns WriteTable prints, the query last.
var tableColumns = []string{"calls", "errors", "total_ms", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "rows_returned", "rows_read_per_returned", "shards_per_call", "keyspace", "digest", "query"}

// WriteTable prints statements as a table; queries longer than width are
// cut (0: never).
func WriteTable(w io.Writer, stmts []querystats.Statement, width int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := make([]string, len(tableColumns))
	cols := make([]querystats.Column, len(tableColumns))
	for i, name := range tableColumns {
		cols[i], _ = querystats.ColumnByName(name)
		header[i] = strings.ToUpper(name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range stmts {
		cells := make([]string, len(cols))
		for j, c := range cols {
			cells[j] = c.Format(&stmts[i])
		}
		if q := &cells[len(cells)-1]; width > 0 && len(*q) > width {
			*q = (*q)[:width-3] + "..."
		}
		if d := &cells[len(cells)-2]; len(*d) > 12 {
			*d = (*d)[:12]
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
