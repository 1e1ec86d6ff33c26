//! Several orchestrator instances on one PostgreSQL database (issue 15, "Several
//! orchestrators at once"): the event stream of every instance reaching every subscriber,
//! and two real `tessera-orchestrator` processes on one database and one S3 bucket (moto)
//! serving the same nodes, one killed with SIGKILL mid-job.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::moto::Moto;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use solana_sdk::signature::Signer;
use tessera_orchestrator::blob;
use tessera_orchestrator::protocol;
use tessera_sdk::{pda, JobState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_every_instance_reach_every_subscriber() {
    on(Db::Postgres, async {
        let chain = TestChain::start().await;
        let a = TestOrch::start(&chain, |_| {}).await;
        let shared = a.db_url.clone();
        let b = TestOrch::start(&chain, |c| c.database_url = shared).await;
        let id = chain.create_job(1, 100).await;
        let (st, v) = a.register(json!({"job_id": id})).await;
        assert!(st.is_success(), "{v}");
        let mut on_a = a.events(id).await;
        let mut on_b = b.events(id).await;
        let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
        // Every tile is leased and verified on B alone.
        assert_eq!(work_until_idle(&b.url, &[&node]).await, 16);
        let key = node.key.pubkey().to_string();
        for (name, sse) in [("A", &mut on_a), ("B", &mut on_b)] {
            let seen = read_events_until(sse, "event: job-ready").await;
            assert_eq!(
                seen.matches("event: verified").count(),
                16,
                "each of B's tiles once on {name}: {seen}"
            );
            assert!(seen.contains(&key), "{seen}");
        }
    })
    .await
}

/// Strictly increasing request timestamps across every node of a test (two identical
/// requests in one millisecond would carry one signature, refused as a replay).
static LAST_TS: AtomicI64 = AtomicI64::new(0);

fn timestamp() -> i64 {
    let now = now_ms();
    let prev = LAST_TS.fetch_max(now, Ordering::SeqCst);
    if prev >= now {
        LAST_TS.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        now
    }
}

/// A signed node request that reports a dead server as an error instead of panicking.
async fn try_request(
    node: &SimNode,
    url: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let orch = node.orchestrator(url).await;
    let headers = protocol::sign_request(&node.key, &orch, "POST", path, timestamp(), &body);
    let mut rb = node.http.post(format!("{url}{path}"));
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    let r = rb.body(body).send().await?;
    let status = r.status();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

async fn try_submit(
    node: &SimNode,
    url: &str,
    lease: &Value,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let (w, h, px) = pixels(lease, false);
    let body = node.submit_body(lease, w, h, px);
    let path = format!("/v1/leases/{}/submit", lease["lease_id"]);
    try_request(node, url, &path, body).await
}

/// One `tessera-orchestrator` process; its log is printed if the test fails.
struct Proc {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Proc {
    async fn start(name: &str, dir: &Path, chain: &TestChain, db: &str, moto: &Moto) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("{name}.log"));
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_tessera-orchestrator"))
            .args([
                "--listen",
                &listen,
                "--rpc-url",
                chain.net.url(),
                "--db",
                db,
            ])
            .args(["--blobs", "s3://tessera-procs/blobs", "--keypair"])
            .arg(dir.join("orchestrator.json"))
            // Checks compare renders submitted to different instances (the shared bucket).
            .args([
                "--verify-share",
                "0.25",
                "--lease-secs",
                "3",
                "--sweep-ms",
                "100",
            ])
            .args([
                "--poster-poll-ms",
                "200",
                "--rate-per-key",
                "0",
                "--rate-per-addr",
                "0",
            ])
            .args([
                "--result-retention-secs",
                "1",
                "--retention-sweep-ms",
                "200",
            ])
            .envs(moto.env())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let p = Self {
            child,
            url: format!("http://{listen}"),
            log,
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{}/healthz", p.url)).send().await.is_ok() {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} did not come up: {}", p.logged());
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A line of its `/metrics` starting with `name ` (the metric without labels).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    async fn wait_metric(&self, name: &str, ok: impl Fn(f64) -> bool, what: &str) {
        let until = Instant::now() + Duration::from_secs(30);
        while !ok(self.metric(name).await) {
            assert!(Instant::now() < until, "{what}: {name} never did");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as `kill -9`.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} ---\n{}", self.log.display(), self.logged());
        }
    }
}

/// The store's own view of how often each tile was rendered as a primary and as a check.
/// Whether `node`'s render of the leased tile is in the store.
fn has_render(db: &str, job_id: u64, lease: &serde_json::Value, node: &str) -> bool {
    let (db, id, node) = (db.to_string(), job_id as i64, node.to_string());
    let frame = lease["frame"].as_i64().unwrap();
    let tile = lease["tile"].as_i64().unwrap();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        let row = c
            .query_one(
                "SELECT COUNT(*) FROM results WHERE job_id=$1 AND frame=$2 AND tile=$3 AND node=$4",
                &[&id, &frame, &tile, &node],
            )
            .unwrap();
        row.get::<_, i64>(0) > 0
    })
    .join()
    .unwrap()
}

