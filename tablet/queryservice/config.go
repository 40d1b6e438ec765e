package queryservice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"vitess.io/vitess/go/mysql"

	"github.com/shardgate/shardgate/proto/topopb"
)

// Config is what a query service needs to serve one shard.
type Config struct {
	Alias    string
	Keyspace string
	Shard    string
	Type     topopb.TabletType
	// MySQL is how to reach the shard's mysqld; its DbName is the database
	// statements run in.
	MySQL mysql.ConnParams

	PoolSize       int           // connections for autocommit statements
	TxPoolSize     int           // connections reserved by transactions
	QueryTimeout   time.Duration // default per-statement deadline
	MaxRows        int           // reads returning more rows fail
	TxIdleTimeout  time.Duration // an idle transaction is rolled back after this
	HealthInterval time.Duration // how often health is measured and streamed

	// MaxReserved bounds the connections gate sessions hold for
	// themselves (reserved.go).
	MaxReserved int
	// LiveGates, when set, lists the gates registered in the topology, by
	// id; every ReservedOwnerCheck the connections reserved by gates not
	// listed (twice in a row) are closed.
	LiveGates          func(context.Context) (map[string]bool, error)
	ReservedOwnerCheck time.Duration

	// DirectReads, when its User is set, offers gates autocommit reads
	// straight on MariaDB (direct_reads.go).
	DirectReads DirectReads
}

// Defaults returns a Config with every tunable set to its default.
func Defaults() Config {
	return Config{
		Type:           topopb.TabletType_PRIMARY,
		PoolSize:       32,
		TxPoolSize:     32,
		QueryTimeout:   30 * time.Second,
		MaxRows:        100000,
		TxIdleTimeout:  30 * time.Second,
		HealthInterval: time.Second,
		MaxReserved:    256,
		DirectReads:    DirectReads{MaxConnections: DefaultDirectReadMaxConnections},
		// Gates renew their registration every few seconds (a 10 s
		// lease): two checks a minute apart never mistake a renewal for
		// a gate that is gone.
		ReservedOwnerCheck: 30 * time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Alias == "":
		return errors.New("tablet alias is empty")
	case c.Keyspace == "" || c.Shard == "":
		return errors.New("tablet keyspace and shard must be set")
	case c.Type == topopb.TabletType_TABLET_TYPE_UNSPECIFIED:
		return errors.New("tablet type must be primary, replica or rdonly")
	case c.MaxReserved < 1 || c.ReservedOwnerCheck <= 0:
		return fmt.Errorf("max reserved connections must be at least 1 and the owner check interval positive (%d, %v)", c.MaxReserved, c.ReservedOwnerCheck)
	case c.PoolSize < 1 || c.TxPoolSize < 1:
		return fmt.Errorf("pool sizes must be at least 1 (pool %d, tx pool %d)", c.PoolSize, c.TxPoolSize)
	case c.QueryTimeout <= 0 || c.TxIdleTimeout <= 0 || c.HealthInterval <= 0:
		return errors.New("query timeout, transaction idle timeout and health interval must be positive")
	case c.MaxRows < 1:
		return fmt.Errorf("max rows must be at least 1, got %d", c.MaxRows)
	}
	return c.DirectReads.Validate()
}

// where names the tablet in error messages.
func (c *Config) where() string {
	return fmt.Sprintf("tablet %s (%s/%s)", c.Alias, c.Keyspace, c.Shard)
}
