package queryrpc

import "github.com/shardgate/shardgate/proto/querypb"

// Frames carry querypb messages encoded by the code protoc-gen-go-vtproto
// generates beside the protobuf-go code (proto/querypb/query_vtproto.pb.go,
// `make proto`): it encodes and decodes without reflection, and decodes an
// answer's row values as slices of the frame itself (UnmarshalVTUnsafe),
// so an answer costs its frame, its row messages and their lengths. The
// bytes are protobuf's, the same the gRPC QueryService sends.
//
// Reflection (proto.Marshal and proto.Unmarshal) cost twice the time and
// 3 allocations per row on a 100-row answer, which is why a hand-written
// codec stood here before; the generated code comes within a few
// microseconds of it (BenchmarkCodec100Rows) and keeps itself complete
// when query.proto changes.

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
