//! Prometheus metrics (`GET /metrics`).
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The store's metrics, labelled by `backend` (`sqlite`, `postgres`).
#[derive(Clone)]
pub struct StoreMetrics {
    /// Time of one store transaction (the wait for a connection excluded), by `op`.
    pub tx_seconds: HistogramVec,
    /// Time waiting for a connection (SQLite: the one connection's lock; PostgreSQL: the pool).
    pub pool_wait_seconds: HistogramVec,
    /// Connections open / in use.
    pub pool_size: IntGaugeVec,
    pub pool_in_use: IntGaugeVec,
    /// Transactions run again after a serialization failure or deadlock (PostgreSQL).
    pub retries: IntCounterVec,
    /// Transactions committed together (SQLite group commit).
    pub group_size: HistogramVec,
}

impl StoreMetrics {
    fn new(buckets: &[f64]) -> Self {
        let hist = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
            .expect("metric")
        };
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["backend"]).expect("metric")
        };
        Self {
            tx_seconds: hist(
                "store_transaction_seconds",
                "time of one store transaction",
                &["backend", "op"],
            ),
            pool_wait_seconds: hist(
                "store_pool_wait_seconds",
                "time waiting for a store connection",
                &["backend"],
            ),
            pool_size: gauge("store_pool_connections", "store connections open"),
            pool_in_use: gauge("store_pool_in_use", "store connections in use"),
            retries: IntCounterVec::new(
                Opts::new(
                    "store_retries_total",
                    "transactions retried after a serialization failure",
                ),
                &["backend"],
            )
            .expect("metric"),
            group_size: HistogramVec::new(
                HistogramOpts::new(
                    "store_group_size",
                    "transactions committed together (SQLite group commit)",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
                &["backend"],
            )
            .expect("metric"),
        }
    }

    fn register(&self, r: &Registry) {
        r.register(Box::new(self.tx_seconds.clone()))
            .expect("register");
        r.register(Box::new(self.pool_wait_seconds.clone()))
            .expect("register");
        r.register(Box::new(self.pool_size.clone()))
            .expect("register");
        r.register(Box::new(self.pool_in_use.clone()))
            .expect("register");
        r.register(Box::new(self.retries.clone()))
            .expect("register");
        r.register(Box::new(self.group_size.clone()))
            .expect("register");
    }

    /// Records one transaction.
    pub fn observe(&self, backend: &str, op: &str, waited: Duration, ran: Duration) {
        self.pool_wait_seconds
            .with_label_values(&[backend])
            .observe(waited.as_secs_f64());
        self.tx_seconds
            .with_label_values(&[backend, op])
            .observe(ran.as_secs_f64());
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Tiles accepted from nodes (rate() of it is tiles/s).
    pub tiles_submitted: IntCounter,
    pub tiles_verified: IntCounter,
    pub leases_granted: IntCounter,
    pub leases_expired: IntCounter,
    pub lease_latency: Histogram,
    pub submit_latency: Histogram,
    pub queue_depth: IntGauge,
    /// Verification failures by kind: hash-mismatch, check-disagree, fault, outvoted (lost
    /// the vote without a quorum of witnesses: not convicted), inconclusive.
    pub verification_failures: IntCounterVec,
    pub receipts_posted: IntCounter,
    /// RPC calls reading node standing (a cache miss, or one batched refresh of up to 100
    /// nodes and the network account).
    pub chain_lookups: IntCounter,
    /// 1 while this instance leads the background work (sweeper, poster, retention).
    pub leader: IntGauge,
    /// Requests refused before any handler work, by reason (rate-limited, lease-limit, busy,
    /// node-not-registered, …).
    pub refused: IntCounterVec,
    /// Node requests whose proof verified, by `kind`: `signature` (ed25519, the node key) or
    /// `mac` (a session's keyed blake3): one `signature` per session once nodes use sessions.
    pub requests_authenticated: IntCounterVec,
    /// Blob operation latency by backend (local, s3) and op (put, get, head, delete, list).
    pub blob_seconds: HistogramVec,
    /// Blobs deleted by kind: scene (expired), result (tiles of a closed job).
    pub blobs_deleted: IntCounterVec,
    /// Store query latency and pool use.
    pub store: StoreMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("tessera".into()), None).expect("registry");
        // Fine below 10 ms: the benchmark reads p50/p99 from these (`benches/loadgen.rs`).
        let buckets = vec![
            0.0001, 0.0002, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015,
            0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
        ];
        let m = Self {
            tiles_submitted: IntCounter::new("tiles_submitted_total", "tiles accepted from nodes")
                .expect("metric"),
            tiles_verified: IntCounter::new("tiles_verified_total", "tiles verified")
                .expect("metric"),
            leases_granted: IntCounter::new("leases_granted_total", "leases granted")
                .expect("metric"),
            leases_expired: IntCounter::new(
                "leases_expired_total",
                "leases that expired and were re-queued",
            )
            .expect("metric"),
            lease_latency: Histogram::with_opts(
                HistogramOpts::new("lease_latency_seconds", "time to answer a lease request")
                    .buckets(buckets.clone()),
            )
            .expect("metric"),
            submit_latency: Histogram::with_opts(
                HistogramOpts::new("submit_latency_seconds", "time to answer a tile submission")
                    .buckets(buckets),
            )
            .expect("metric"),
            queue_depth: IntGauge::new("queue_depth", "tiles waiting for a render or a check")
                .expect("metric"),
            verification_failures: IntCounterVec::new(
                Opts::new(
                    "verification_failures_total",
                    "verification failures by kind",
                ),
                &["kind"],
            )
            .expect("metric"),
            receipts_posted: IntCounter::new(
                "receipts_posted_total",
                "receipts confirmed on-chain",
            )
            .expect("metric"),
            chain_lookups: IntCounter::new(
                "chain_lookups_total",
                "RPC calls reading node standing (cache misses and batched refreshes)",
            )
            .expect("metric"),
            leader: IntGauge::new(
                "leader",
                "1 while this instance runs the background work (sweeper, receipt poster, retention)",
            )
            .expect("metric"),
            refused: IntCounterVec::new(
                Opts::new("requests_refused_total", "requests refused by reason"),
                &["reason"],
            )
            .expect("metric"),
            requests_authenticated: IntCounterVec::new(
                Opts::new(
                    "requests_authenticated_total",
                    "node requests whose signature or session MAC verified, by kind",
                ),
                &["kind"],
            )
            .expect("metric"),
            blob_seconds: HistogramVec::new(
                HistogramOpts::new("blob_seconds", "blob operation latency").buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
                    10.0, 30.0,
                ]),
                &["backend", "op"],
            )
            .expect("metric"),
            blobs_deleted: IntCounterVec::new(
                Opts::new("blobs_deleted_total", "blobs deleted by kind"),
                &["kind"],
            )
            .expect("metric"),
            store: StoreMetrics::new(&[
                0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5,
            ]),
            registry,
        };
        m.store.register(&m.registry);
        for c in [
            &m.tiles_submitted,
            &m.tiles_verified,
            &m.leases_granted,
            &m.leases_expired,
            &m.receipts_posted,
            &m.chain_lookups,
        ] {
            m.registry.register(Box::new(c.clone())).expect("register");
        }
        m.registry
            .register(Box::new(m.lease_latency.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.submit_latency.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.queue_depth.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.leader.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.verification_failures.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.refused.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.requests_authenticated.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.blob_seconds.clone()))
            .expect("register");
        m.registry
            .register(Box::new(m.blobs_deleted.clone()))
            .expect("register");
        m
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
