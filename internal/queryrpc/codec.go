package queryrpc

import "github.com/shardgate/shardgate/proto/querypb"

// Frames carry querypb messages encoded by the code protoc-gen-go-vtproto
// generates beside the protobuf-go code (proto/querypb/query_vtproto.pb.go,
// `make proto`): it encodes and decodes without reflection, and decodes an
// answer's row values as slices of the frame itself (UnmarshalVTUnsafe),
// so an answer costs its frame, its row messages and their lengths. The
// bytes are protobuf's, the same the gRPC QueryService sends.
//
// Reflection (proto.Marshal and proto.Unmarshal) costs twice the time and
// 3 allocations per row of an answer, which is why a hand-written codec of
// results stood here before. The generated code replaced it: on the
// 2-vCPU development VM (2026-12-05, medians of 6) a 100-row answer
// encoded and decoded in 35-38 us against the hand codec's 28 us and
// reflection's 65-80 us (BenchmarkCodec100Rows), a whole call over
// loopback took the same time (BenchmarkExecuteRoundTrip: 13 us against
// 15 us for one row, 52 against 56 us for 100 rows; requests were
// encoded by reflection before), and sysbench through the gate used as
// much CPU per statement. What it costs is 2 allocations per row decoded
// (the Row message and its lengths), where the hand codec shared three
// arrays among all rows; it keeps itself complete when query.proto
// changes, which the hand codec needed a test to remind of.

// message is what every querypb message implements through the generated
// code.
type message interface {
	SizeVT() int
	MarshalToSizedBufferVT(dAtA []byte) (int, error)
	UnmarshalVT(dAtA []byte) error
	UnmarshalVTUnsafe(dAtA []byte) error
}

// keepsFrame reports whether an answer is decoded in place: its bytes and
// strings alias the frame, which the caller must then not reuse. Answers
// with rows are, to spare copying the rows; small answers are copied out
// of the connection's reused buffer.
func keepsFrame(resp message) bool {
	switch resp.(type) {
	case interface{ GetResult() *querypb.QueryResult }:
		return true
	}
	return false
}
