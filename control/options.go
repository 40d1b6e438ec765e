package control

import (
	"crypto/tls"

	"github.com/shardgate/shardgate/topo"
)

// Option sets a rarely needed setting of an operation.
type Option func(*Options)

// Options are the settings an operation runs with; BuildOptions gives
// their defaults.
type Options struct {
	// Cell is the cell whose serving graph an operation writes.
	Cell string
	// TabletTLS, when set, is how operations connect to tablets.
	TabletTLS *tls.Config
}

// InCell makes an operation write the serving graph of cell instead of
// topo.DefaultCell.
func InCell(cell string) Option {
	return func(o *Options) { o.Cell = cell }
}

// WithTabletTLS makes an operation connect to tablets with TLS (tablets
// started with --grpc-cert); nil: plaintext.
func WithTabletTLS(cfg *tls.Config) Option {
	return func(o *Options) { o.TabletTLS = cfg }
}

// BuildOptions applies opts to the defaults.
func BuildOptions(opts []Option) Options {
	o := Options{Cell: topo.DefaultCell}
	for _, f := range opts {
		f(&o)
	}
	return o
}
