package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/metricsampler"
	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/topo"
)

// TableInfo is a table as the keyspace's vschema declares it.
type TableInfo struct {
	Name string
	// Type is "" (a sharded or unsharded table), "reference" or "sequence".
	Type string
	// Vindexes are its column vindexes, "column: vindex (type)", the
	// primary first.
	Vindexes []string
	// AutoIncrement names the column a sequence fills and the sequence.
	AutoIncrement string
	// Columns are the table's columns on the shard read (its type
	// after the name), or those the vschema declares when no shard could
	// be read.
	Columns []string
	// NotInVSchema: the table is on the shard but the vschema does not
	// declare it.
	NotInVSchema bool
}

// ShardTraffic is a shard with its latest sampled traffic.
type ShardTraffic struct {
	Shard
	Tablets []Tablet
	// Latest is the last point sampled of it; HasLatest says there is one.
	Latest    metricsampler.Point
	HasLatest bool
}

type keyspaceView struct {
	page
	Keyspace *topopb.Keyspace
	VSchema  string
	Tables   []TableInfo
	Shards   []ShardTraffic
	Charts   []template.HTML
	Source   string
	Problems []string
}

// keyspacePage shows a keyspace's vschema and tables, and its shards
// with their tablets and traffic.
func (s *Server) keyspacePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	name := r.PathValue("keyspace")
	ks, err := s.ts.GetKeyspace(ctx, name)
	if errors.Is(err, topo.ErrNotFound) {
		http.Error(w, fmt.Sprintf("keyspace %s: %v", name, err), http.StatusNotFound)
		return
	} else if err != nil {
		http.Error(w, fmt.Sprintf("read keyspace %s from the topology: %v", name, err), http.StatusBadGateway)
		return
	}
	v := keyspaceView{page: s.livePage(r, "Keyspace "+name, ""), Keyspace: ks}
	problem := func(what string, err error) { v.Problems = append(v.Problems, fmt.Sprintf("%s: %v", what, err)) }

	raw, _, err := s.ts.GetVSchema(ctx, name)
	switch {
	case errors.Is(err, topo.ErrNotFound) || err == nil && len(bytes.TrimSpace(raw)) == 0:
		v.VSchema = "(none)"
	case err != nil:
		problem("vschema", err)
	default:
		var pretty bytes.Buffer
		if json.Indent(&pretty, raw, "", "  ") == nil {
			v.VSchema = pretty.String()
		} else {
			v.VSchema = string(raw)
		}
		var vs vschema.VSchemaJSON
		if err := json.Unmarshal(raw, &vs); err != nil {
			problem("vschema", err)
		}
		v.Tables = tablesOf(&vs)
	}

	shards, err := s.ts.ListShards(ctx, name)
	if err != nil {
		problem("shards", err)
	}
	serving := map[string]bool{}
	if srv, err := s.ts.GetSrvKeyspace(ctx, s.cell, name); err == nil {
		for _, p := range srv.Partitions {
			if p.TabletType == topopb.TabletType_PRIMARY {
				for _, ref := range p.Shards {
					serving[ref.Name] = true
				}
			}
		}
	} else if !errors.Is(err, topo.ErrNotFound) {
		problem("serving graph", err)
	}
	tablets, err := s.ts.ListTablets(ctx)
	if err != nil {
		problem("tablets", err)
	}
	_, win := window(r)
	var lines []chartLine
	for _, sh := range shards {
		st := ShardTraffic{Shard: Shard{Name: sh.Name, Primary: sh.PrimaryAlias, PrimaryServing: sh.PrimaryServing, InServingGraph: serving[sh.Name]}}
		for _, t := range tablets {
			if t.Keyspace == name && t.Shard == sh.Name {
				st.Tablets = append(st.Tablets, Tablet{Alias: t.Alias, Type: strings.ToLower(t.Type.String())})
			}
		}
		scope := metricsampler.Scope{Kind: metricsampler.Shard, Name: metricsampler.ShardName(name, sh.Name)}
		series := s.sampler.Series(scope, win)
		v.Source = series.Source
		if n := len(series.Points); n > 0 {
			st.Latest, st.HasLatest = series.Points[n-1], true
		}
		v.Shards = append(v.Shards, st)
		lines = append(lines, chartLine{sh.Name, scope})
	}
	v.Charts = s.chartSet("shards", lines, win)
	if r.URL.Query().Get("fragment") != "1" {
		// The tables are outside the live part: read them once.
		if cols, err := s.columns(ctx, name, shards); err != nil {
			problem("columns", err)
		} else {
			v.Tables = withColumns(v.Tables, cols)
		}
	}
	s.renderLive(w, r, "keyspace", v)
}

