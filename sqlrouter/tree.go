package sqlrouter

import "strings"

// A plan is a tree of primitives: each combines the results of its inputs
// (Inputs) and describes itself as one line with its inputs indented
// beneath it (Describe), which is what EXPLAIN-like output
// (VEXPLAIN PLAN, `shardctl explain`) and testdata/plans.txt show.
//
// The primitives that shape rows at the gate, each in a file named after
// it:
//
//	Route      route.go      one statement sent to the shards its opcode selects
//	Merge      merge.go      a read that may span shards: on one shard the statement as sent, else the tree combining the shards' answers
//	Aggregate  aggregate.go  groups rows and folds each group's aggregates (of rows, or of the shards' partial aggregates)
//	Filter     filter.go     keeps the rows a condition holds for (HAVING, conditions spanning joined reads)
//	Project    project.go    computes columns over its input's rows
//	Distinct   distinct.go   removes duplicate rows
//	Sort       sort.go       orders rows as MySQL compares values
//	Limit      limit.go      OFFSET and LIMIT
//	Join       join.go       pairs rows of reads the gate joins (nested loop, hashed by a join key)
//	Union      union.go      the sides of a UNION, typed as its columns
//	GateSelect gate_select.go the root of a SELECT the gate evaluates
//	FoundRows  found_rows.go SELECT SQL_CALC_FOUND_ROWS: the statement, then the count FOUND_ROWS() answers
//
// Primitives are built by the planner and are immutable afterwards: one
// plan may execute in many sessions at once.

// labeled is one input of a primitive as Describe shows it, after a label
// that says what the input is for ("" for none).
type labeled struct {
	label string
	p     Primitive
}

// input is an unlabeled input.
func input(p Primitive) labeled { return labeled{p: p} }

// describeTree renders a primitive's line and, indented beneath it, its
// inputs' descriptions.
func describeTree(line string, inputs ...labeled) string {
	var b strings.Builder
	b.WriteString(line)
	for _, in := range inputs {
		if in.p == nil {
			continue
		}
		for i, l := range strings.Split(in.p.Describe(), "\n") {
			b.WriteString("\n  ")
			if i == 0 && in.label != "" {
				b.WriteString(in.label + ": ")
			} else if i > 0 && in.label != "" {
				b.WriteString(strings.Repeat(" ", len(in.label)+2))
			}
			b.WriteString(l)
		}
	}
	return b.String()
}

// DryRunner is implemented by a VCursor that records the statements a plan
// would send and answers them with nothing (DryRun). A primitive that
// combines rows asks it explicitly (isDryRun) instead of guessing from an
// empty answer: it still sends what it would send, so that the record is
// complete, and passes on an empty result.
type DryRunner interface {
	DryRun() bool
}

// isDryRun reports whether vc only records what a plan sends.
func isDryRun(vc VCursor) bool {
	d, ok := vc.(DryRunner)
	return ok && d.DryRun()
}
