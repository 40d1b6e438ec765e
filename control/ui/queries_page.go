package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/shardgate/shardgate/internal/querystats"
	"github.com/shardgate/shardgate/proto/topopb"
)

// queryColumns are the columns of the queries page, in order.
var queryColumns = []string{
	"calls", "errors", "total_ms", "avg_ms", "p50_ms", "p95_ms", "p99_ms",
	"rows_returned", "rows_read", "rows_read_per_returned", "shards_per_call",
	"keyspace", "plan", "query",
}

// maxQueryRows bounds the statements listed.
const maxQueryRows = 200

// QueryHeader is a column header: its name, and the link that sorts by it
// (descending first, then ascending when it is the current order).
type QueryHeader struct {
	Name, Href string
	Numeric    bool
	// Sorted is "▼" or "▲" on the column the table is sorted by.
	Sorted string
}

// QueryRow is one statement, its cells in the order of the headers.
type QueryRow struct {
	Digest string
	Cells  []string
}

type queriesView struct {
	page
	Gates      []string
	Gate       string
	Headers    []QueryHeader
	Rows       []QueryRow
	Total      int
	Evictions  uint64
	Problems   []string
	SortedBy   string
	Descending bool
}

// queriesPage lists the statements the gates ran, merged over gates (or
// of one gate, ?gate=), sorted by a column (?sort=total_ms&desc=1).
func (s *Server) queriesPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	q := r.URL.Query()
	v := queriesView{page: s.livePage(r, "Queries", "queries"), Gate: q.Get("gate")}
	v.Live = max(v.Live, 10)
	v.Windows = nil

	sortBy, ok := querystats.ColumnByName(q.Get("sort"))
	v.Descending = q.Get("desc") == "1"
	if !ok {
		sortBy, _ = querystats.ColumnByName("total_ms")
		v.Descending = q.Get("sort") == "" || v.Descending
	}
	v.SortedBy = sortBy.Name

	gates, err := s.ts.ListGates(ctx)
	if err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("gates: %v", err))
	}
	var chosen []*topopb.Gate
	seen := map[string]bool{}
	for _, g := range gates {
		name := gateName(g.Name, g.Id)
		if !seen[name] {
			v.Gates = append(v.Gates, name)
			seen[name] = true
		}
		if v.Gate == "" || v.Gate == name {
			chosen = append(chosen, g)
		}
	}
	if v.Gate != "" && len(chosen) == 0 {
		v.Problems = append(v.Problems, fmt.Sprintf("no gate named %q is registered", v.Gate))
	}
	reports, problems := s.queryReports(ctx, chosen)
	v.Problems = append(v.Problems, problems...)
	lists := make([][]querystats.Statement, 0, len(reports))
	for _, rep := range reports {
		lists = append(lists, rep.Statements)
		v.Evictions += rep.Evictions
	}
	stmts := querystats.Merge(lists...)
	querystats.SortBy(stmts, sortBy, v.Descending)
	v.Total = len(stmts)

	for _, name := range queryColumns {
		col, _ := querystats.ColumnByName(name)
		h := QueryHeader{Name: name, Numeric: col.Kind == querystats.Uint || col.Kind == querystats.Float}
		params := url.Values{"sort": {name}}
		if name != sortBy.Name || !v.Descending {
			params.Set("desc", "1")
		}
		if name == sortBy.Name {
			h.Sorted = "▲"
			if v.Descending {
				h.Sorted = "▼"
			}
		}
		if v.Gate != "" {
			params.Set("gate", v.Gate)
		}
		h.Href = "/queries?" + params.Encode()
		v.Headers = append(v.Headers, h)
	}
	for i := range stmts[:min(len(stmts), maxQueryRows)] {
		row := QueryRow{Digest: stmts[i].Digest}
		for _, name := range queryColumns {
			col, _ := querystats.ColumnByName(name)
			row.Cells = append(row.Cells, col.Format(&stmts[i]))
		}
		v.Rows = append(v.Rows, row)
	}
	s.renderLive(w, r, "queries", v)
}

// queryReports fetches the query statistics of gates in parallel; a gate
// that has none (an older gate answers 404) or cannot be reached is named
// in problems.
func (s *Server) queryReports(ctx context.Context, gates []*topopb.Gate) ([]*querystats.Report, []string) {
	reports := make([]*querystats.Report, len(gates))
	problems := make([]string, len(gates))
	var wg sync.WaitGroup
	for i, g := range gates {
		wg.Go(func() { reports[i], problems[i] = s.queryReport(ctx, g) })
	}
	wg.Wait()
	var got []*querystats.Report
	var probs []string
	for i := range gates {
		if reports[i] != nil {
			got = append(got, reports[i])
		}
		if problems[i] != "" {
			probs = append(probs, problems[i])
		}
	}
	return got, probs
}

// SetDebugToken makes the UI present token (Authorization: Bearer) to
// the gates' protected pages, /api/query-stats: the gates' debug token.
// Call it before serving.
func (s *Server) SetDebugToken(token string) { s.debugToken = token }

func (s *Server) queryReport(ctx context.Context, g *topopb.Gate) (*querystats.Report, string) {
	name := gateName(g.Name, g.Id)
	if g.HttpPort == 0 {
		return nil, fmt.Sprintf("gate %s has no HTTP port: no query statistics", name)
	}
	u := fmt.Sprintf("http://%s%s", hostPort(g.Hostname, g.HttpPort), querystats.ReportPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Sprintf("gate %s: %v", name, err)
	}
	if s.debugToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.debugToken)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Sprintf("gate %s: query statistics: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Sprintf("gate %s refuses its query statistics (%d %s at %s): start shardctl serve with the gates' --debug-token-file",
			name, resp.StatusCode, http.StatusText(resp.StatusCode), u)
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Sprintf("gate %s has no query statistics (%d %s at %s)", name, resp.StatusCode, http.StatusText(resp.StatusCode), u)
	}
	var rep querystats.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&rep); err != nil {
		return nil, fmt.Sprintf("gate %s: query statistics at %s: %v", name, u, err)
	}
	return &rep, ""
}
