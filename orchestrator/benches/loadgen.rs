//! The realistic benchmark (issue 15): the orchestrator runs as its own process (the real
//! binary, one or two instances), this process is the chain (`tessera-localnet`) and the
//! load generator. Run: `cargo bench -p tessera-orchestrator --bench loadgen`.
//!
//! * Store with history: before the orchestrator starts, `LOADGEN_HISTORY` (1 000 000) tiles
//!   of a finished job, with their results, are inserted by SQL.
//! * `LOADGEN_JOBS` (4) jobs of `LOADGEN_TILE`-px tiles (64; 256), more tiles than the run
//!   needs; `LOADGEN_NODES` (64) registered nodes; default checks (5%) on, so checks are
//!   leased and compared; one lease in ten is heartbeated before its submit.
//! * A pool of pre-encoded noisy PNGs (the client does not encode per request): a tile's
//!   pixels are the pool entry its (job, frame, tile) picks, so a check agrees with the
//!   primary render by hash, as two honest nodes do.
//! * Nodes open a session (`POST /v1/sessions`) and MAC their requests; the tile signature
//!   is ed25519 per submit, as always.
//! * Closed loop: every node leases, then `submit?next=1` (the next lease in the answer),
//!   for `LOADGEN_SECS`. Open loop: lease+submit pairs (two requests each) started at
//!   `LOADGEN_RATE` per second whatever the answers, for `LOADGEN_SECS`.
//! * Figures from the servers' own histograms (`/metrics`, before/after each phase):
//!   lease+submit/s and p50/p99 of lease and submit.
//!
//! `LOADGEN_DB` = `sqlite` (default) or `postgres` (a throwaway cluster, as the tests);
//! `LOADGEN_INSTANCES` = 1 or 2 (PostgreSQL: nodes split between the instances).
//! `LOADGEN_TLS=1`: the instances serve HTTPS (a throwaway CA and a certificate for
//! 127.0.0.1 made here by rcgen) and every client trusts that CA; sessions as over HTTP.
//! `LOADGEN_LEGACY=1`: the protocol before sessions (every request ed25519-signed, lease and
//! submit two requests), and `LOADGEN_BIN` another orchestrator binary: the "before" runs.
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use tessera_orchestrator::protocol;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pre-encoded noisy tiles: (PNG base64, pixel hash).
struct Pool(Vec<(String, [u8; 32])>);

impl Pool {
    fn new(edge: u32, n: usize) -> Self {
        use base64::Engine;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let tiles = (0..n)
            .map(|_| {
                let px: Vec<u8> = (0..edge * edge * 4)
                    .map(|i| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if i % 4 == 3 {
                            255
                        } else {
                            x as u8
                        }
                    })
                    .collect();
                let hash = *blake3::hash(&px).as_bytes();
                let png = png(edge, edge, px);
                (base64::engine::general_purpose::STANDARD.encode(png), hash)
            })
            .collect();
        Self(tiles)
    }

    fn pick(&self, lease: &Value) -> &(String, [u8; 32]) {
        let k = format!("{}/{}/{}", lease["job_id"], lease["frame"], lease["tile"]);
        let h = blake3::hash(k.as_bytes());
        &self.0[(u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap()) as usize) % self.0.len()]
    }
}

/// A node of the load: its key, its session (none: signs every request), its instance.
struct Node {
    key: Keypair,
    url: String,
    orchestrator: Pubkey,
    session: Option<(String, [u8; 32])>,
    ts: AtomicU64,
}

fn legacy() -> bool {
    env("LOADGEN_LEGACY", 0u8) == 1
}

fn binary() -> String {
    env(
        "LOADGEN_BIN",
        env!("CARGO_BIN_EXE_tessera-orchestrator").to_string(),
    )
}

#[derive(Default)]
struct Tally {
    pairs: AtomicU64,
    errors: AtomicU64,
    no_work: AtomicU64,
}

impl Node {
    async fn open(key: Keypair, url: String, http: &reqwest::Client) -> Self {
        let orchestrator = orchestrator_key(http, &url).await;
        if legacy() {
            return Self {
                key,
                url,
                orchestrator,
                session: None,
                ts: AtomicU64::new(0),
            };
        }
        let headers =
            protocol::sign_request(&key, &orchestrator, "POST", "/v1/sessions", now_ms(), b"{}");
        let mut rb = http.post(format!("{url}/v1/sessions"));
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let v: Value = rb.body("{}").send().await.unwrap().json().await.unwrap();
        let token = v["session"].as_str().expect("session").to_string();
        let k = tessera_orchestrator::receipt::hex32(v["key"].as_str().unwrap()).unwrap();
        Self {
            key,
            url,
            orchestrator,
            session: Some((token, k)),
            ts: AtomicU64::new(0),
        }
    }

