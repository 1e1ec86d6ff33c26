//! Test harness: a real development chain (`tessera-localnet`: an Agave bank with the
//! Tessera program, served over JSON-RPC), the network initialised on it, real SQLite,
//! and simulated nodes that sign requests and submit synthetic RGBA tiles. Tests wrapped in
//! `on_both!` run twice: on SQLite and on a throwaway PostgreSQL cluster (`pg`).
#![allow(dead_code)]

pub mod moto;
pub mod pg;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::Transaction;
use tessera_orchestrator::protocol;
use tessera_orchestrator::{Config, Orchestrator};
use tessera_sdk::{ix, pda, Job, JobParams, Network, NetworkParams};

pub const MIN_STAKE: u64 = 1_000;
pub const SCENE: &[u8] = tessera_render::STANDARD_SCENE_GLB;

pub fn scene_hash() -> [u8; 32] {
    *blake3::hash(SCENE).as_bytes()
}

pub fn now_ms() -> i64 {
    tessera_orchestrator::store::now_ms()
}

/// The store backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static DB: Db;
}

/// The backend of the running test (SQLite outside `on_both!`).
pub fn db() -> Db {
    DB.try_with(|d| *d).unwrap_or(Db::Sqlite)
}

/// Runs a test body on `db`. Without PostgreSQL binaries the PostgreSQL run fails in CI
/// (`CI=true`) and is skipped, saying so, elsewhere.
pub async fn on(db: Db, body: impl std::future::Future<Output = ()>) {
    if db == Db::Postgres {
        if let Err(why) = pg::cluster() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required in CI: {why}");
            }
            eprintln!("SKIPPED on PostgreSQL: {why}");
            return;
        }
    }
    DB.scope(db, body).await
}

