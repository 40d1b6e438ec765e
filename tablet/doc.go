// Package tablet runs a shardtablet: the process that fronts one MySQL
// server. It registers the tablet in the topology, serves the query service
// over gRPC and exposes metrics and status over HTTP.
//
// Subpackages hold the parts: queryservice (statements, transactions,
// health), connpool (MySQL connections), mysqld (running a local mariadbd).
package tablet