    /// Strictly increasing timestamps: two equal requests in one ms would be replays.
    fn ts(&self) -> i64 {
        let now = now_ms() as u64;
        let prev = self.ts.fetch_max(now, Ordering::SeqCst);
        if prev >= now {
            (self.ts.fetch_add(1, Ordering::SeqCst) + 1) as i64
        } else {
            now as i64
        }
    }

    async fn post(&self, http: &reqwest::Client, path: &str, body: Vec<u8>) -> (u16, Value) {
        let (o, ts) = (&self.orchestrator, self.ts());
        let headers = match &self.session {
            Some((token, key)) => protocol::mac_request(token, key, o, "POST", path, ts, &body),
            None => protocol::sign_request(&self.key, o, "POST", path, ts, &body),
        };
        let mut rb = http.post(format!("{}{path}", self.url));
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        match rb.body(body).send().await {
            Ok(r) => {
                let st = r.status().as_u16();
                (st, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    fn submit_body(&self, pool: &Pool, lease: &Value) -> Vec<u8> {
        let (png, hash) = pool.pick(lease);
        let job: Pubkey = lease["job_key"].as_str().unwrap().parse().unwrap();
        let sig = protocol::sign_tile(
            &self.key,
            &job,
            lease["frame"].as_u64().unwrap() as u32,
            lease["tile"].as_u64().unwrap() as u32,
            hash,
        );
        serde_json::to_vec(&json!({
            "pixel_hash": tessera_orchestrator::receipt::hex(hash),
            "signature": sig.to_string(),
            "png": png,
        }))
        .unwrap()
    }

    async fn lease(&self, http: &reqwest::Client, t: &Tally) -> Option<Value> {
        match self.post(http, "/v1/leases", b"{}".to_vec()).await {
            (200, v) => Some(v),
            (204, _) => {
                t.no_work.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                t.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Heartbeats one lease in ten, submits; the next lease when `next`.
    async fn finish(
        &self,
        http: &reqwest::Client,
        pool: &Pool,
        lease: &Value,
        next: bool,
        t: &Tally,
    ) -> Option<Value> {
        let id = &lease["lease_id"];
        if lease["tile"].as_u64().unwrap_or(0) % 10 == 3 {
            let (st, _) = self
                .post(http, &format!("/v1/leases/{id}/heartbeat"), b"{}".to_vec())
                .await;
            if st != 200 {
                t.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        let q = if next { "?next=1" } else { "" };
        let path = format!("/v1/leases/{id}/submit{q}");
        match self.post(http, &path, self.submit_body(pool, lease)).await {
            (200, v) => {
                t.pairs.fetch_add(1, Ordering::Relaxed);
                v.get("next").filter(|n| !n.is_null()).cloned()
            }
            _ => {
                t.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// A histogram's cumulative buckets and count from Prometheus text, summed over instances.
fn histogram(metrics: &[String], name: &str) -> Vec<(f64, f64)> {
    let mut by_le: HashMap<String, f64> = HashMap::new();
    for text in metrics {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&format!("{name}_bucket{{le=\"")) else {
                continue;
            };
            let (le, v) = rest.split_once("\"} ").unwrap();
            *by_le.entry(le.to_string()).or_default() += v.trim().parse::<f64>().unwrap();
        }
    }
    let mut v: Vec<(f64, f64)> = by_le
        .into_iter()
        .map(|(le, n)| (le.parse().unwrap_or(f64::INFINITY), n))
        .collect();
    v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    v
}

fn counter(metrics: &[String], name: &str) -> f64 {
    metrics
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.trim().parse::<f64>().unwrap())
        .sum()
}

/// The `q` quantile (ms) of the observations between two scrapes, interpolated in buckets.
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let d: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let b = before.iter().find(|(l, _)| l == le).map_or(0.0, |x| x.1);
            (*le, n - b)
        })
        .collect();
    let total = d.last().map_or(0.0, |x| x.1);
    if total == 0.0 {
        return 0.0;
    }
    let want = q * total;
    let mut prev = (0.0, 0.0);
    for (le, n) in d {
        if n >= want {
            if le.is_infinite() {
                return prev.0 * 1e3;
            }
            let f = if n > prev.1 {
                (want - prev.1) / (n - prev.1)
            } else {
                0.0
            };
            return (prev.0 + f * (le - prev.0)) * 1e3;
        }
        prev = (le, n);
    }
    prev.0 * 1e3
}

async fn scrape(http: &reqwest::Client, urls: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for u in urls {
        out.push(
            http.get(format!("{u}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    out
}

/// CPU seconds (user + system) a process has used, from `/proc/PID/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
    let rest = stat.rsplit_once(") ").map_or("", |x| x.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// CPU seconds of the orchestrator processes and of this one (client and chain).
fn cpu(procs: &[Instance]) -> (f64, f64) {
    let server = procs
        .iter()
        .map(|p| cpu_seconds(&p.0.id().to_string()))
        .sum();
    (server, cpu_seconds("self"))
}

/// Bytes written and write calls of the orchestrator processes so far (`/proc/PID/io`:
/// `wchar` counts every `write`/`pwrite`, to WAL, database, blob files and sockets alike).
fn io(procs: &[Instance]) -> (f64, f64) {
    let mut sum = (0.0, 0.0);
    for p in procs {
        let io = std::fs::read_to_string(format!("/proc/{}/io", p.0.id())).unwrap_or_default();
        for line in io.lines() {
            let mut kv = line.split(':');
            let (k, v) = (kv.next().unwrap_or(""), kv.next().unwrap_or("").trim());
            let v: f64 = v.parse().unwrap_or(0.0);
            match k {
                "wchar" => sum.0 += v,
                "syscw" => sum.1 += v,
                _ => {}
            }
        }
    }
    sum
}

/// One orchestrator process, killed when dropped.
struct Instance(std::process::Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `LOADGEN_TLS=1`: PEM files of a certificate for 127.0.0.1 (and its key) signed by a
/// throwaway CA, and that CA for the clients.
struct Tls {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    ca: reqwest::Certificate,
}

fn tls(dir: &std::path::Path) -> Option<Tls> {
    if env("LOADGEN_TLS", 0u8) != 1 {
        return None;
    }
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let (c, k) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    Some(Tls {
        cert: c,
        key: k,
        ca: reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap(),
    })
}

/// A client of the instances (trusting the throwaway CA under `LOADGEN_TLS=1`).
fn client(tls: Option<&Tls>) -> reqwest::Client {
    let b = reqwest::Client::builder();
    match tls {
        Some(t) => b.add_root_certificate(t.ca.clone()),
        None => b,
    }
    .build()
    .unwrap()
}

fn spawn(
    chain: &TestChain,
    db: &str,
    dir: &std::path::Path,
    kp: &std::path::Path,
    tls: Option<&Tls>,
) -> (Instance, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = std::process::Command::new(binary());
    if let Some(t) = tls {
        cmd.arg("--tls-cert")
            .arg(&t.cert)
            .arg("--tls-key")
            .arg(&t.key);
    }
    let child = cmd
        .args(["--listen", &listen, "--rpc-url", chain.net.url()])
        .args(["--verify-share", "0.05", "--new-node-share", "0.05"])
        // Abuse limits on, set above what this load needs (the tests exercise them).
        .args(["--rate-per-key", "2000", "--rate-per-addr", "0"])
        .arg("--db")
        .arg(db)
        .arg("--blobs")
        .arg(dir.join("blobs"))
        .arg("--keypair")
        .arg(kp)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    (Instance(child), format!("{scheme}://{listen}"))
}

/// `rows` tiles (and their results) of a finished job, inserted by SQL before the start.
fn insert_history(db: &str, pg: bool, rows: u64) {
    let job = "INSERT INTO jobs(job_id, job_key, scene_hash, frame_start, frame_end, width,
        height, tile_size, spp, price_per_tile, budget, deadline, state, created_ms)
        VALUES(1, 'history', 'history', 1, 1000, 1024, 1024, 64, 4, 1, 1, 0, 'posted', 0)";
    let series = if pg {
        format!("SELECT n FROM generate_series(0, {}) AS s(n)", rows - 1)
    } else {
        format!(
            "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM s WHERE n < {}) SELECT n FROM s",
            rows - 1
        )
    };
    let tiles = format!(
        "INSERT INTO tiles(job_id, frame, tile, state, need, node, pixel_hash, signature, blob, done_ms)
         SELECT 1, n / 256, n % 256, 'verified', 'none', 'history-node', 'h' || n, 's' || n, 'b' || n, 0
         FROM ({series}) AS q"
    );
    let results = format!(
        "INSERT INTO results(job_id, frame, tile, node, role, pixel_hash, signature, blob,
           submitted_ms, verdict, lease_id)
         SELECT 1, n / 256, n % 256, 'history-node', 'primary', 'h' || n, 's' || n, 'b' || n, 0,
           'accepted', NULL FROM ({series}) AS q"
    );
    if pg {
        let url = db.to_string();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            for sql in [job, &tiles, &results] {
                c.batch_execute(sql).unwrap();
            }
            c.batch_execute("ANALYZE").unwrap();
        })
        .join()
        .unwrap();
    } else {
        let c = rusqlite::Connection::open(db).unwrap();
        // No ANALYZE: the orchestrator never runs it (with STAT4 statistics SQLite would
        // re-prepare a statement each time its bound values change).
        c.execute_batch(&format!("BEGIN; {job}; {tiles}; {results}; COMMIT;"))
            .unwrap();
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let pg = env("LOADGEN_DB", "sqlite".to_string()) == "postgres";
    let db = if pg { Db::Postgres } else { Db::Sqlite };
    on(db, run(pg)).await;
}

async fn run(pg: bool) {
    let instances: usize = env("LOADGEN_INSTANCES", 1);
    let nodes: usize = env("LOADGEN_NODES", 64);
    let jobs: u32 = env("LOADGEN_JOBS", 4);
    let edge: u32 = env("LOADGEN_TILE", 64);
    let secs: u64 = env("LOADGEN_SECS", 10);
    let rate: u64 = env("LOADGEN_RATE", 1000);
    let history: u64 = env("LOADGEN_HISTORY", 1_000_000);
    assert!(instances == 1 || pg, "several instances need PostgreSQL");

    let chain = TestChain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kp = dir.path().join("orchestrator.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&chain.orchestrator.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let db = match fresh_database() {
        Some(url) => url,
        None => dir.path().join("db.sqlite").display().to_string(),
    };
    // Schema first (the binary's own migrations), then the history.
    let st = std::process::Command::new(binary())
        .args(["migrate", "--db", &db])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    if history > 0 {
        insert_history(&db, pg, history);
    }
    eprintln!(
        "history: {history} tiles in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let tls = tls(dir.path());
    let mut procs = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..instances {
        let (p, u) = spawn(&chain, &db, dir.path(), &kp, tls.as_ref());
        procs.push(p);
        urls.push(u);
    }
    let http = client(tls.as_ref());
    for u in &urls {
        for _ in 0..100 {
            if http.get(format!("{u}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let orch = TestOrch {
        dir: tempfile::tempdir().unwrap(),
        orch: None,
        url: urls[0].clone(),
        http: if tls.is_some() {
            http.clone()
        } else {
            artist_client()
        },
        artist: chain.payer.insecure_clone(),
        db_url: None,
    };
    // Jobs of 1024² frames: 64 × 256 tiles of 64 px, 256 × 16 of 256 px each, more than a
    // run leases.
    let frames = if edge >= 256 { 256 } else { 64 };
    let per_job = frames * (1024 / edge) * (1024 / edge);
    let t = Instant::now();
    let mut keys = Vec::new();
    for chunk in 0..nodes.div_ceil(8) {
        let n = 8.min(nodes - chunk * 8);
        let regs = (0..n).map(|_| chain.register_node(MIN_STAKE));
        keys.extend(
            futures::future::join_all(regs)
                .await
                .into_iter()
                .map(|k| k.1),
        );
    }
    eprintln!(
        "{nodes} nodes registered in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // Checkers qualify as witnesses of a job only if registered before it.
    chain.advance_clock(2).await;
    for _ in 0..jobs {
        let id = chain
            .create_job_with(tessera_sdk::JobParams {
                scene_hash: scene_hash(),
                frame_start: 1,
                frame_end: frames,
                width: 1024,
                height: 1024,
                tile_size: edge,
                samples_per_pixel: 4,
                price_per_tile: 1,
                budget: per_job as u64 * 2,
                deadline: now_ms() / 1000 + 86_400,
                frame_rate_num: 24,
                frame_rate_den: 1,
            })
            .await;
        let (st, v) = orch.register(json!({"job_id": id})).await;
        assert!(st.is_success(), "{v}");
    }
    let mut sims = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        sims.push(Arc::new(
            Node::open(k, urls[i % urls.len()].clone(), &http).await,
        ));
    }
    let pool = Arc::new(Pool::new(edge, 64));
    let load = uptime();
    eprintln!(
        "{} store, {instances} instance(s){}, {jobs} jobs × {per_job} tiles of {edge} px, {nodes} nodes, load {load}",
        if pg { "PostgreSQL" } else { "SQLite" },
        if tls.is_some() { " over HTTPS" } else { "" }
    );
    println!("| phase | lease+submit/s | lease p50 / p99 ms | submit p50 / p99 ms | errors | no work | group | server µs CPU/pair | loadgen µs CPU/pair | written KiB/pair | write calls/pair |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");

    // Closed loop: every node lease → (heartbeat) → submit?next=1 → … for `secs`.
    let tally = Arc::new(Tally::default());
    let before = scrape(&http, &urls).await;
    let (cpu0, io0) = (cpu(&procs), io(&procs));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for n in &sims {
        let (n, http, pool, t) = (n.clone(), http.clone(), pool.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut lease = None;
            while Instant::now() < until {
                let l = match lease.take() {
                    Some(l) => l,
                    None => match n.lease(&http, &t).await {
                        Some(l) => l,
                        None => {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        }
                    },
                };
                lease = n.finish(&http, &pool, &l, !legacy(), &t).await;
            }
            // A lease the answer handed over is submitted, so none is left to expire.
            if let Some(l) = lease {
                n.finish(&http, &pool, &l, false, &t).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    let after = scrape(&http, &urls).await;
    let (cpu1, io1) = (cpu(&procs), io(&procs));
    report(
        "closed",
        &before,
        &after,
        wall,
        &tally,
        (cpu0, cpu1),
        (io0, io1),
    );

    // Open loop: a pair (lease, submit) starts every 1/rate s, whatever the answers.
    let tally = Arc::new(Tally::default());
    let before = scrape(&http, &urls).await;
    let (cpu0, io0) = (cpu(&procs), io(&procs));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let mut i = 0usize;
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let (n, http, pool, t) = (
            sims[i % sims.len()].clone(),
            http.clone(),
            pool.clone(),
            tally.clone(),
        );
        i += 1;
        tasks.push(tokio::spawn(async move {
            if let Some(l) = n.lease(&http, &t).await {
                n.finish(&http, &pool, &l, false, &t).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    let after = scrape(&http, &urls).await;
    report(
        &format!("open {rate}/s"),
        &before,
        &after,
        wall,
        &tally,
        (cpu0, cpu(&procs)),
        (io0, io(&procs)),
    );
    println!("load after: {}", uptime());
    drop(procs);
}

fn report(
    phase: &str,
    before: &[String],
    after: &[String],
    wall: f64,
    t: &Tally,
    (cpu0, cpu1): ((f64, f64), (f64, f64)),
    (io0, io1): ((f64, f64), (f64, f64)),
) {
    let subs = counter(after, "tessera_tiles_submitted_total")
        - counter(before, "tessera_tiles_submitted_total");
    let q = |name: &str, p: f64| quantile(&histogram(before, name), &histogram(after, name), p);
    let (l, s) = (
        "tessera_lease_latency_seconds",
        "tessera_submit_latency_seconds",
    );
    let groups = (
        counter(after, "tessera_store_group_size_sum{backend=\"sqlite\"}")
            - counter(before, "tessera_store_group_size_sum{backend=\"sqlite\"}"),
        counter(after, "tessera_store_group_size_count{backend=\"sqlite\"}")
            - counter(before, "tessera_store_group_size_count{backend=\"sqlite\"}"),
    );
    // Server CPU per pair (all instances), and the load generator's (client + chain).
    let per_pair = |d: f64| if subs > 0.0 { d / subs * 1e6 } else { 0.0 };
    println!(
        "| {phase} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {} | {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} |",
        subs / wall,
        q(l, 0.5),
        q(l, 0.99),
        q(s, 0.5),
        q(s, 0.99),
        t.errors.load(Ordering::Relaxed),
        t.no_work.load(Ordering::Relaxed),
        if groups.1 > 0.0 {
            groups.0 / groups.1
        } else {
            0.0
        },
        per_pair(cpu1.0 - cpu0.0),
        per_pair(cpu1.1 - cpu0.1),
        per_pair(io1.0 - io0.0) / 1e6 / 1024.0,
        per_pair(io1.1 - io0.1) / 1e6,
    );
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
