package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/tablet/mysqld"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/vindex"
)

// Default ports: Vitess's local defaults, so guides and habits carry over.
// Tablet i (counting the shards of all keyspaces in order from 0) uses the
// tablet and MySQL bases plus i.
const (
	DefaultBasePort       = 15000
	DefaultEtcdClientPort = 2379
	DefaultEtcdPeerPort   = 2380
	DefaultGateMySQLPort  = 15306
	DefaultGateGRPCPort   = 15991
	DefaultGateHTTPPort   = 15001
	DefaultTabletGRPCBase = 16100
	DefaultTabletHTTPBase = 15100
	// DefaultTabletQueryBase numbers the tablets' lean query ports.
	DefaultTabletQueryBase = 18100
	DefaultMySQLBase       = 17100
)

// DefaultStartTimeout bounds Up unless Config.StartTimeout says otherwise.
const DefaultStartTimeout = 3 * time.Minute

// firstTabletUID is the uid of tablet 0: its alias is <cell>-100.
const firstTabletUID = 100

// KeyspaceSpec is a keyspace of a local cluster.
type KeyspaceSpec struct {
	Name string
	// Shards names the shards ("-80", "80-"); when empty, ShardCount even
	// shards are made (vindex.EvenShards), and with neither, one shard "0".
	Shards     []string
	ShardCount int
	// ExtraShards are shards beside those that tile the key space: the
	// targets a resharding added (shardctl local add-shards), or, once it
	// completed, its sources. A restart starts the tablets of those the
	// topology still has and leaves the keyspace's shards as they are.
	ExtraShards []string
	// Sharded makes a single-shard keyspace sharded. A keyspace with more
	// than one shard, or whose VSchema says "sharded": true, is sharded
	// anyway.
	Sharded bool
	// VSchema is the vschema JSON, applied when the keyspace is created.
	// Nil: none.
	VSchema []byte
	// Schema is SQL run on every shard once, when the cluster first comes
	// up with this keyspace. Nil: none.
	Schema []byte
}

// Config describes a local cluster. Zero fields take their defaults (see
// Defaults); DataDir and at least one keyspace are required.
type Config struct {
	// DataDir holds everything the cluster writes: etcd's data, each
	// shard's MariaDB data, logs, and the state file cluster.json.
	DataDir   string
	Keyspaces []KeyspaceSpec

	// Cell is the cell of the tablets and serving graph (topo.DefaultCell).
	Cell string
	// TopoRoot is the key prefix of the topology in etcd (topo.DefaultRoot).
	TopoRoot string

	// BasePort, when set, shifts every port below by BasePort-15000, so
	// BasePort 25000 puts the gate's MySQL port on 25306 and etcd on 12379.
	// Two clusters with base ports far enough apart run side by side.
	BasePort        int
	EtcdClientPort  int
	EtcdPeerPort    int
	GateMySQLPort   int
	GateGRPCPort    int
	GateHTTPPort    int
	TabletGRPCBase  int
	TabletHTTPBase  int
	TabletQueryBase int
	MySQLBase       int

	// BinDir is where the shardgate and shardtablet binaries are. Empty:
	// the directory of the running executable, then $PATH.
	BinDir string
	// MySQLBinary is the MariaDB server. Empty: mysqld.FindBinary.
	MySQLBinary string
	// MySQLDurability is what every shard server flushes at commit.
	// Empty: full (innodb_flush_log_at_trx_commit=1, sync_binlog=1);
	// relaxed is for tests (see mysqld.DurabilityRelaxed).
	MySQLDurability mysqld.Durability

	// StartTimeout bounds Up (DefaultStartTimeout).
	StartTimeout time.Duration

	// Supervise restarts a gate, tablet or mariadbd that exits by itself
	// (a crash, kill -9), with backoff, and logs it; `shardctl local up`
	// turns it on. Parts stopped on purpose (StopTablet, StopMySQLD,
	// RestartGate) are left alone until started again. Off, a part that
	// exits stays down: tests that crash parts start them themselves.
	Supervise bool

	// Replicas is how many replica tablets each shard has beside its
	// primary, each with a mariadbd of its own that replicates from the
	// primary (semi-synchronously: an acknowledged commit is on a
	// replica). 0: primaries alone.
	Replicas int
	// ExtraTablets are tablets added to shards one by one (AddTablet),
	// started after the shards' own.
	ExtraTablets []ExtraTablet

	// SpareTablets reserves the ports of this many tablets added later
	// (AddShards): Up and FreeBasePort check that they are free too.
	SpareTablets int

	// TabletTLS, when set, runs the tablets with TLS on their gRPC and
	// query ports, admitting only clients whose certificates its CA
	// signed; the gate and the cluster's own checks present its client
	// certificate.
	TabletTLS *TabletTLS

	// BackupStorage is the tablets' backup store URL (see
	// tablet/backupstore). Empty: file://DataDir/backups.
	BackupStorage string
	// ThroughTablets sends every statement through the tablets. By default
	// the tablets offer direct reads (gateway/direct_reads.go) as the
	// user DirectReadUser, whose password Up keeps in the data directory,
	// and the gate takes the offer.
	ThroughTablets bool
	// TabletTransactions keeps transactions going through the tablets
	// while reads go direct. By default the tablets offer transactions on
	// MariaDB too (shardtablet --direct-transactions, as DirectReadUser
	// with INSERT, UPDATE and DELETE) and the gate takes them.
	TabletTransactions bool

	// TabletArgs are added to every tablet's command line; TabletEnv to
	// its environment (e.g. AWS_ACCESS_KEY_ID for an s3:// store).
	TabletArgs []string
	TabletEnv  []string
}

