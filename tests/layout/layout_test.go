// Package layout checks that imports between the project's packages point
// one way, from the top of the stack down:
//
//	cmd/*, tests/*, examples/*       wiring, tests and examples
//	localcluster                     a whole cluster on one machine
//	control/...                      the control plane: keyspaces, schema,
//	                                 backups, resharding, the admin UI
//	gateway/..., tablet/...          the data plane: the gate (with the
//	                                 planner, sqlrouter/...) and the tablet
//	topo/..., sqlrouter/vschema      the topology and the vschema model
//	vindex, proto/*, internal/*      leaves: vindexes, generated protocol
//	                                 code, utilities
//
// A package may import its own subtree and the layers below it, never the
// layers above; gate and tablet never import each other's server code,
// and internal/ holds only leaves. The rules are the table below; a new
// top-level folder must be added to it, so that the layout stays a
// decision.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/shardgate/shardgate/"

// rule says which project packages the packages under prefix may import,
// as prefixes. The first rule whose prefix matches a package applies, so
// narrower prefixes come first.
type rule struct {
	prefix string
	mayUse []string
	why    string
}

var leaves = []string{"internal/", "proto/", "vindex"}

var rules = []rule{
	{"cmd/", []string{""}, "commands wire everything"},
	{"tests/", []string{""}, "tests reach everything"},
	{"examples/", []string{""}, "examples use the public packages"},
	{"localcluster", []string{"localcluster", "control", "topo", "tablet/mysqld", "sqlrouter/vschema", "internal/", "proto/", "vindex"},
		"the local cluster drives the control plane and starts processes; it does not link the gate or tablet servers"},
	{"control", []string{"control", "topo", "sqlrouter", "tablet/tabletclient", "tablet/reparent", "internal/", "proto/", "vindex"},
		"the control plane reaches tablets through their client and the topology, never through the gate's or a tablet's server code; reparents run the steps failing-over tablets run"},
	{"tablet/reparent", []string{"tablet/reparent", "tablet/tabletclient", "topo", "internal/", "proto/"},
		"a reparent speaks to tablets only through their calls, so that tablets and the control plane share it"},
	{"gateway/mysqlserver", nil, "the MySQL protocol server is a leaf: it knows the wire, not the gate"},
	{"gateway/client", []string{"internal/", "proto/"}, "the Go driver links only the protocol"},
	{"gateway", []string{"gateway", "sqlrouter", "topo", "tablet/tabletclient", "internal/", "proto/", "vindex"},
		"the gate plans with sqlrouter and reaches tablets through their client"},
	{"tablet/tabletclient", []string{"tablet/tabletclient", "internal/", "proto/"}, "the tablet client is shared by gate, control plane and streams"},
	{"tablet", []string{"tablet", "topo", "sqlrouter/vschema", "internal/", "proto/", "vindex"},
		"tablets know their shard, the topology and vindexes, not the planner or the gate"},
	{"sqlrouter/vschema", []string{"sqlrouter/vschema", "internal/", "vindex"}, "the vschema model is below the planner"},
	{"sqlrouter", []string{"sqlrouter", "internal/", "vindex"}, "the planner is pure: SQL and vschema in, plans out"},
	{"topo", []string{"topo", "sqlrouter/vschema", "internal/", "proto/", "vindex"}, "the topology stores; it does not plan or serve"},
	{"vindex", nil, "vindexes are leaves"},
	{"proto/", []string{"proto/"}, "generated code"},
	{"internal/", []string{"internal/", "proto/"}, "internal/ holds leaf utilities only"},
}

func ruleFor(pkg string) (rule, bool) {
	for _, r := range rules {
		if under(pkg, r.prefix) {
			return r, true
		}
	}
	return rule{}, false
}

// under reports whether pkg is prefix or inside it. A prefix ending in "/"
// matches only packages inside it; "" matches everything.
func under(pkg, prefix string) bool {
	if prefix == "" || pkg == prefix {
		return true
	}
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(pkg, prefix)
	}
	return strings.HasPrefix(pkg, prefix+"/")
}

func TestImportsPointDown(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		r, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("%s: no layer rule covers this package; add its folder to the rules in tests/layout", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if !allowed(r, imp) {
				t.Errorf("%s imports %s: %s", pkg, imp, r.why)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d packages; go list found too few, so the check saw nothing", checked)
	}
}

func allowed(r rule, imp string) bool {
	for _, p := range r.mayUse {
		if under(imp, p) {
			return true
		}
	}
	return false
}

// TestRulesClassify keeps the prefix matching honest: "topo" must not
// match "topology", and narrower rules must win over wider ones.
func TestRulesClassify(t *testing.T) {
	for pkg, want := range map[string]string{
		"gateway/mysqlserver": "gateway/mysqlserver",
		"gateway":             "gateway",
		"sqlrouter/vschema":   "sqlrouter/vschema",
		"sqlrouter/loaddata":  "sqlrouter",
		"topo/twopc":          "topo",
		"internal/sqlerr":     "internal/",
		"control/reshard":     "control",
	} {
		if r, _ := ruleFor(pkg); r.prefix != want {
			t.Errorf("%s falls under rule %q, want %q", pkg, r.prefix, want)
		}
	}
	if under("topology", "topo") {
		t.Error(`"topology" is under "topo"`)
	}
	if !allowed(rule{mayUse: leaves}, "vindex") || allowed(rule{mayUse: leaves}, "vindexes") {
		t.Error("leaf prefixes match the wrong packages")
	}
}
