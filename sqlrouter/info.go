package sqlrouter

import (
	"fmt"
	"strconv"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	"vitess.io/vitess/go/vt/sqlparser"
)

// MariaDB's info text: the counts an OK packet carries besides affected
// rows ("Records: 3  Duplicates: 0  Warnings: 0" for a multi-row INSERT,
// "Rows matched: 2  Changed: 1  Warnings: 0" for an UPDATE). A statement
// that ran on several shards reports the shards' counts added up, as one
// server holding all their rows would.

// infoCounts splits an info text into its labels and counts; ok is false
// for a text of another shape.
func infoCounts(info string) (labels []string, counts []uint64, ok bool) {
	for _, part := range strings.Split(info, "  ") {
		label, value, found := strings.Cut(part, ": ")
		if !found {
			return nil, nil, false
		}
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return nil, nil, false
		}
		labels, counts = append(labels, label), append(counts, n)
	}
	return labels, counts, len(labels) > 0
}

// combineInfo adds up the shards' info texts when they all have one shape;
// otherwise it is empty (nothing rather than one shard's counts).
func combineInfo(results []*sqltypes.Result) string {
	var labels []string
	var sums []uint64
	for _, r := range results {
		if r == nil || r.Info == "" {
			continue
		}
		l, c, ok := infoCounts(r.Info)
		if !ok {
			return ""
		}
		if labels == nil {
			labels, sums = l, c
			continue
		}
		if len(l) != len(labels) {
			return ""
		}
		for i := range l {
			if l[i] != labels[i] {
				return ""
			}
			sums[i] += c[i]
		}
	}
	var b strings.Builder
	for i, label := range labels {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s: %d", label, sums[i])
	}
	return b.String()
}

// insertInfo is the info text of a multi-row INSERT split across shards.
// A shard that got several rows says its counts; one that got a single
// row says nothing (MariaDB writes the text only for several), and its
// counts follow from its affected rows: an IGNORE that skipped the row,
// a REPLACE that deleted one, an ON DUPLICATE KEY UPDATE that updated it
// (2). The warnings are the statement's, which the gate fills in (it
// knows them all).
func insertInfo(ast *sqlparser.Insert, results []*sqltypes.Result, order []string, byShard map[string][]int) string {
	var records, duplicates uint64
	for i, name := range order {
		r := results[i]
		if labels, counts, ok := infoCounts(r.Info); ok && len(labels) == 3 && labels[0] == "Records" {
			records, duplicates = records+counts[0], duplicates+counts[1]
			continue
		}
		n := uint64(len(byShard[name]))
		records += n
		switch {
		case ast.Action == sqlparser.ReplaceAct && r.RowsAffected > n:
			duplicates += r.RowsAffected - n
		case bool(ast.Ignore) && r.RowsAffected < n:
			duplicates += n - r.RowsAffected
		case len(ast.OnDup) > 0 && r.RowsAffected == 2:
			duplicates++
		}
	}
	return fmt.Sprintf("Records: %d  Duplicates: %d  Warnings: 0", records, duplicates)
}