// TabletTLS names the PEM files of a cluster whose tablets speak TLS.
type TabletTLS struct {
	// CAFile signed the tablets' certificate and the client certificate.
	CAFile string
	// CertFile and KeyFile are the tablets' certificate (for 127.0.0.1).
	CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are what the gate and the cluster's
	// checks present to the tablets.
	ClientCertFile, ClientKeyFile string
}

// tabletArgs are the tablets' TLS flags.
func (t *TabletTLS) tabletArgs() []string {
	if t == nil {
		return nil
	}
	return []string{"--grpc-cert", t.CertFile, "--grpc-key", t.KeyFile, "--grpc-client-ca", t.CAFile,
		// Resharding streams reach other tablets as a client would.
		"--tablet-ca", t.CAFile, "--tablet-cert", t.ClientCertFile, "--tablet-key", t.ClientKeyFile}
}

// gateArgs are the gate's flags to reach such tablets.
func (t *TabletTLS) gateArgs() []string {
	if t == nil {
		return nil
	}
	return []string{"--tablet-ca", t.CAFile, "--tablet-cert", t.ClientCertFile, "--tablet-key", t.ClientKeyFile}
}

// adminOptions are how the cluster's own checks reach the tablets.
func (t *TabletTLS) adminOptions() ([]control.Option, error) {
	if t == nil {
		return nil, nil
	}
	cfg, err := tlsconfig.Client{CAFile: t.CAFile, CertFile: t.ClientCertFile, KeyFile: t.ClientKeyFile}.Config()
	if err != nil {
		return nil, fmt.Errorf("local cluster: tablet TLS: %w", err)
	}
	return []control.Option{control.WithTabletTLS(cfg)}, nil
}

// Defaults returns a Config with every default filled in, but no DataDir
// and no keyspace.
func Defaults() Config {
	return Config{
		Cell:            topo.DefaultCell,
		TopoRoot:        topo.DefaultRoot,
		EtcdClientPort:  DefaultEtcdClientPort,
		EtcdPeerPort:    DefaultEtcdPeerPort,
		GateMySQLPort:   DefaultGateMySQLPort,
		GateGRPCPort:    DefaultGateGRPCPort,
		GateHTTPPort:    DefaultGateHTTPPort,
		TabletGRPCBase:  DefaultTabletGRPCBase,
		TabletHTTPBase:  DefaultTabletHTTPBase,
		TabletQueryBase: DefaultTabletQueryBase,
		MySQLBase:       DefaultMySQLBase,
		StartTimeout:    DefaultStartTimeout,
	}
}

// withDefaults fills zero fields from Defaults.
func (c Config) withDefaults() Config {
	d := Defaults()
	setString := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setString(&c.Cell, d.Cell)
	setString(&c.TopoRoot, d.TopoRoot)
	setInt(&c.EtcdClientPort, d.EtcdClientPort)
	setInt(&c.EtcdPeerPort, d.EtcdPeerPort)
	setInt(&c.GateMySQLPort, d.GateMySQLPort)
	setInt(&c.GateGRPCPort, d.GateGRPCPort)
	setInt(&c.GateHTTPPort, d.GateHTTPPort)
	setInt(&c.TabletGRPCBase, d.TabletGRPCBase)
	setInt(&c.TabletHTTPBase, d.TabletHTTPBase)
	setInt(&c.TabletQueryBase, d.TabletQueryBase)
	setInt(&c.MySQLBase, d.MySQLBase)
	if c.StartTimeout == 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.BackupStorage == "" && c.DataDir != "" {
		if abs, err := filepath.Abs(c.DataDir); err == nil {
			c.BackupStorage = "file://" + filepath.Join(abs, "backups")
		}
	}
	return c
}

