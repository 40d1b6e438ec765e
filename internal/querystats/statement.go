package querystats

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Statement is a copy of one statement's statistics, as served in JSON
// and merged across gates.
type Statement struct {
	Digest       string            `json:"digest"`
	Keyspace     string            `json:"keyspace"`
	Query        string            `json:"query"`
	Plan         string            `json:"plan"`
	Tables       []string          `json:"tables,omitempty"`
	Calls        uint64            `json:"calls"`
	Errors       uint64            `json:"errors"`
	ErrorCodes   map[uint16]uint64 `json:"error_codes,omitempty"`
	TotalSeconds float64           `json:"total_seconds"`
	MaxSeconds   float64           `json:"max_seconds"`
	RowsReturned uint64            `json:"rows_returned"`
	RowsRead     uint64            `json:"rows_read"`
	ShardCalls   uint64            `json:"shard_calls"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	// Latency is the histogram of its latencies (histogram.go).
	Latency []Bucket `json:"latency"`
}

// Quantile is the latency in seconds below which a fraction q of its
// executions took.
func (s *Statement) Quantile(q float64) float64 { return quantile(s.Latency, q) }

// MeanSeconds is its average latency.
func (s *Statement) MeanSeconds() float64 {
	if s.Calls == 0 {
		return 0
	}
	return s.TotalSeconds / float64(s.Calls)
}

// RowsReadPerReturned is how many rows the shards sent for each row the
// client got: far above 1, the gate filters, aggregates or limits what
// the shards read (a scatter with LIMIT, a join at the gate). A statement
// that returned nothing counts its rows read.
func (s *Statement) RowsReadPerReturned() float64 {
	return float64(s.RowsRead) / float64(max(s.RowsReturned, 1))
}

// ShardsPerCall is the average number of shard calls per execution.
func (s *Statement) ShardsPerCall() float64 {
	if s.Calls == 0 {
		return 0
	}
	return float64(s.ShardCalls) / float64(s.Calls)
}

// ErrorCodeList renders the error codes as "code:count" by code.
func (s *Statement) ErrorCodeList() string {
	codes := make([]uint16, 0, len(s.ErrorCodes))
	for c := range s.ErrorCodes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d:%d", c, s.ErrorCodes[c])
	}
	return strings.Join(parts, " ")
}

// Merge combines the statistics of the same statements seen by several
// gates (same keyspace and digest).
func Merge(lists ...[]Statement) []Statement {
	type k struct{ keyspace, digest string }
	index := map[k]int{}
	var out []Statement
	for _, list := range lists {
		for _, s := range list {
			i, ok := index[k{s.Keyspace, s.Digest}]
			if !ok {
				index[k{s.Keyspace, s.Digest}] = len(out)
				s.Latency = slices.Clone(s.Latency)
				if s.ErrorCodes != nil {
					codes := make(map[uint16]uint64, len(s.ErrorCodes))
					for c, n := range s.ErrorCodes {
						codes[c] = n
					}
					s.ErrorCodes = codes
				}
				out = append(out, s)
				continue
			}
			m := &out[i]
			m.Calls += s.Calls
			m.Errors += s.Errors
			m.TotalSeconds += s.TotalSeconds
			m.MaxSeconds = max(m.MaxSeconds, s.MaxSeconds)
			m.RowsReturned += s.RowsReturned
			m.RowsRead += s.RowsRead
			m.ShardCalls += s.ShardCalls
			if s.FirstSeen.Before(m.FirstSeen) {
				m.FirstSeen = s.FirstSeen
			}
			if s.LastSeen.After(m.LastSeen) {
				m.LastSeen = s.LastSeen
			}
			m.Latency = mergeBuckets(m.Latency, s.Latency)
			for c, n := range s.ErrorCodes {
				if m.ErrorCodes == nil {
					m.ErrorCodes = map[uint16]uint64{}
				}
				m.ErrorCodes[c] += n
			}
		}
	}
	return out
}

// Kind is the type of a column's values.
type Kind int

const (
	Text Kind = iota
	Uint
	Float
	Time
)

// Column is one column of the statement table that SHOW QUERY STATS and
// `shardctl insights` print.
type Column struct {
	Name string
	Kind Kind
	// Value returns a string for Text, uint64 for Uint, float64 for
	// Float and time.Time for Time.
	Value func(*Statement) any
}

func ms(seconds float64) float64 { return seconds * 1000 }

// Columns are the statement table's columns, in the order printed.
var Columns = []Column{
	{"digest", Text, func(s *Statement) any { return s.Digest }},
	{"keyspace", Text, func(s *Statement) any { return s.Keyspace }},
	{"query", Text, func(s *Statement) any { return s.Query }},
	{"plan", Text, func(s *Statement) any { return s.Plan }},
	{"tables", Text, func(s *Statement) any { return strings.Join(s.Tables, ",") }},
	{"calls", Uint, func(s *Statement) any { return s.Calls }},
	{"errors", Uint, func(s *Statement) any { return s.Errors }},
	{"error_codes", Text, func(s *Statement) any { return s.ErrorCodeList() }},
	{"total_ms", Float, func(s *Statement) any { return ms(s.TotalSeconds) }},
	{"avg_ms", Float, func(s *Statement) any { return ms(s.MeanSeconds()) }},
	{"p50_ms", Float, func(s *Statement) any { return ms(s.Quantile(0.50)) }},
	{"p95_ms", Float, func(s *Statement) any { return ms(s.Quantile(0.95)) }},
	{"p99_ms", Float, func(s *Statement) any { return ms(s.Quantile(0.99)) }},
	{"max_ms", Float, func(s *Statement) any { return ms(s.MaxSeconds) }},
	{"rows_returned", Uint, func(s *Statement) any { return s.RowsReturned }},
	{"rows_read", Uint, func(s *Statement) any { return s.RowsRead }},
	{"rows_read_per_returned", Float, func(s *Statement) any { return s.RowsReadPerReturned() }},
	{"shard_calls", Uint, func(s *Statement) any { return s.ShardCalls }},
	{"shards_per_call", Float, func(s *Statement) any { return s.ShardsPerCall() }},
	{"first_seen", Time, func(s *Statement) any { return s.FirstSeen }},
	{"last_seen", Time, func(s *Statement) any { return s.LastSeen }},
}

// ColumnByName finds a column (case-insensitive).
func ColumnByName(name string) (Column, bool) {
	for _, c := range Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// ColumnNames lists the columns' names.
func ColumnNames() []string {
	out := make([]string, len(Columns))
	for i, c := range Columns {
		out[i] = c.Name
	}
	return out
}

// Compare orders two statements by the column's values.
func (c Column) Compare(a, b *Statement) int {
	va, vb := c.Value(a), c.Value(b)
	switch c.Kind {
	case Uint:
		return cmp.Compare(va.(uint64), vb.(uint64))
	case Float:
		return cmp.Compare(va.(float64), vb.(float64))
	case Time:
		return va.(time.Time).Compare(vb.(time.Time))
	default:
		return strings.Compare(va.(string), vb.(string))
	}
}

// Format renders the column's value as text (milliseconds with three
// decimals, times in UTC).
func (c Column) Format(s *Statement) string {
	switch v := c.Value(s).(type) {
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05")
	default:
		return fmt.Sprint(v)
	}
}

// SortBy orders statements by a column, descending or not; ties keep
// digest order so that the result is stable.
func SortBy(stmts []Statement, col Column, descending bool) {
	sort.SliceStable(stmts, func(i, j int) bool {
		c := col.Compare(&stmts[i], &stmts[j])
		if c == 0 {
			return stmts[i].Digest < stmts[j].Digest
		}
		if descending {
			return c > 0
		}
		return c < 0
	})
}

// Report is what a gate serves at /api/query-stats: every statement it
// keeps statistics of.
type Report struct {
	// Gate is the gate's name in the topology.
	Gate  string    `json:"gate"`
	Taken time.Time `json:"taken"`
	// Evictions counts statements dropped to stay within the bound since
	// the gate started: the list may miss statements that ran rarely.
	Evictions  uint64      `json:"evictions"`
	Statements []Statement `json:"statements"`
}

// ReportPath is where a gate's HTTP port serves its Report.
const ReportPath = "/api/query-stats"
