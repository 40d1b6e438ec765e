package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/shardgate/shardgate/control/insights"
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
	cluster := insights.Reader{Client: s.client, Token: s.debugToken}.Read(ctx, chosen)
	v.Problems = append(v.Problems, cluster.Problems...)
	v.Evictions = cluster.Evictions
	stmts := cluster.Statements
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

// SetDebugToken makes the UI present token (Authorization: Bearer) to
// the gates' protected pages, /api/query-stats: the gates' debug token.
// Call it before serving.
func (s *Server) SetDebugToken(token string) { s.debugToken = token }