// Ports are the ports a cluster uses, after BasePort's shift.
type Ports struct {
	EtcdClient      int `json:"etcd_client"`
	EtcdPeer        int `json:"etcd_peer"`
	GateMySQL       int `json:"gate_mysql"`
	GateGRPC        int `json:"gate_grpc"`
	GateHTTP        int `json:"gate_http"`
	TabletGRPCBase  int `json:"tablet_grpc_base"`
	TabletHTTPBase  int `json:"tablet_http_base"`
	TabletQueryBase int `json:"tablet_query_base"`
	MySQLBase       int `json:"mysql_base"`
}

// Ports returns the ports c uses: its fields (or their defaults) shifted by
// BasePort-15000 when BasePort is set.
func (c Config) Ports() Ports {
	c = c.withDefaults()
	shift := 0
	if c.BasePort != 0 {
		shift = c.BasePort - DefaultBasePort
	}
	return Ports{
		EtcdClient:      c.EtcdClientPort + shift,
		EtcdPeer:        c.EtcdPeerPort + shift,
		GateMySQL:       c.GateMySQLPort + shift,
		GateGRPC:        c.GateGRPCPort + shift,
		GateHTTP:        c.GateHTTPPort + shift,
		TabletGRPCBase:  c.TabletGRPCBase + shift,
		TabletHTTPBase:  c.TabletHTTPBase + shift,
		TabletQueryBase: c.TabletQueryBase + shift,
		MySQLBase:       c.MySQLBase + shift,
	}
}

// keyspacePlan is a keyspace spec resolved: its shards named and checked.
type keyspacePlan struct {
	keyspace.KeyspacePlan
	Extra           []string
	VSchema, Schema []byte
}

// layout is the keyspace as NAME:SHARD,SHARD[+EXTRA,EXTRA], as the state
// file records it.
func (k keyspacePlan) layout() string {
	out := k.Name + ":" + strings.Join(k.Shards, ",")
	if len(k.Extra) > 0 {
		out += "+" + strings.Join(k.Extra, ",")
	}
	return out
}

// tabletPlan is one tablet of a shard and its MySQL server.
type tabletPlan struct {
	Alias           string
	UID             int
	Keyspace, Shard string
	// Type is the tablet's type when it starts ("primary" or "replica");
	// a reparent may change its role later.
	Type      string
	GRPCPort  int
	HTTPPort  int
	QueryPort int
	MySQL     mysqld.Config
}

// plan is a validated Config with everything derived from it.
type plan struct {
	cfg       Config // defaults filled in, DataDir absolute
	ports     Ports
	keyspaces []keyspacePlan
	tablets   []tabletPlan
	// nextTablet is the index (ports, uid) of the next tablet added.
	nextTablet int
}

// newTablet plans the primary tablet of a shard at index i.
func (p *plan) newTablet(i int, keyspace, shard string) tabletPlan {
	uid := firstTabletUID + i
	return tabletPlan{
		Alias:     p.cfg.Cell + "-" + strconv.Itoa(uid),
		UID:       uid,
		Keyspace:  keyspace,
		Shard:     shard,
		Type:      "primary",
		GRPCPort:  p.ports.TabletGRPCBase + i,
		HTTPPort:  p.ports.TabletHTTPBase + i,
		QueryPort: p.ports.TabletQueryBase + i,
		MySQL: mysqld.Config{
			DataDir:    filepath.Join(p.cfg.DataDir, keyspace, shard, "mysql"),
			Port:       p.ports.MySQLBase + i,
			ServerID:   uint32(uid),
			Binary:     p.cfg.MySQLBinary,
			Durability: p.cfg.MySQLDurability,
		},
	}
}

// newReplica plans a replica tablet of a shard at index i: its server's
// data lives beside the primary's, under the shard's directory.
func (p *plan) newReplica(i int, keyspace, shard string) tabletPlan {
	t := p.newTablet(i, keyspace, shard)
	t.Type = "replica"
	t.MySQL.DataDir = filepath.Join(p.cfg.DataDir, keyspace, shard, "replica-"+strconv.Itoa(t.UID), "mysql")
	return t
}

// Validate reports the first thing wrong with c, or nil.
func (c Config) Validate() error {
	_, err := c.plan()
	return err
}