/// `on_both! { #[tokio::test] async fn name() { … } }`: tests `name::sqlite` and
/// `name::postgres`, one body.
#[macro_export]
macro_rules! on_both {
    ($(#[$m:meta])* async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$m])*
            async fn sqlite() {
                $crate::common::on($crate::common::Db::Sqlite, async move $body).await
            }
            $(#[$m])*
            async fn postgres() {
                $crate::common::on($crate::common::Db::Postgres, async move $body).await
            }
        }
    };
}

/// A fresh database URL for the running test's backend (None: SQLite in the test's dir).
pub fn fresh_database() -> Option<String> {
    (db() == Db::Postgres).then(pg::database)
}

pub struct TestChain {
    pub net: tessera_localnet::Localnet,
    pub rpc: RpcClient,
    pub payer: Keypair,
    pub mint: Keypair,
    pub mint_authority: Keypair,
    pub orchestrator: Keypair,
    pub artist_token: Pubkey,
    /// The network's (and so every job's) verification share.
    pub verify_bps: u16,
}

impl TestChain {
    /// A chain whose network pays 20% of a job's tiles as verification renders.
    pub async fn start() -> Self {
        Self::start_with_verify_bps(2_000).await
    }

    /// A chain whose jobs pay `verify_bps` of their tiles as verification renders: the
    /// orchestrator draws a check only while the job's share has room for it (three
    /// renders reserved per open check), so a test that checks (almost) every tile needs
    /// the largest share, 10 000.
    pub async fn start_with_verify_bps(verify_bps: u16) -> Self {
        let net = tessera_localnet::Localnet::start(tessera_localnet::Config::ephemeral().unwrap())
            .await
            .expect("localnet");
        let rpc =
            RpcClient::new_with_commitment(net.url().to_string(), CommitmentConfig::confirmed());
        let payer = net.faucet().insecure_clone();
        let mut c = Self {
            net,
            rpc,
            payer,
            mint: Keypair::new(),
            mint_authority: Keypair::new(),
            orchestrator: Keypair::new(),
            artist_token: Pubkey::default(),
            verify_bps,
        };
        let rent = c
            .rpc
            .get_minimum_balance_for_rent_exemption(tessera_sdk::token::MINT_LEN)
            .await
            .unwrap();
        let mint = c.mint.insecure_clone();
        let ixs = tessera_sdk::token::create_mint(
            &c.payer.pubkey(),
            &mint.pubkey(),
            &c.mint_authority.pubkey(),
            6,
            rent,
        );
        c.send(&ixs, &[&mint]).await.expect("mint");
        let params = NetworkParams {
            orchestrator: c.orchestrator.pubkey(),
            fee_bps: 250,
            min_stake: MIN_STAKE,
            challenge_window: 3_600,
            unstake_cooldown: 86_400,
            claim_grace: 7 * 86_400,
            settle_grace: 600,
            resolution_period: 3_600,
            dispute_bond: 1_000,
            slash_amount: MIN_STAKE / 10,
            verify_bps,
            orchestrator_bond: 1_000,
        };
        let payer = c.payer.pubkey();
        c.send(
            &[ix::initialize_network(&payer, &mint.pubkey(), params)],
            &[],
        )
        .await
        .expect("initialize_network");
        // The orchestrator pays its own receipt fees.
        c.send(
            &[solana_system_interface::instruction::transfer(
                &payer,
                &c.orchestrator.pubkey(),
                1_000_000_000,
            )],
            &[],
        )
        .await
        .expect("fund orchestrator");
        c.artist_token = c.token_account(&payer).await;
        c.mint_to(&c.artist_token.clone(), 10_000_000).await;
        // The orchestrator's bond backs its receipts (`post_receipt` requires it).
        let bond_source = c.token_account(&payer).await;
        c.mint_to(&bond_source, 5_000).await;
        let deposit = ix::deposit_bond(
            &payer,
            &c.orchestrator.pubkey(),
            &mint.pubkey(),
            &bond_source,
            5_000,
        );
        c.send(&[deposit], &[]).await.expect("deposit_bond");
        c
    }

    pub async fn send(
        &self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Signature, String> {
        let hash = self
            .rpc
            .get_latest_blockhash()
            .await
            .map_err(|e| e.to_string())?;
        let mut all: Vec<&Keypair> = vec![&self.payer];
        all.extend_from_slice(signers);
        let tx = Transaction::new_signed_with_payer(ixs, Some(&self.payer.pubkey()), &all, hash);
        self.rpc
            .send_and_confirm_transaction(&tx)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn token_account(&self, owner: &Pubkey) -> Pubkey {
        let acc = Keypair::new();
        let rent = self
            .rpc
            .get_minimum_balance_for_rent_exemption(tessera_sdk::token::ACCOUNT_LEN)
            .await
            .unwrap();
        let ixs = tessera_sdk::token::create_token_account(
            &self.payer.pubkey(),
            &acc.pubkey(),
            &self.mint.pubkey(),
            owner,
            rent,
        );
        self.send(&ixs, &[&acc]).await.expect("token account");
        acc.pubkey()
    }

    pub async fn mint_to(&self, account: &Pubkey, amount: u64) {
        let ixn = tessera_sdk::token::mint_to(
            &self.mint.pubkey(),
            account,
            &self.mint_authority.pubkey(),
            amount,
        );
        let auth = self.mint_authority.insecure_clone();
        self.send(&[ixn], &[&auth]).await.expect("mint_to");
    }

    /// Registers a node staking `stake`; returns (operator, node key).
    pub async fn register_node(&self, stake: u64) -> (Keypair, Keypair) {
        let operator = Keypair::new();
        let key = Keypair::new();
        let token = self.token_account(&operator.pubkey()).await;
        self.mint_to(&token, stake).await;
        let fund = solana_system_interface::instruction::transfer(
            &self.payer.pubkey(),
            &operator.pubkey(),
            100_000_000,
        );
        self.send(&[fund], &[]).await.expect("fund operator");
        let ixn = ix::register_node(
            &operator.pubkey(),
            &key.pubkey(),
            &self.mint.pubkey(),
            &token,
            stake,
            2_000,
            "sim".into(),
        );
        self.send(&[ixn], &[&operator, &key])
            .await
            .expect("register_node");
        (operator, key)
    }

    /// Registers another node key of `operator` (already funded) staking `stake`.
    pub async fn register_node_for(&self, operator: &Keypair, stake: u64) -> Keypair {
        let key = Keypair::new();
        let token = self.token_account(&operator.pubkey()).await;
        self.mint_to(&token, stake).await;
        let ixn = ix::register_node(
            &operator.pubkey(),
            &key.pubkey(),
            &self.mint.pubkey(),
            &token,
            stake,
            2_000,
            "sim".into(),
        );
        self.send(&[ixn], &[operator, &key])
            .await
            .expect("register_node");
        key
    }

    /// Moves the local chain's clock forward (e.g. past the registrations before a job, so
    /// those nodes count as witnesses of its slashes: `corroborate_tile` wants them older).
    /// Moves the clock at least `seconds` forward, as the Clock sysvar that transactions
    /// read shows it (one dev advance has been seen to leave it on the same second), and
    /// returns the chain's new unix time.
    pub async fn advance_clock(&self, seconds: u64) -> i64 {
        let dev = tessera_sdk::client::ChainClient::new(
            self.net.url().to_string(),
            solana_commitment_config::CommitmentConfig::confirmed(),
        );
        let goal = self.unix_time().await + seconds as i64;
        for _ in 0..10 {
            dev.dev_advance_clock(seconds).await.unwrap();
            let now = self.unix_time().await;
            if now >= goal {
                return now;
            }
        }
        panic!("the chain's clock did not reach {goal}");
    }

    /// The Clock sysvar's unix time (bincode: slot, epoch start, epoch, leader schedule
    /// epoch, then the i64 unix timestamp at byte 32).
    pub async fn unix_time(&self) -> i64 {
        let clock: Pubkey = "SysvarC1ock11111111111111111111111111111111"
            .parse()
            .unwrap();
        let acc = self.rpc.get_account(&clock).await.unwrap();
        i64::from_le_bytes(acc.data[32..40].try_into().unwrap())
    }

    /// Moves the clock until it is past every given node's registration and last stake,
    /// so a job created next counts them as witnesses (`Node::witness_refusal`). Checked
    /// against the accounts, not assumed from one advance.
    pub async fn age_nodes(&self, keys: &[&Pubkey]) {
        let mut newest = 0;
        for key in keys {
            let node = self.node(key).await;
            newest = newest.max(node.registered_at).max(node.stake_added_at);
        }
        for _ in 0..10 {
            if self.advance_clock(1).await > newest {
                return;
            }
        }
        panic!("the chain's clock did not pass {newest}");
    }

    pub async fn network(&self) -> Network {
        let acc = self.rpc.get_account(&pda::network()).await.unwrap();
        tessera_sdk::accounts::decode(&acc.data).unwrap()
    }

    pub async fn node(&self, key: &Pubkey) -> tessera_sdk::Node {
        let acc = self.rpc.get_account(&pda::node(key)).await.unwrap();
        tessera_sdk::accounts::decode(&acc.data).unwrap()
    }

    pub async fn job(&self, id: u64) -> Job {
        let acc = self.rpc.get_account(&pda::job(id)).await.unwrap();
        tessera_sdk::accounts::decode(&acc.data).unwrap()
    }

    /// Creates a job of `frames` 64×64 frames in 16-px tiles (16 tiles a frame).
    pub async fn create_job(&self, frames: u32, price: u64) -> u64 {
        self.create_job_with(JobParams {
            scene_hash: scene_hash(),
            frame_start: 1,
            frame_end: frames,
            width: 64,
            height: 64,
            tile_size: 16,
            samples_per_pixel: 4,
            price_per_tile: price,
            // Twice the tiles' price, or what the share and the fee need if more.
            budget: (price * 16 * frames as u64 * 2).max(
                tessera_sdk::estimate::job_cost(16 * frames as u64, price, 250, self.verify_bps)
                    .unwrap()
                    .budget,
            ),
            deadline: now_ms() / 1000 + 86_400,
            frame_rate_num: 24,
            frame_rate_den: 1,
        })
        .await
    }

    /// The artist (the payer) approves job `id`: it is settled and its clean frames served.
    pub async fn approve(&self, id: u64) {
        let ixn = ix::approve_job(
            &self.payer.pubkey(),
            id,
            &pda::treasury(),
            &self.artist_token,
        );
        self.send(&[ixn], &[]).await.expect("approve_job");
    }

    pub async fn create_job_with(&self, params: JobParams) -> u64 {
        // A fresh nonce per job: the network's count of jobs so far.
        let nonce = self.network().await.jobs_created;
        let id = pda::job_id(&self.payer.pubkey(), nonce);
        let ixn = ix::create_job(
            &self.payer.pubkey(),
            &self.mint.pubkey(),
            &self.artist_token,
            nonce,
            params,
        );
        self.send(&[ixn], &[]).await.expect("create_job");
        id
    }
}

pub struct TestOrch {
    pub dir: tempfile::TempDir,
    pub orch: Option<Orchestrator>,
    pub url: String,
    pub http: reqwest::Client,
    /// The artist of every test job (the chain's payer): signs scene uploads.
    pub artist: Keypair,
    /// The PostgreSQL database of this orchestrator (None: SQLite in `dir`).
    pub db_url: Option<String>,
}

pub fn config(dir: &std::path::Path, chain: &TestChain) -> Config {
    let mut cfg = Config::new(
        dir.join("db.sqlite"),
        dir.join("blobs"),
        chain.net.url().to_string(),
        chain.orchestrator.insecure_clone(),
    );
    cfg.verify_share = 0.0;
    cfg.new_node_share = 0.0;
    cfg.sweep_ms = 100;
    cfg.poster_poll_ms = 200;
    // Tests drive many requests from one address and key; the limit tests set their own.
    cfg.rate_per_key = 0;
    cfg.rate_per_addr = 0;
    cfg.pg_pool_size = 4;
    cfg
}

impl TestOrch {
    /// The job's server-sent event stream, opened.
    pub async fn events(&self, job_id: u64) -> reqwest::Response {
        self.http
            .get(format!("{}/v1/jobs/{job_id}/events", self.url))
            .send()
            .await
            .unwrap()
    }

    /// A chain whose jobs pay the largest verification share and an orchestrator that
    /// draws a check of every primary (`verify_share` 1.0), then `tweak`ed.
    pub async fn every_tile_checked(tweak: impl FnOnce(&mut Config)) -> (TestChain, TestOrch) {
        let chain = TestChain::start_with_verify_bps(10_000).await;
        let orch = TestOrch::start(&chain, |c| {
            c.verify_share = 1.0;
            tweak(c);
        })
        .await;
        (chain, orch)
    }

    pub async fn start(chain: &TestChain, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = fresh_database();
        let mut cfg = config(dir.path(), chain);
        cfg.database_url = db_url.clone();
        tweak(&mut cfg);
        let orch = Orchestrator::start(cfg).await.expect("orchestrator");
        let url = orch.url().to_string();
        Self {
            dir,
            orch: Some(orch),
            url,
            http: artist_client(),
            artist: chain.payer.insecure_clone(),
            db_url,
        }
    }

    /// The running orchestrator's store.
    pub fn store(&self) -> std::sync::Arc<dyn tessera_orchestrator::store::Store> {
        self.orch.as_ref().expect("running").store()
    }

    /// `SELECT COUNT(*)` of a table, read by the backend's own client.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.db_url {
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("db.sqlite")).unwrap();
                db.query_row(&sql, [], |r| r.get(0)).unwrap()
            }
            Some(url) => {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                    c.query_one(&sql, &[]).unwrap().get(0)
                })
                .join()
                .unwrap()
            }
        }
    }

    /// Runs one statement on the orchestrator's database with the backend's own client (a
    /// test standing in for a store that says more than the chain, or an orchestrator that lies).
    pub async fn exec_sql(&self, sql: &str) {
        let sql = sql.to_string();
        match &self.db_url {
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("db.sqlite")).unwrap();
                db.busy_timeout(Duration::from_secs(5)).unwrap();
                db.execute_batch(&sql).unwrap();
            }
            Some(url) => {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                    c.batch_execute(&sql).unwrap();
                })
                .join()
                .unwrap()
            }
        }
    }

    /// The orchestrator's key, from `GET /v1/info`.
    pub async fn key(&self) -> Pubkey {
        orchestrator_key(&self.http, &self.url).await
    }

    /// Restarts on the same database and blobs.
    pub async fn restart(&mut self, chain: &TestChain, tweak: impl FnOnce(&mut Config)) {
        if let Some(o) = self.orch.take() {
            o.abort();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut cfg = config(self.dir.path(), chain);
        cfg.database_url = self.db_url.clone();
        tweak(&mut cfg);
        let orch = Orchestrator::start(cfg).await.expect("restart");
        self.url = orch.url().to_string();
        self.orch = Some(orch);
    }

    /// Uploads `bytes` as the scene of `job_id`, signed by `signer`.
    pub async fn upload_as(
        &self,
        signer: &Keypair,
        job_id: u64,
        bytes: &[u8],
    ) -> (StatusCode, Value) {
        let path = format!("/v1/scenes?job_id={job_id}");
        let key = self.key().await;
        let headers = protocol::sign_request(signer, &key, "POST", &path, now_ms(), bytes);
        let mut rb = self.http.post(format!("{}{path}", self.url));
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let r = rb.body(bytes.to_vec()).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Uploads the test scene for `job_id`, signed by its artist.
    pub async fn upload_scene(&self, job_id: u64) -> (StatusCode, Value) {
        let artist = self.artist.insecure_clone();
        self.upload_as(&artist, job_id, SCENE).await
    }

    /// Uploads the scene for the job (as `tessera job submit` does after `create_job`), then
    /// registers it.
    pub async fn register(&self, body: Value) -> (StatusCode, Value) {
        if let Some(id) = body["job_id"].as_u64() {
            self.upload_scene(id).await;
        }
        self.register_only(body).await
    }

    pub async fn register_only(&self, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/v1/jobs", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    /// The job's full status (every tile state), as its artist sees it.
    pub async fn status(&self, job: u64) -> Value {
        signed_get(
            &self.http,
            &self.url,
            &self.artist,
            &format!("/v1/jobs/{job}"),
        )
        .await
        .1
    }

    /// The job's status as anyone (a node) sees it: totals and verified counts.
    pub async fn public_status(&self, job: u64) -> Value {
        self.get_json(&format!("/v1/jobs/{job}")).await.1
    }

    /// `SELECT COUNT(*)` of a query's rows (`FROM …`), read by the backend's own client.
    pub async fn count_where(&self, from: &str) -> i64 {
        self.count_rows(from).await
    }

    /// Waits until the background verifier has compared every stored second render.
    pub async fn wait_verdicts(&self) {
        for _ in 0..100 {
            if self.count_where("tiles WHERE need='compare'").await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("second renders still waiting for their comparison");
    }

    /// Waits until the job reaches `state` (or panics after `secs`).
    pub async fn wait_state(&self, job: u64, state: &str, secs: u64) -> Value {
        let until = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status(job).await;
            if s["state"] == state {
                return s;
            }
            assert!(
                std::time::Instant::now() < until,
                "job {job} never reached {state}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A GET signed by `signer` (a job's artist, the orchestrator's operator), on a timestamp
/// no earlier call of this process used (equal signatures would be refused as replays).
pub async fn signed_get(
    http: &reqwest::Client,
    url: &str,
    signer: &Keypair,
    path: &str,
) -> (StatusCode, Value) {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let ts = loop {
        let prev = LAST.load(Ordering::SeqCst);
        let next = now_ms().max(prev + 1);
        if LAST
            .compare_exchange(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            break next;
        }
    };
    let key = orchestrator_key(http, url).await;
    let headers = protocol::sign_request(signer, &key, "GET", path, ts, b"");
    let mut rb = http.get(format!("{url}{path}"));
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    let r = rb.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The artist's client: refused uploads leave their body unread, and the server then
/// closes the connection, so no connection is reused.
pub fn artist_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A simulated node: signs like `node-agent run`, renders synthetic pixels.
pub struct SimNode {
    pub key: Keypair,
    pub http: reqwest::Client,
    /// Submits pixels that differ from an honest render.
    pub wrong: bool,
    /// Submits an honest render with 1-level differences (another GPU's rounding).
    pub noise: bool,
    /// XORed into the red channel: a wrong render of its own, unlike any other node's.
    pub scramble: u8,
    /// Strictly increasing request timestamps (two identical requests in one millisecond
    /// would carry the same signature and the second would be refused as a replay).
    last_ts: std::sync::atomic::AtomicI64,
    /// The orchestrator requests are signed for (`GET /v1/info` on first use).
    orchestrator: tokio::sync::OnceCell<Pubkey>,
    /// Added to the local clock (a node with a skewed clock).
    pub skew_ms: i64,
}

/// `GET /v1/info`'s orchestrator key.
pub async fn orchestrator_key(http: &reqwest::Client, url: &str) -> Pubkey {
    let v: Value = http
        .get(format!("{url}/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["orchestrator"].as_str().unwrap().parse().unwrap()
}

/// The synthetic "render" of a tile: a pure function of the lease (so honest nodes agree).
pub fn pixels(lease: &Value, wrong: bool) -> (u32, u32, Vec<u8>) {
    let (w, h) = (
        lease["rect"]["width"].as_u64().unwrap() as u32,
        lease["rect"]["height"].as_u64().unwrap() as u32,
    );
    let (x0, y0) = (
        lease["rect"]["x"].as_u64().unwrap() as u32,
        lease["rect"]["y"].as_u64().unwrap() as u32,
    );
    let seed = lease["seed"].as_u64().unwrap();
    let frame = lease["frame"].as_u64().unwrap() as u32;
    let mut px = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x0 + x, y0 + y);
            let r = (fx * 4 + (seed & 7) as u32) as u8;
            let g = (fy * 4 + frame) as u8;
            let b = ((fx ^ fy) * 2) as u8;
            if wrong {
                px.extend_from_slice(&[255 - r, g / 3, 255 - b, 255]);
            } else {
                px.extend_from_slice(&[r, g, b, 255]);
            }
        }
    }
    (w, h, px)
}

pub fn png(w: u32, h: u32, px: Vec<u8>) -> Vec<u8> {
    tessera_orchestrator::imaging::encode_png(w, h, px).unwrap()
}

impl SimNode {
    pub fn new(key: Keypair) -> Self {
        Self {
            key,
            http: reqwest::Client::new(),
            wrong: false,
            noise: false,
            scramble: 0,
            last_ts: Default::default(),
            orchestrator: Default::default(),
            skew_ms: 0,
        }
    }

    pub async fn orchestrator(&self, url: &str) -> Pubkey {
        *self
            .orchestrator
            .get_or_init(|| orchestrator_key(&self.http, url))
            .await
    }

    pub async fn request(
        &self,
        url: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let ts = now_ms() + self.skew_ms;
        let prev = self
            .last_ts
            .fetch_max(ts, std::sync::atomic::Ordering::SeqCst);
        let ts = if prev >= ts {
            self.last_ts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1
        } else {
            ts
        };
        let orch = self.orchestrator(url).await;
        let headers = protocol::sign_request(&self.key, &orch, method, path, ts, &body);
        self.raw(url, method, path, body, &headers).await
    }

    pub async fn raw(
        &self,
        url: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> (StatusCode, Value) {
        let mut rb = match method {
            "GET" => self.http.get(format!("{url}{path}")),
            _ => self.http.post(format!("{url}{path}")),
        };
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        let r = rb.body(body).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn lease(&self, url: &str) -> Option<Value> {
        let (st, v) = self
            .request(url, "POST", "/v1/leases", b"{}".to_vec())
            .await;
        match st {
            StatusCode::OK => Some(v),
            StatusCode::NO_CONTENT => None,
            other => panic!("lease: {other} {v}"),
        }
    }

    /// The submit body for `lease` with these pixels (hash and tile signature honest).
    pub fn submit_body(&self, lease: &Value, w: u32, h: u32, px: Vec<u8>) -> Vec<u8> {
        let hash = *blake3::hash(&px).as_bytes();
        let job: Pubkey = lease["job_key"].as_str().unwrap().parse().unwrap();
        let sig = protocol::sign_tile(
            &self.key,
            &job,
            lease["frame"].as_u64().unwrap() as u32,
            lease["tile"].as_u64().unwrap() as u32,
            &hash,
        );
        serde_json::to_vec(&serde_json::json!({
            "pixel_hash": tessera_orchestrator::receipt::hex(&hash),
            "signature": sig.to_string(),
            "png": base64::engine::general_purpose::STANDARD.encode(png(w, h, px)),
        }))
        .unwrap()
    }

    pub async fn submit(&self, url: &str, lease: &Value) -> (StatusCode, Value) {
        let (w, h, mut px) = pixels(lease, self.wrong);
        if self.noise {
            for (i, p) in px.iter_mut().enumerate() {
                if i % 4 == 0 && (i / 4) % 3 == 0 {
                    *p = p.saturating_add(1);
                }
            }
        }
        for p in px.iter_mut().step_by(4) {
            *p ^= self.scramble;
        }
        let body = self.submit_body(lease, w, h, px);
        let path = format!("/v1/leases/{}/submit", lease["lease_id"]);
        self.request(url, "POST", &path, body).await
    }
}

/// Nodes take turns leasing and submitting until none gets work, twice 300 ms apart (a
/// tiebreak is offered once the background verifier has compared the check before it).
pub async fn work_until_idle(url: &str, nodes: &[&SimNode]) -> usize {
    let mut done = 0;
    let mut idle = 0;
    loop {
        let mut any = false;
        for n in nodes {
            if let Some(l) = n.lease(url).await {
                let (st, v) = n.submit(url, &l).await;
                any = true;
                // A verdict of the background verifier may convict the node while it holds
                // the lease, which releases it (410): nothing recorded.
                if st == StatusCode::GONE {
                    continue;
                }
                assert_eq!(st, StatusCode::OK, "submit: {v}");
                done += 1;
            }
        }
        idle = if any { 0 } else { idle + 1 };
        if idle == 2 {
            return done;
        }
        if !any {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

pub fn tmp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Reads an event stream until `needle` appears (5 s per chunk at most); all it read.
pub async fn read_events_until(sse: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), sse.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The node agent binary (`NODE_AGENT_BIN` when the target dir is not the workspace's).
pub fn agent_bin() -> String {
    std::env::var("NODE_AGENT_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/node-agent").into()
    })
}

/// Sends SIGINT and waits (10 s at most) for a clean exit.
pub async fn interrupt(agent: &mut std::process::Child) {
    std::process::Command::new("kill")
        .args(["-INT", &agent.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..100 {
        if let Some(status) = agent.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("agent did not stop on SIGINT");
}
