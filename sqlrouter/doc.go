// Package sqlrouter turns a parsed statement into a plan that says which
// shards run what, and executes plans through a VCursor the gate provides.
//
// Planning is a fixed sequence of passes (see passes in planner.go), each in
// a file named after what it does, so the whole pipeline reads top to
// bottom. A plan is made once per prepared statement and reused for every
// execution; values that decide routing (the vindex column's value) are
// kept as expressions and evaluated against each execution's bind
// variables.
//
// A plan is a tree of primitives (tree.go lists them, one file each, in
// the style of Vitess's engine package): a Route sends a statement to
// shards; Merge, Aggregate, Filter, Project, Distinct, Sort, Limit, Join
// and Union combine rows at the gate; FoundRows runs the count of a
// SELECT SQL_CALC_FOUND_ROWS. The planner composes the tree, the
// primitives execute it against the VCursor, and Describe prints it (what
// VEXPLAIN PLAN and testdata/plans.txt show). testdata/primitives.txt
// drives each primitive over shard rows from a fake cursor, and
// testdata/results.txt whole plans (SQL and shard rows in, rows out).
//
// The package refuses what it cannot answer exactly as one MySQL server
// would, with error 1235 naming the construct: a refused query is a
// missing feature, a wrong answer would be a bug.
package sqlrouter
