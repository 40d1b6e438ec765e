package keyspace

import (
	"context"

	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/topo"
)

// ApplyVSchema validates a keyspace's vschema JSON with
// vschema.ParseVSchema against the keyspace record (which says whether it
// is sharded) and stores it as given. An invalid vschema is not stored; the
// error names the table, vindex or field at fault.
func ApplyVSchema(ctx context.Context, ts *topo.Server, keyspace string, vschemaJSON []byte) error {
	ks, err := ts.GetKeyspace(ctx, keyspace)
	if err != nil {
		return err
	}
	if _, _, err := vschema.ParseVSchema(keyspace, ks.Sharded, vschemaJSON); err != nil {
		return err
	}
	return ts.SaveVSchema(ctx, keyspace, vschemaJSON)
}