fn renders_per_tile(db: &str, job_id: u64) -> Vec<(String, i64, i64)> {
    let (db, id) = (db.to_string(), job_id as i64);
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        c.query(
            "SELECT role, COUNT(*), COUNT(DISTINCT (frame, tile)) FROM results
             WHERE job_id=$1 GROUP BY role ORDER BY role",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    })
    .join()
    .unwrap()
}

/// Issue 15: two orchestrator processes on one PostgreSQL database and one S3 bucket, nodes
/// leasing from one and submitting to the other; the leader is killed with SIGKILL while
/// two nodes are working on it, holding one lease that is submitted to the survivor and one
/// that is abandoned. The survivor takes over the lead (the sweeper re-queues the abandoned
/// lease, the poster posts the one receipt, retention deletes the results once the job is
/// settled), and every tile is rendered, accepted and paid once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_one_killed_mid_job_the_other_finishes_it() {
    let Some(moto) = Moto::start("tessera-procs").await else {
        return;
    };
    on(Db::Postgres, async {
        let chain = TestChain::start().await;
        let dir = tempfile::tempdir().unwrap();
        let key_json = serde_json::to_string(&chain.orchestrator.to_bytes().to_vec()).unwrap();
        std::fs::write(dir.path().join("orchestrator.json"), key_json).unwrap();
        let db = fresh_database().expect("a PostgreSQL database");
        let mut a = Proc::start("a", dir.path(), &chain, &db, &moto).await;
        a.wait_metric("tessera_leader", |v| v == 1.0, "a leads")
            .await;
        let b = Proc::start("b", dir.path(), &chain, &db, &moto).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(b.metric("tessera_leader").await, 0.0, "one leader");

        let front = TestOrch {
            dir: tempfile::tempdir().unwrap(),
            orch: None,
            url: a.url.clone(),
            http: artist_client(),
            artist: chain.payer.insecure_clone(),
            db_url: Some(db.clone()),
        };
        let mut nodes = Vec::new();
        for _ in 0..4 {
            nodes.push(SimNode::new(chain.register_node(MIN_STAKE).await.1));
        }
        // Checkers qualify as witnesses of the job only if registered before it.
        chain.advance_clock(2).await;
        let id = chain.create_job(3, 100).await;
        let (st, v) = front.register(json!({"job_id": id})).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let urls = [a.url.clone(), b.url.clone()];
        let mut accepted = 0;
        // Both up: each node leases from one instance and submits to the other.
        for round in 0..4 {
            for (i, n) in nodes.iter().enumerate() {
                let lease = n.lease(&urls[(i + round) % 2]).await.expect("work");
                let (st, v) = n.submit(&urls[(i + round + 1) % 2], &lease).await;
                assert_eq!(st, StatusCode::OK, "{v}");
                accepted += 1;
            }
        }
        // Nodes 2 and 3 work on A until it dies under them.
        let mut workers = Vec::new();
        for i in [2usize, 3] {
            let (url, node) = (a.url.clone(), SimNode::new(nodes[i].key.insecure_clone()));
            workers.push(tokio::spawn(async move {
                let (mut done, mut unsure) = (0, None);
                loop {
                    match try_request(&node, &url, "/v1/leases", b"{}".to_vec()).await {
                        Ok((StatusCode::OK, lease)) => {
                            match try_submit(&node, &url, &lease).await {
                                Ok((st, v)) => {
                                    assert_eq!(st, StatusCode::OK, "{v}");
                                    done += 1;
                                }
                                Err(_) => {
                                    unsure = Some(lease);
                                    break;
                                }
                            }
                        }
                        Ok((st, v)) => {
                            assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(_) => break,
                    }
                }
                (i, done, unsure)
            }));
        }
        // Mid-job: 8 more tiles leased by the workers, more than 14 still queued.
        let until = Instant::now() + Duration::from_secs(30);
        while front_status(&b.url, &chain.payer, id).await["counts"]["queued"]
            .as_u64()
            .unwrap()
            > 22
        {
            assert!(Instant::now() < until, "the workers made no progress on A");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Two more leases on A: one to be submitted to B after the kill, one abandoned.
        let held = nodes[0].lease(&a.url).await.unwrap();
        let abandoned = nodes[1].lease(&a.url).await.unwrap();
        a.kill();
        // B alone. The held lease is B's to accept.
        let (st, v) = nodes[0].submit(&b.url, &held).await;
        assert_eq!(
            st,
            StatusCode::OK,
            "the lease taken on A is accepted by B: {v}"
        );
        accepted += 1;
        let mut unsure = Vec::new();
        let mut on_a = 0;
        for w in workers {
            let (i, done, lease) = w.await.unwrap();
            on_a += done;
            unsure.extend(lease.map(|l| (i, l)));
        }
        assert!(on_a >= 8, "the workers' submits to A: {on_a}");
        accepted += on_a;
        // A submit A died answering is accepted by B unless A had committed it (its
        // lease is then used up: 410).
        for (i, lease) in &unsure {
            let (st, v) = nodes[*i].submit(&b.url, lease).await;
            assert!(st == StatusCode::OK || st == StatusCode::GONE, "{st} {v}");
            // 410: A committed the render before dying, so it is stored once all the same.
            let committed_by_a = st == StatusCode::GONE
                && has_render(&db, id, lease, &nodes[*i].key.pubkey().to_string());
            accepted += usize::from(st == StatusCode::OK || committed_by_a);
        }
        b.wait_metric("tessera_leader", |v| v == 1.0, "b takes over")
            .await;
        let refs: Vec<&SimNode> = nodes.iter().collect();
        accepted += work_until_idle(&b.url, &refs).await;
        // Nobody leases now: only B's sweeper can give the abandoned tile back.
        let until = Instant::now() + Duration::from_secs(30);
        while front_status(&b.url, &chain.payer, id).await["counts"]["leased"] != 0 {
            assert!(Instant::now() < until, "the abandoned lease never expired");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(b.metric("tessera_leases_expired_total").await >= 1.0);
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            accepted += work_until_idle(&b.url, &refs).await;
            let s = front_status(&b.url, &chain.payer, id).await;
            if s["state"] == "posted" {
                assert_eq!(s["counts"]["verified"], 48, "{s}");
                break;
            }
            assert!(Instant::now() < until, "never posted: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let abandoned_tile = (
            abandoned["frame"].as_u64().unwrap(),
            abandoned["tile"].as_u64().unwrap(),
        );

        // Each tile rendered once as a primary (and at most once as a check), all of it
        // accepted, once, whichever instance received it.
        let renders = renders_per_tile(&db, id);
        let primary = renders.iter().find(|r| r.0 == "primary").unwrap();
        assert_eq!((primary.1, primary.2), (48, 48), "{renders:?}");
        let checks = renders.iter().find(|r| r.0 == "check").map_or(0, |r| r.1);
        assert!(renders.iter().all(|r| r.1 == r.2), "{renders:?}");
        assert_eq!(accepted as i64, 48 + checks, "{renders:?}");

        // Paid once: one receipt on-chain, 48 tiles and the agreeing check renders (up to
        // the job's share, ⌈48 × 20%⌉ = 10) at 100, the payouts summing to it.
        let sigs = chain
            .rpc
            .get_signatures_for_address(&pda::job(id))
            .await
            .unwrap();
        let ok = sigs.iter().filter(|s| s.err.is_none()).count();
        assert_eq!(ok, 2, "create_job and one post_receipt: {sigs:?}");
        let job = chain.job(id).await;
        assert_eq!(job.state, JobState::Rendered);
        let paid_renders = 48 + checks.min(10) as u64;
        assert_eq!(
            (job.tile_count, job.render_count as u64, job.total_payout),
            (48, paid_renders, paid_renders * 100)
        );
        let (_, manifest) = front_get(&b.url, &format!("/v1/jobs/{id}/manifest")).await;
        let payouts = manifest["payouts"].as_array().unwrap();
        let paid: u64 = payouts.iter().map(|p| p["amount"].as_u64().unwrap()).sum();
        let tiles: u64 = payouts.iter().map(|p| p["tiles"].as_u64().unwrap()).sum();
        assert_eq!(
            (paid, tiles),
            (paid_renders * 100, paid_renders),
            "{manifest}"
        );
        let mut rendered: Vec<_> = manifest["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["frame"].as_u64().unwrap(), t["tile"].as_u64().unwrap()))
            .collect();
        rendered.sort();
        rendered.dedup();
        assert_eq!(rendered.len(), 48, "each tile once in the receipt");
        assert!(rendered.contains(&abandoned_tile), "the abandoned tile too");

        // Retention, the leader's too: once the job is settled, B deletes its results.
        chain.approve(id).await;
        let spool = tempfile::tempdir().unwrap();
        let seconds = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("t", "t"),
            &["backend", "op"],
        )
        .unwrap();
        let bucket = blob::open(
            &moto.location("tessera-procs", "blobs", spool.path()),
            seconds,
        )
        .await
        .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let (st, _) = front_get(&b.url, &format!("/v1/jobs/{id}/frames/1/image")).await;
            let left = bucket.list().await.unwrap().len();
            if st == StatusCode::GONE && left == 1 {
                break;
            }
            assert!(
                Instant::now() < until,
                "results not deleted: {st}, {left} blobs"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            bucket.head(&hex(&scene_hash())).await.unwrap().is_some(),
            "the scene stays"
        );
    })
    .await
}

fn hex(b: &[u8; 32]) -> String {
    tessera_orchestrator::receipt::hex(b)
}

async fn front_get(url: &str, path: &str) -> (StatusCode, Value) {
    let r = reqwest::get(format!("{url}{path}")).await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The job's full status (queued and leased counts), signed by its artist.
async fn front_status(url: &str, artist: &solana_sdk::signature::Keypair, id: u64) -> Value {
    let http = reqwest::Client::new();
    signed_get(&http, url, artist, &format!("/v1/jobs/{id}"))
        .await
        .1
}

/// Chain RPC load of node eligibility: nodes that keep asking for work cost one
/// `getMultipleAccounts` call each on first sight, then one call per `node_cache_ms` for
/// all of them (and the network account) together; before, every node cost two calls
/// (its `Node` account and the network's) per `node_cache_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_nodes_standing_is_read_in_batches() {
    const NODES: usize = 8;
    const TTL_MS: u64 = 1_000;
    const PERIODS: u64 = 5;
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, |c| c.node_cache_ms = TTL_MS).await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(SimNode::new(chain.register_node(MIN_STAKE).await.1));
    }
    let metric = || async {
        let (_, m) = orch.get_bytes("/metrics").await;
        String::from_utf8(m)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("tessera_chain_lookups_total "))
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let before = metric().await;
    let started = Instant::now();
    // Every node asks for work (there is none) every 100 ms.
    while started.elapsed() < Duration::from_millis(TTL_MS * PERIODS) {
        for n in &nodes {
            assert!(n.lease(&orch.url).await.is_none());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = metric().await - before;
    let periods = started.elapsed().as_secs_f64() * 1000.0 / TTL_MS as f64;
    eprintln!(
        "{NODES} nodes, {periods:.1} cache periods: {calls} RPC calls \
         ({:.2} per node per period; before: 2)",
        calls / NODES as f64 / periods
    );
    assert!(
        calls >= NODES as f64,
        "each node read once at least: {calls}"
    );
    assert!(
        calls < (NODES as u64 * PERIODS) as f64,
        "fewer than one call per node per period: {calls}"
    );
}