// columnsQuery lists the tables and columns of the shard's database.
const columnsQuery = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS " +
	"WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION"

// columns reads the columns of every table on the first shard with a
// primary, by table ("name type").
func (s *Server) columns(ctx context.Context, keyspace string, shards []*topopb.Shard) (map[string][]string, error) {
	for _, sh := range shards {
		if sh.PrimaryAlias == "" {
			continue
		}
		rec, err := s.ts.GetTablet(ctx, sh.PrimaryAlias)
		if err != nil {
			return nil, err
		}
		conn, err := control.DialTablet(rec, s.opts...)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(ctx, control.HealthProbeTimeout)
		defer cancel()
		resp, err := conn.QueryService().Execute(ctx, &querypb.ExecuteRequest{
			Target: &querypb.Target{Keyspace: keyspace, Shard: sh.Name, TabletType: topopb.TabletType_PRIMARY},
			Sql:    []byte(columnsQuery), Options: &querypb.ExecuteOptions{TimeoutMs: control.HealthProbeTimeout.Milliseconds()}})
		if err != nil {
			return nil, fmt.Errorf("shard %s (tablet %s): %w", sh.Name, rec.Alias, control.RPCError(err, rec))
		}
		res, err := queryconv.ResultFromProto(resp.Result)
		if err != nil {
			return nil, err
		}
		out := map[string][]string{}
		for _, row := range res.Rows {
			if len(row) == 3 {
				out[row[0].ToString()] = append(out[row[0].ToString()], row[1].ToString()+" "+row[2].ToString())
			}
		}
		return out, nil
	}
	return nil, nil
}

// withColumns puts the columns read in the tables, adding the tables the
// vschema does not declare.
func withColumns(tables []TableInfo, cols map[string][]string) []TableInfo {
	if cols == nil {
		return tables
	}
	seen := map[string]bool{}
	for i := range tables {
		seen[tables[i].Name] = true
		if c, ok := cols[tables[i].Name]; ok {
			tables[i].Columns = c
		}
	}
	for name, c := range cols {
		if !seen[name] {
			tables = append(tables, TableInfo{Name: name, Columns: c, NotInVSchema: true})
		}
	}
	slices.SortFunc(tables, func(a, b TableInfo) int { return strings.Compare(a.Name, b.Name) })
	return tables
}

// tablesOf lists the tables a vschema declares, by name.
func tablesOf(vs *vschema.VSchemaJSON) []TableInfo {
	var out []TableInfo
	for name, t := range vs.Tables {
		ti := TableInfo{Name: name, Type: t.Type}
		for _, cv := range t.ColumnVindexes {
			cols := cv.Column
			if len(cv.Columns) > 0 {
				cols = strings.Join(cv.Columns, ", ")
			}
			ti.Vindexes = append(ti.Vindexes, fmt.Sprintf("%s: %s (%s)", cols, cv.Name, vs.Vindexes[cv.Name].Type))
		}
		if a := t.AutoIncrement; a != nil {
			ti.AutoIncrement = a.Column + " from " + a.Sequence
		}
		for _, c := range t.Columns {
			ti.Columns = append(ti.Columns, strings.TrimSpace(c.Name+" "+c.Type))
		}
		out = append(out, ti)
	}
	slices.SortFunc(out, func(a, b TableInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
