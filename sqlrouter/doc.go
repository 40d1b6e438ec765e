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
// The package refuses what it cannot answer exactly as one MySQL server
// would, with error 1235 naming the construct: a refused query is a
// missing feature, a wrong answer would be a bug.
package sqlrouter