func (c Config) plan() (*plan, error) {
	c = c.withDefaults()
	if c.DataDir == "" {
		return nil, errors.New("local cluster: DataDir is required")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("local cluster: DataDir %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if len(c.Keyspaces) == 0 {
		return nil, errors.New("local cluster: no keyspace given")
	}
	if err := topo.ValidateName("cell", c.Cell); err != nil {
		return nil, fmt.Errorf("local cluster: %w", err)
	}
	if c.Replicas < 0 || c.Replicas > 8 {
		return nil, fmt.Errorf("local cluster: %d replicas per shard: choose 0 to 8", c.Replicas)
	}
	if c.BasePort < 0 || c.BasePort > 65535 {
		return nil, fmt.Errorf("local cluster: base port %d is not a TCP port", c.BasePort)
	}
	p := &plan{cfg: c, ports: c.Ports()}
	seen := map[string]bool{}
	for _, spec := range c.Keyspaces {
		if seen[spec.Name] {
			return nil, fmt.Errorf("local cluster: keyspace %s is given twice", spec.Name)
		}
		seen[spec.Name] = true
		shards := spec.Shards
		if len(shards) == 0 {
			n := max(spec.ShardCount, 1)
			if shards, err = vindex.EvenShards(n); err != nil {
				return nil, fmt.Errorf("local cluster: keyspace %s: %w", spec.Name, err)
			}
		}
		ks, err := keyspace.NewKeyspacePlan(spec.Name, shards, spec.Sharded || vschemaSaysSharded(spec.VSchema))
		if err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
		for _, e := range spec.ExtraShards {
			if _, err := vindex.ParseKeyRange(e); err != nil || slices.Contains(ks.Shards, e) {
				return nil, fmt.Errorf("local cluster: keyspace %s: extra shard %q is no key range, or is among its shards", spec.Name, e)
			}
		}
		p.keyspaces = append(p.keyspaces, keyspacePlan{KeyspacePlan: ks, Extra: spec.ExtraShards, VSchema: spec.VSchema, Schema: spec.Schema})
		for _, shard := range append(slices.Clone(ks.Shards), spec.ExtraShards...) {
			p.tablets = append(p.tablets, p.newTablet(len(p.tablets), ks.Name, shard))
			for range c.Replicas {
				p.tablets = append(p.tablets, p.newReplica(len(p.tablets), ks.Name, shard))
			}
		}
	}
	for _, e := range c.ExtraTablets {
		if !slices.ContainsFunc(p.tablets, func(t tabletPlan) bool { return t.Keyspace == e.Keyspace && t.Shard == e.Shard }) {
			return nil, fmt.Errorf("local cluster: an added tablet of %s/%s: the cluster has no such shard", e.Keyspace, e.Shard)
		}
		t := p.newReplica(len(p.tablets), e.Keyspace, e.Shard)
		t.Type = e.Type
		p.tablets = append(p.tablets, t)
	}
	p.nextTablet = len(p.tablets)
	owner := map[int]string{}
	for _, u := range p.portUses() {
		if u.port < 1 || u.port > 65535 {
			return nil, fmt.Errorf("local cluster: the %s port would be %d, not a TCP port: choose another base port", u.what, u.port)
		}
		if other, ok := owner[u.port]; ok {
			return nil, fmt.Errorf("local cluster: port %d is wanted by both the %s and the %s: change the port bases", u.port, other, u.what)
		}
		owner[u.port] = u.what
	}
	for _, t := range p.tablets {
		if err := t.MySQL.Validate(); err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
	}
	return p, nil
}

// vschemaSaysSharded peeks at a vschema's "sharded" field; the full check
// happens when it is applied.
func vschemaSaysSharded(vschema []byte) bool {
	var v struct {
		Sharded bool `json:"sharded"`
	}
	return json.Unmarshal(vschema, &v) == nil && v.Sharded
}

type portUse struct {
	port int
	what string
}

// portUses lists every port the cluster listens on and who wants it.
func (p *plan) portUses() []portUse {
	uses := []portUse{
		{p.ports.EtcdClient, "etcd client"},
		{p.ports.EtcdPeer, "etcd peer"},
		{p.ports.GateMySQL, "gate MySQL"},
		{p.ports.GateGRPC, "gate gRPC"},
		{p.ports.GateHTTP, "gate HTTP"},
	}
	tablets := slices.Clone(p.tablets)
	for i := range p.cfg.SpareTablets {
		tablets = append(tablets, p.newTablet(p.nextTablet+i, "(spare)", fmt.Sprintf("spare-%d", i)))
	}
	for _, t := range tablets {
		uses = append(uses,
			portUse{t.GRPCPort, "tablet " + t.Alias + " gRPC"},
			portUse{t.HTTPPort, "tablet " + t.Alias + " HTTP"},
			portUse{t.QueryPort, "tablet " + t.Alias + " query"},
			portUse{t.MySQL.Port, "mysqld of " + t.Alias + " (" + t.Keyspace + "/" + t.Shard + ")"},
		)
	}
	return uses
}

func (p *plan) topoAddr() string { return "127.0.0.1:" + strconv.Itoa(p.ports.EtcdClient) }

func (p *plan) logDir() string { return filepath.Join(p.cfg.DataDir, "logs") }
