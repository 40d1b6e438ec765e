// Package metricsampler keeps recent rates of a cluster's traffic in the
// memory of the admin UI, so that the UI can draw charts without a
// Prometheus server.
//
// Every interval (5 s unless configured) the Sampler scrapes the
// Prometheus text of every target it is given: the gates registered in
// the topology and every tablet, at http://host:http_port/metrics. From
// two scrapes of the same target it computes, per scope, how many calls
// and errors happened in between and how the latencies of those calls
// spread (the difference of the histogram buckets, from which p50 and p99
// are read as Prometheus's histogram_quantile reads them). The scopes
// are:
//
//   - the cluster: every statement the gates ran;
//   - a keyspace: the statements the gates ran in it
//     (shardgate_queries_total, shardgate_query_errors_total and
//     shardgate_query_duration_seconds by keyspace);
//   - a shard: the calls the gates sent to its tablets
//     (shardgate_tablet_call*), summed over gates and tablets; when no
//     gate exports those, the calls its tablets report serving;
//   - a tablet: the calls the tablet reports serving (shardtablet_queries*).
//
// A series whose labels do not name a keyspace (gates older than the
// keyspace label on errors and latency) counts in the cluster scope only.
//
// Invariants the sampler keeps:
//
//   - Rates are never negative. A counter that went down means the process
//     restarted (or process_start_time_seconds changed): the value after
//     the restart is the whole increase.
//   - A target's first scrape gives no rate; a target scraped late (a
//     failed scrape in between) has its increase spread over the time
//     since its previous scrape, so one missed scrape makes no spike.
//   - Two windows are kept per scope: the last hour (by default) at the
//     sampling step, and the last 24 hours at one minute. A minute's point
//     adds the counts of the samples in it, so its quantiles come from the
//     minute's buckets, not from averaging quantiles.
//
// The latest value of each target's gauges (pools, open transactions, a
// backup running) is kept too, for the pages that show a tablet now.
//
// A Sampler is safe for concurrent use: Run writes while pages read.
package metricsampler
