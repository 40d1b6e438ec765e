package vreplication

import (
	"encoding/json"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/sqltypes"
)

// The streams' state lives beside the data it describes, in a database of
// its own (never streamed: streams carry the keyspace's database only).
var stateSchema = []string{
	"CREATE DATABASE IF NOT EXISTS _shardgate",
	`CREATE TABLE IF NOT EXISTS _shardgate.resharding (
  workflow VARBINARY(128) NOT NULL,
  sender VARBINARY(64) NOT NULL,
  epoch BIGINT NOT NULL,
  position VARBINARY(8192) NOT NULL,
  copy_state MEDIUMBLOB NOT NULL,
  PRIMARY KEY (workflow, sender)
) ENGINE=InnoDB`,
}

// state is one stream's progress.
type state struct {
	Epoch    int64
	Position string
	Copy     copyState
}

// copyState is each table's copy progress, in copy order.
type copyState struct {
	Tables []*tableCopy `json:"tables"`
}

type tableCopy struct {
	Name string `json:"name"`
	// LastPK is the primary key of the last row read (copied or not:
	// rows outside the key range are skipped); nil before the first chunk.
	LastPK []pkValue `json:"last_pk,omitempty"`
	Done   bool      `json:"done,omitempty"`
	Rows   int64     `json:"rows,omitempty"`
}

type pkValue struct {
	Type  int32  `json:"t"`
	Value []byte `json:"v"`
}

func (c *copyState) done() bool {
	for _, t := range c.Tables {
		if !t.Done {
			return false
		}
	}
	return true
}

func (c *copyState) table(name string) *tableCopy {
	for _, t := range c.Tables {
		if strings.EqualFold(t.Name, name) {
			return t
		}
	}
	return nil
}

func encodePK(vals []sqltypes.Value) []pkValue {
	out := make([]pkValue, len(vals))
	for i, v := range vals {
		out[i] = pkValue{Type: int32(v.Type()), Value: v.Raw()}
	}
	return out
}

func decodePK(vals []pkValue) []sqltypes.Value {
	out := make([]sqltypes.Value, len(vals))
	for i, v := range vals {
		out[i] = sqltypes.MakeTrusted(sqltypes.Type(v.Type), v.Value)
	}
	return out
}

func ensureStateTable(conn *mysql.Conn) error {
	for _, q := range stateSchema {
		if _, err := conn.ExecuteFetch(q, 0, false); err != nil {
			return fmt.Errorf("create the resharding state table: %w", err)
		}
	}
	return nil
}

// loadState reads a stream's state; ok is false when there is none.
func loadState(conn *mysql.Conn, workflow, sender string) (*state, bool, error) {
	res, err := conn.ExecuteFetch("SELECT epoch, position, copy_state FROM _shardgate.resharding WHERE workflow = "+
		sqltypes.EncodeStringSQL(workflow)+" AND sender = "+sqltypes.EncodeStringSQL(sender), 1, false)
	if err != nil {
		return nil, false, fmt.Errorf("read the state of stream %s from %s: %w", workflow, sender, err)
	}
	if len(res.Rows) == 0 {
		return nil, false, nil
	}
	st := &state{Position: res.Rows[0][1].ToString()}
	if st.Epoch, err = res.Rows[0][0].ToInt64(); err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(res.Rows[0][2].Raw(), &st.Copy); err != nil {
		return nil, false, fmt.Errorf("the copy state of stream %s from %s: %w", workflow, sender, err)
	}
	return st, true, nil
}

// saveStateSQL writes a stream's state (run in the transaction of the rows
// it describes).
func saveStateSQL(workflow, sender string, st *state) (string, error) {
	cs, err := json.Marshal(st.Copy)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("REPLACE INTO _shardgate.resharding (workflow, sender, epoch, position, copy_state) VALUES (%s, %s, %d, %s, %s)",
		sqltypes.EncodeStringSQL(workflow), sqltypes.EncodeStringSQL(sender), st.Epoch,
		sqltypes.EncodeStringSQL(st.Position), sqltypes.EncodeStringSQL(string(cs))), nil
}

// deleteStateSQL forgets a stream.
func deleteStateSQL(workflow string) string {
	return "DELETE FROM _shardgate.resharding WHERE workflow = " + sqltypes.EncodeStringSQL(workflow)
}
