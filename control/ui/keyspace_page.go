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

	"github.com/shardgate/shardgate/control/metricsampler"
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
	// Columns are the columns the vschema declares (often none).
	Columns []string
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
	s.renderLive(w, r, "keyspace", v)
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
