// Package queryrpc carries the tablet's unary query calls (Execute,
// BeginExecute, Begin, Commit, Rollback, and two-phase commit's Prepare,
// CommitPrepared, RollbackPrepared) between gate and tablet as
// length-prefixed protobuf frames on plain TCP connections.
//
// Why not gRPC for these calls: a gRPC unary call hands each request and
// response between several goroutines on both sides (the caller, the
// transport's reader and writer loops, the handler), and every hand-off
// that wakes an idle thread costs tens of microseconds on small virtual
// machines. Measured on a 2-vCPU VM: a cross-process TCP round trip took
// 11-48 us, a gRPC unary call to the tablet ~350 us more than the MySQL
// query it carried. Here one connection carries one call at a time and
// the goroutine that writes the request reads the response, so a call
// costs one round trip. The messages are the same querypb messages the
// gRPC QueryService uses, encoded without reflection by the code
// protoc-gen-go-vtproto generates (codec.go); streaming calls, health and
// admin stay on gRPC.
//
// Frame: a 4-byte big-endian length n, then n bytes: one byte naming the
// method (request) or the outcome (response), then the protobuf message.
// Responses: outcomeOK + the response message, or outcomeError + a
// querypb.MySQLError carrying the MySQL error code, SQLSTATE and message.
//
// A caller that gives up (its context ends) closes the connection. The
// server watches a connection whose call has run for a while (the caller
// sends nothing meanwhile, so a read that returns means it is gone) and
// then ends the call's context, so that the tablet kills the statement on
// MySQL instead of running it to its timeout.
//
// Connections may use TLS (WithTLS; the server is given a TLS listener).
package queryrpc
