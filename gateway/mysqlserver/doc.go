// Package mysqlserver serves the MySQL client/server protocol (as MariaDB
// 10.11 speaks it) to any MySQL or MariaDB client, driver or ORM, and
// hands what clients ask for to a Handler. It was written from the
// protocol's documentation and checked against MariaDB's own bytes; it
// imports no server code from Vitess or elsewhere, only Vitess's value
// types (sqltypes, querypb, sqlerror), which the gate's executor speaks.
//
// # Contract
//
// Listen opens the address, Serve accepts until Close. Each connection
// runs on its own goroutine: handshake (protocol 10, optional TLS),
// authentication through the Authenticator (mysql_native_password and
// caching_sha2_password, with plugin switches), then Handler.NewConnection
// and, if the client named one, Handler.ComInitDB. Then commands, one at a
// time: the Handler is never called concurrently for one connection, and
// the connection's session (Conn.SetSession) needs no locking. The server
// answers the protocol's bookkeeping itself (COM_PING, COM_SET_OPTION,
// COM_STMT_FETCH, COM_STMT_RESET, COM_PROCESS_KILL, COM_DEBUG, unknown and
// binlog commands); everything about statements goes to the Handler.
//
// Results are sqltypes.Result values given to a callback, as Vitess's
// StreamExecute gives them; the server writes text rows for COM_QUERY and
// binary rows for COM_STMT_EXECUTE from the column types, and reads the
// session's status flags, warning count and tracked changes
// (SessionState, SessionTracker) for every OK and EOF packet it writes.
// Prepared statement parameters arrive as bind variables "v1".."vN" of
// their protocol types (an unsigned BIGINT as UINT64, whatever its value).
//
// # Invariants
//
//   - Memory follows what clients actually send, not what they announce:
//     a packet is read into a buffer grown as its bytes arrive, packets are
//     bounded by Config.MaxPacketSize (max_allowed_packet) after login and
//     by 68 KiB (a handshake response with 64 KiB of connection
//     attributes) or 4 KiB before it, and a connection that has not logged
//     in within Config.HandshakeTimeout is closed. An idle connection holds
//     a 4 KiB read buffer and a payload buffer of at most 64 KiB; write
//     buffers are pooled and held only while a command answers. (A
//     read-only cursor holds its result's rows, encoded, until fetched.)
//   - An answer is written once: packets accumulate in one buffer that is
//     flushed at the end of the command's response (and every 64 KiB in
//     long results), so a small answer costs one write system call.
//     Encoding rows allocates nothing per row.
//   - Every command ends with exactly one response (or none, for the
//     commands the protocol leaves unanswered), whatever the handler does:
//     its errors become ERR packets (a *sqlerror.SQLError keeps its code,
//     SQLSTATE and message; others are 1105), its panics are recovered,
//     logged with their stack and answered with 1105, and a LOAD DATA LOCAL
//     file it did not read to the end is drained first. Only a broken
//     connection or a malformed stream closes a connection, and never
//     another one.
//   - Each command runs with a context cancelled by Conn.CancelStatement
//     (KILL QUERY) and by Conn.Close (KILL CONNECTION, idle timeout,
//     Server.Close).
//   - Accept never gives up on resource exhaustion (EMFILE, ENFILE,
//     ENOBUFS): it backs off up to a second and tries again.
//
// # Not offered
//
// Compression, the X protocol, MariaDB's bulk execution, progress and
// metadata caching extensions (its extended metadata is offered: see
// Conn.appendColumnDef), query attributes, the RSA key exchange of
// caching_sha2_password (full authentication requires TLS or a unix
// socket), and replication (binlog) commands.
package mysqlserver
