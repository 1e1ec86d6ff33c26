//! The node's acknowledgement journal, and `node-agent acks verify`.
//!
//! Every accepted submit answers with the orchestrator's signature of
//! `tessera_sdk::protocol::ack_message(job, frame, tile, node, pixel_hash)`. `node-agent run`
//! checks it against the orchestrator's key (`GET /v1/info`) and appends it to
//! `<data-dir>/acks-<node key>.jsonl` (one JSON object a line, fsynced) **before** it counts the tile as
//! done. Once the job's receipt is on-chain (read at `finalized`) every acknowledged tile
//! must be accounted for by what the orchestrator publishes:
//!
//! * `credited`: the manifest's tile leaf credits this node with the acknowledged hash, and
//!   its proof leads to the on-chain tile root;
//! * `checked`: the render agreed with the accepted one as a check or tiebreak
//!   (`GET /v1/jobs/{id}/checks`; not a receipt leaf of its own);
//! * `re-rendered`: the tile was re-queued after a fault or an inconclusive vote that the
//!   job's public evidence names (`GET /v1/jobs/{id}/evidence`);
//! * `unverified`: the job stopped (cancel, deadline) before the tile's check, and the
//!   partial receipt leaves it out;
//! * otherwise `dropped`: the orchestrator acknowledged a render it does not account for.
//!   `node-agent acks verify` prints it and exits non-zero; `run` logs it. When the receipt
//!   credits the slot to another key or hash (`misattributed`), the report carries the
//!   evidence a proof on-chain needs ([`Misattributed`]: the orchestrator's signed ack, the
//!   job's orchestrator key it must verify under, the receipt's leaf for the slot and its
//!   proof against the on-chain tile root) and the command that files it ([`file_command`]).
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use tessera_sdk::client::ChainClient;
use tessera_sdk::manifest::Manifest;
use tessera_sdk::receipt::TileRecord;
use tessera_sdk::{Job, JobState};

/// The journal of one node key in the data directory: `acks-<node key>.jsonl` (agents
/// of several keys may share a directory; each appends to its own file).
pub fn journal_path(dir: &Path, node: &Pubkey) -> PathBuf {
    dir.join(format!("acks-{node}.jsonl"))
}

/// One acknowledged render, as journaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The orchestrator's base URL and key (base58).
    pub url: String,
    pub orchestrator: String,
    pub job_id: u64,
    pub job_key: String,
    pub frame: u32,
    pub tile: u32,
    pub node: String,
    /// hex blake3 of the tile's RGBA8 pixels.
    pub pixel_hash: String,
    /// base58 signature of the orchestrator.
    pub ack: String,
    pub at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("the submit answer has no acknowledgement")]
    Missing,
    #[error("the acknowledgement is not the orchestrator's signature of this render")]
    Invalid,
}

/// The `Entry` for an accepted submit whose `ack` verifies against `orchestrator`.
pub struct Accepted<'a> {
    pub url: &'a str,
    pub orchestrator: &'a Pubkey,
    pub job_id: u64,
    pub job_key: &'a Pubkey,
    pub frame: u32,
    pub tile: u32,
    pub node: &'a Pubkey,
    pub pixel_hash: &'a [u8; 32],
}

impl Accepted<'_> {
    pub fn entry(&self, reply: &Value, now_ms: i64) -> Result<Entry, AckError> {
        let ack = reply["ack"].as_str().ok_or(AckError::Missing)?;
        let sig = Signature::from_str(ack).map_err(|_| AckError::Invalid)?;
        let record = TileRecord {
            frame: self.frame,
            tile: self.tile,
            node: *self.node,
            pixel_hash: *self.pixel_hash,
        };
        if !tessera_sdk::protocol::verify_ack(self.orchestrator, self.job_key, &record, &sig) {
            return Err(AckError::Invalid);
        }
        Ok(Entry {
            url: self.url.to_string(),
            orchestrator: self.orchestrator.to_string(),
            job_id: self.job_id,
            job_key: self.job_key.to_string(),
            frame: self.frame,
            tile: self.tile,
            node: self.node.to_string(),
            pixel_hash: tessera_sdk::hex::encode(self.pixel_hash),
            ack: ack.to_string(),
            at_ms: now_ms,
        })
    }
}

/// The append-only journal file.
pub struct Journal {
    file: File,
}

impl Journal {
    /// Opens (creating) the node's journal in `dir` for appending.
    pub fn open(dir: &Path, node: &Pubkey) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let path = journal_path(dir, node);
        let new = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        if new {
            // The file's name must survive a crash too.
            File::open(dir)?.sync_all()?;
        }
        // A crash mid-append left a torn last line: end it, so the next entry starts clean.
        use std::io::{Read, Seek, SeekFrom};
        if file.seek(SeekFrom::End(0))? > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
            }
        }
        Ok(Journal { file })
    }

    /// Appends one entry and fsyncs it before returning.
    pub fn record(&mut self, e: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(e)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Every entry of the journals in `dir` (of `node` only, when given); a torn line (a crash
/// mid-append) is skipped.
pub fn read(dir: &Path, node: Option<&Pubkey>) -> anyhow::Result<Vec<Entry>> {
    let paths: Vec<PathBuf> = match node {
        Some(n) => vec![journal_path(dir, n)],
        None => match std::fs::read_dir(dir) {
            Ok(list) => list
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.starts_with("acks-") && name.ends_with(".jsonl")
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        },
    };
    let mut out = Vec::new();
    for path in paths {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        for line in BufReader::new(file).lines() {
            match serde_json::from_str(&line?) {
                Ok(e) => out.push(e),
                Err(e) => eprintln!(
                    "acks: skipping an unreadable line of {} ({e})",
                    path.display()
                ),
            }
        }
    }
    Ok(out)
}

/// What became of one acknowledged render.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Credited,
    Checked,
    ReRendered,
    Unverified,
    Dropped,
}

impl Status {
    /// The name the report uses (as serialized).
    pub fn name(&self) -> &'static str {
        match self {
            Status::Credited => "credited",
            Status::Checked => "checked",
            Status::ReRendered => "re-rendered",
            Status::Unverified => "unverified",
            Status::Dropped => "dropped",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TileReport {
    pub frame: u32,
    pub tile: u32,
    pub pixel_hash: String,
    pub status: Status,
    /// Why a tile is `dropped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// A `dropped` tile the receipt credits to another key or hash: the evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misattributed: Option<Misattributed>,
}

/// An acknowledged render whose slot (frame, tile) the receipt credits to another key or
/// hash: everything a proof on-chain takes, checked here first.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Misattributed {
    /// The job account (base58).
    pub job_key: String,
    /// The key the ack is signed by: the job's orchestrator, fixed at its creation.
    pub orchestrator: String,
    /// Whether `ack` verifies under `orchestrator` for this node's render (it was checked
    /// against the key `GET /v1/info` gave when it was journaled).
    pub ack_verifies: bool,
    /// base58 signature of `tessera_sdk::protocol::ack_message(job, frame, tile, node, hash)`.
    pub ack: String,
    pub node: String,
    pub pixel_hash: String,
    /// The receipt's tile leaf for the slot, as the manifest serves it.
    pub credited_node: String,
    pub credited_hash: String,
    /// hex sibling hashes from that leaf to the tile root.
    pub credited_proof: Vec<String>,
    /// Whether that proof leads to the job's tile root on-chain (if not, the manifest is
    /// not the receipt and the leaf must be had some other way).
    pub proof_verifies: bool,
    /// The command that files it.
    pub file_with: String,
}

/// The command that proves a misattributed tile on-chain: the orchestrator's ack of this
/// node's render against the receipt's leaf crediting the slot to someone else. The
/// instruction is the `evidence` branch's (`programs/tessera`); this names its agent
/// command, which reads the ack from the journal in `data_dir`.
pub fn file_command(data_dir: &Path, job_id: u64, frame: u32, tile: u32) -> String {
    format!(
        "node-agent acks contest --data-dir {} --job {job_id} --frame {frame} --tile {tile}",
        data_dir.display()
    )
}

#[derive(Clone, Debug, Serialize)]
pub struct JobReport {
    pub job_id: u64,
    /// The job on-chain at `finalized`: `no-receipt` (still open), `closed` (account gone),
    /// or the receipt's state (`rendered`, `disputed`, `settled`, `resolved`).
    pub chain: String,
    pub acknowledged: usize,
    pub counts: BTreeMap<String, usize>,
    pub tiles: Vec<TileReport>,
}

impl JobReport {
    pub fn dropped(&self) -> impl Iterator<Item = &TileReport> {
        self.tiles.iter().filter(|t| t.status == Status::Dropped)
    }

    /// Whether the receipt is on-chain, so the tiles could be checked.
    pub fn checked(&self) -> bool {
        !matches!(self.chain.as_str(), "no-receipt" | "closed")
    }
}

async fn get_json(http: &reqwest::Client, url: String) -> anyhow::Result<Value> {
    Ok(http
        .get(&url)
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("GET {url}"))?
        .json()
        .await?)
}

/// (frame, tile) named by the job's public evidence: convicted or inconclusive tiles and
/// the tiles re-queued with each conviction.
fn re_rendered(evidence: &Value) -> BTreeSet<(u64, u64)> {
    let mut out = BTreeSet::new();
    for e in evidence["evidence"].as_array().into_iter().flatten() {
        if let (Some(f), Some(t)) = (e["frame"].as_u64(), e["tile"].as_u64()) {
            out.insert((f, t));
        }
        for pair in e["detail"]["requeued"].as_array().into_iter().flatten() {
            if let (Some(f), Some(t)) = (pair[0].as_u64(), pair[1].as_u64()) {
                out.insert((f, t));
            }
        }
    }
    out
}

/// Checks one job's acknowledged renders (all by one node) against the chain at
/// `finalized` and what the orchestrator publishes.
pub async fn check_job(
    chain: &ChainClient,
    http: &reqwest::Client,
    url: &str,
    job_id: u64,
    entries: &[&Entry],
    data_dir: &Path,
) -> anyhow::Result<JobReport> {
    let mut report = JobReport {
        job_id,
        chain: "no-receipt".into(),
        acknowledged: entries.len(),
        counts: BTreeMap::new(),
        tiles: Vec::new(),
    };
    let job_key = tessera_sdk::pda::job(job_id);
    let job: Option<Job> = chain.get_anchor_account(&job_key).await?;
    let Some(job) = job else {
        report.chain = "closed".into();
        return Ok(report);
    };
    if matches!(job.state, JobState::Open | JobState::CancelRequested) {
        return Ok(report);
    }
    report.chain = format!("{:?}", job.state).to_lowercase();
    let manifest: Manifest =
        serde_json::from_value(get_json(http, format!("{url}/v1/jobs/{job_id}/manifest")).await?)?;
    let checks = get_json(http, format!("{url}/v1/jobs/{job_id}/checks")).await?;
    let evidence = get_json(http, format!("{url}/v1/jobs/{job_id}/evidence")).await?;
    let refaulted = re_rendered(&evidence);
    let partial = job
        .total_tiles()
        .map_or(true, |n| u64::from(job.tile_count) < n);
    for e in entries {
        let (status, why) = account_for(&job, &job_key, &manifest, &checks, &refaulted, partial, e);
        *report.counts.entry(status.name().to_string()).or_default() += 1;
        let misattributed = (status == Status::Dropped)
            .then(|| {
                let on_chain = (&job.orchestrator, &job.tile_root);
                misattributed(on_chain, &job_key, &manifest.tiles, e, data_dir)
            })
            .flatten();
        report.tiles.push(TileReport {
            frame: e.frame,
            tile: e.tile,
            pixel_hash: e.pixel_hash.clone(),
            status,
            why,
            misattributed,
        });
    }
    Ok(report)
}

/// The evidence for a dropped render whose slot the manifest credits to another key or hash.
fn misattributed(
    (orchestrator, tile_root): (&Pubkey, &[u8; 32]),
    job_key: &Pubkey,
    tiles: &[tessera_sdk::manifest::ManifestTile],
    e: &Entry,
    data_dir: &Path,
) -> Option<Misattributed> {
    let t = tiles
        .iter()
        .find(|t| t.frame == e.frame && t.tile == e.tile && !t.node.is_empty())?;
    if t.node == e.node && t.pixel_hash == e.pixel_hash {
        return None;
    }
    let proof = t.proof().ok().flatten().unwrap_or_default();
    let proof_verifies = t
        .record()
        .is_ok_and(|rec| tessera_sdk::receipt::verify_tile(job_key, tile_root, &rec, &proof));
    let ack_verifies = (|| {
        let record = TileRecord {
            frame: e.frame,
            tile: e.tile,
            node: Pubkey::from_str(&e.node).ok()?,
            pixel_hash: tessera_sdk::hex::decode32(&e.pixel_hash)?,
        };
        let sig = Signature::from_str(&e.ack).ok()?;
        Some(tessera_sdk::protocol::verify_ack(
            orchestrator,
            job_key,
            &record,
            &sig,
        ))
    })()
    .unwrap_or(false);
    Some(Misattributed {
        job_key: job_key.to_string(),
        orchestrator: orchestrator.to_string(),
        ack_verifies,
        ack: e.ack.clone(),
        node: e.node.clone(),
        pixel_hash: e.pixel_hash.clone(),
        credited_node: t.node.clone(),
        credited_hash: t.pixel_hash.clone(),
        credited_proof: proof.iter().map(|h| tessera_sdk::hex::encode(h)).collect(),
        proof_verifies,
        file_with: file_command(data_dir, e.job_id, e.frame, e.tile),
    })
}

/// The status of one acknowledged render (see the module comment for the order).
fn account_for(
    job: &Job,
    job_key: &Pubkey,
    manifest: &Manifest,
    checks: &Value,
    refaulted: &BTreeSet<(u64, u64)>,
    partial: bool,
    e: &Entry,
) -> (Status, Option<String>) {
    let tile = manifest
        .tiles
        .iter()
        .find(|t| t.frame == e.frame && t.tile == e.tile);
    if let Some(t) = tile.filter(|t| t.node == e.node && t.pixel_hash == e.pixel_hash) {
        let proved = match (t.record(), t.proof()) {
            (Ok(rec), Ok(Some(proof))) => {
                tessera_sdk::receipt::verify_tile(job_key, &job.tile_root, &rec, &proof)
            }
            _ => false,
        };
        return if proved {
            (Status::Credited, None)
        } else {
            let why =
                "the manifest credits it, but its proof does not lead to the on-chain tile root";
            (Status::Dropped, Some(why.into()))
        };
    }
    let agreed = checks["checks"].as_array().into_iter().flatten().any(|c| {
        c["frame"].as_u64() == Some(e.frame.into())
            && c["tile"].as_u64() == Some(e.tile.into())
            && c["node"].as_str() == Some(e.node.as_str())
            && c["pixel_hash"].as_str() == Some(e.pixel_hash.as_str())
    });
    if agreed {
        return (Status::Checked, None);
    }
    if refaulted.contains(&(e.frame.into(), e.tile.into())) {
        return (Status::ReRendered, None);
    }
    match tile {
        Some(t) if t.node.is_empty() && partial => (Status::Unverified, None),
        Some(t) => (
            Status::Dropped,
            Some(format!(
                "the receipt credits node {} with pixel hash {}",
                t.node, t.pixel_hash
            )),
        ),
        None => (
            Status::Dropped,
            Some("the manifest has no such tile".into()),
        ),
    }
}

/// Logs a report the way `run` and `acks verify` print it (stderr).
pub fn log(r: &JobReport) {
    if !r.checked() {
        return;
    }
    let dropped: Vec<_> = r.dropped().collect();
    if dropped.is_empty() {
        eprintln!(
            "acks: job {}: all {} acknowledged renders accounted for {:?}",
            r.job_id, r.acknowledged, r.counts
        );
    }
    for t in dropped {
        eprintln!(
            "acks: job {} frame {} tile {}: DROPPED: acknowledged pixel hash {}, but {}",
            r.job_id,
            t.frame,
            t.tile,
            t.pixel_hash,
            t.why.as_deref().unwrap_or("it is not accounted for")
        );
        if let Some(m) = &t.misattributed {
            eprintln!("{}", misattributed_message(m));
        }
    }
}

/// What to do about a misattributed tile, in a few lines: the evidence and the command.
pub fn misattributed_message(m: &Misattributed) -> String {
    let mut out = format!(
        "acks:   the receipt credits this slot to node {} (pixel hash {}); the orchestrator \
         acknowledged your render: ack {} by {}",
        m.credited_node, m.credited_hash, m.ack, m.orchestrator
    );
    match (m.ack_verifies, m.proof_verifies) {
        (true, true) => out.push_str(&format!(
            "\nacks:   the ack verifies under the job's orchestrator key and the receipt's \
             leaf proves against the on-chain tile root: file it with\nacks:   {}",
            m.file_with
        )),
        (false, _) => out.push_str(
            "\nacks:   the ack does not verify under the job's orchestrator key (recorded at \
             creation): the chain would not accept it as evidence",
        ),
        (true, false) => out.push_str(
            "\nacks:   the manifest's proof of that leaf does not lead to the on-chain tile root: \
             the manifest is not the receipt; keep the ack and the manifest as evidence for a dispute",
        ),
    }
    out
}

fn by_job(entries: &[Entry]) -> BTreeMap<u64, Vec<&Entry>> {
    let mut jobs: BTreeMap<u64, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        jobs.entry(e.job_id).or_default().push(e);
    }
    jobs
}

fn finalized(rpc_url: &str) -> ChainClient {
    ChainClient::new(rpc_url.to_string(), CommitmentConfig::finalized())
}

/// `run`'s hook: jobs with acknowledged renders are checked once their receipt is on-chain.
pub struct AckWatch {
    dir: PathBuf,
    node: Pubkey,
    chain: ChainClient,
    http: reqwest::Client,
    pending: BTreeSet<u64>,
    last: Option<Instant>,
}

impl AckWatch {
    /// Jobs already in the journal are checked too (a restarted agent still checks them).
    pub fn new(dir: &Path, node: &Pubkey, rpc_url: &str) -> AckWatch {
        let pending = read(dir, Some(node))
            .unwrap_or_default()
            .iter()
            .map(|e| e.job_id)
            .collect();
        AckWatch {
            dir: dir.to_path_buf(),
            node: *node,
            chain: finalized(rpc_url),
            http: reqwest::Client::new(),
            pending,
            last: None,
        }
    }

    /// Uses `http` for the orchestrator (the agent's client: its CA, its timeouts).
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    pub fn acknowledged(&mut self, job_id: u64) {
        self.pending.insert(job_id);
    }

    /// At most every 10 s: checks the pending jobs whose receipt landed.
    pub async fn tick(&mut self) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        self.last = Some(Instant::now());
        let entries = match read(&self.dir, Some(&self.node)) {
            Ok(e) => e,
            Err(e) => return eprintln!("acks: {e:#}"),
        };
        let jobs = by_job(&entries);
        for id in self.pending.clone() {
            let Some(list) = jobs.get(&id) else { continue };
            let url = &list[0].url;
            match check_job(&self.chain, &self.http, url, id, list, &self.dir).await {
                Ok(r) if r.checked() || r.chain == "closed" => {
                    log(&r);
                    self.pending.remove(&id);
                }
                Ok(_) => {}
                Err(e) => eprintln!("acks: job {id}: {e:#}"),
            }
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AcksCommand {
    /// Check every acknowledged render against the manifests and the on-chain tile roots;
    /// exit status 1 when one is dropped.
    Verify(VerifyArgs),
    /// Contest a job's receipt on-chain for the acknowledged renders it credits to other keys
    /// (`prove_ack`), with the tile leaves crediting the node (the contest `run` files).
    Contest(super::contest::AckContestArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The agent's data directory (holds `acks-<node key>.jsonl`).
    #[arg(long, env = "TESSERA_NODE_DATA", default_value = "data/node")]
    pub data_dir: PathBuf,
    /// JSON-RPC URL of the chain.
    #[arg(long, env = "TESSERA_RPC_URL", default_value = "http://127.0.0.1:8899")]
    pub url: String,
    /// Only this job.
    #[arg(long)]
    pub job: Option<u64>,
    /// The orchestrator's base URL, instead of the one journaled with each render.
    #[arg(long)]
    pub orchestrator: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: AcksCommand) -> anyhow::Result<()> {
    let args = match cmd {
        AcksCommand::Verify(args) => args,
        AcksCommand::Contest(args) => return super::contest::run_ack_contest(args),
    };
    if !args.data_dir.is_dir() {
        anyhow::bail!(
            "no data directory {}: pass the agent's --data-dir (node-agent run's, default data/node)",
            args.data_dir.display()
        );
    }
    let entries = read(&args.data_dir, None)?;
    let wanted = entries
        .iter()
        .filter(|e| args.job.is_none_or(|j| j == e.job_id))
        .count();
    if wanted == 0 && !args.json {
        let what = args.job.map_or(String::new(), |j| format!(" of job {j}"));
        eprintln!(
            "acks: no acknowledged renders{what} in {}",
            args.data_dir.display()
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    let (chain, http) = (finalized(&args.url), reqwest::Client::new());
    let mut reports = Vec::new();
    for (id, list) in by_job(&entries) {
        if args.job.is_some_and(|j| j != id) {
            continue;
        }
        let url = args
            .orchestrator
            .clone()
            .unwrap_or_else(|| list[0].url.clone());
        let r = rt.block_on(check_job(
            &chain,
            &http,
            url.trim_end_matches('/'),
            id,
            &list,
            &args.data_dir,
        ))?;
        log(&r);
        reports.push(r);
    }
    let dropped: usize = reports.iter().map(|r| r.dropped().count()).sum();
    if args.json {
        let out = serde_json::json!({"ok": dropped == 0, "dropped": dropped, "jobs": reports});
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    if dropped > 0 {
        anyhow::bail!("{dropped} acknowledged renders are not accounted for");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use solana_sdk::signature::{Keypair, Signer};

    use super::*;

    #[test]
    fn a_slot_the_receipt_credits_to_another_key_is_reported_with_its_evidence_and_command() {
        use tessera_sdk::receipt::{JobShape, Receipt};
        let (orch, a, b) = (Keypair::new(), Keypair::new(), Keypair::new());
        let job_key = Pubkey::new_unique();
        let shape = JobShape {
            frame_start: 1,
            frame_end: 1,
            width: 32,
            height: 16,
            tile_size: 16,
            price_per_tile: 100,
            verify_bps: 2_000,
        };
        // The receipt credits tile 1 to b; the orchestrator had acknowledged a's render of it.
        let leaf = |tile, node: &Keypair, h: u8| TileRecord {
            frame: 1,
            tile,
            node: node.pubkey(),
            pixel_hash: [h; 32],
        };
        let receipt =
            Receipt::build(&job_key, shape, vec![leaf(0, &a, 1), leaf(1, &b, 2)]).unwrap();
        let root = receipt.params().unwrap().tile_root;
        let manifest_tile = |tile: u32| {
            let (rec, proof) = receipt.tile_proof(1, tile).unwrap();
            tessera_sdk::manifest::ManifestTile {
                frame: 1,
                tile,
                node: rec.node.to_string(),
                pixel_hash: tessera_sdk::hex::encode(&rec.pixel_hash),
                signature: String::new(),
                blob: None,
                proof: Some(proof.iter().map(|h| tessera_sdk::hex::encode(h)).collect()),
                role: None,
                missing: None,
            }
        };
        let tiles = vec![manifest_tile(0), manifest_tile(1)];
        let hash = [3u8; 32];
        let m = tessera_sdk::protocol::ack_message(&job_key, 1, 1, &a.pubkey(), &hash);
        let entry = Entry {
            url: "http://o".into(),
            orchestrator: orch.pubkey().to_string(),
            job_id: 7,
            job_key: job_key.to_string(),
            frame: 1,
            tile: 1,
            node: a.pubkey().to_string(),
            pixel_hash: tessera_sdk::hex::encode(&hash),
            ack: orch.sign_message(&m).to_string(),
            at_ms: 0,
        };
        let dir = Path::new("/var/node");
        let got = misattributed((&orch.pubkey(), &root), &job_key, &tiles, &entry, dir).unwrap();
        assert_eq!(
            (
                got.ack_verifies,
                got.proof_verifies,
                got.credited_node.as_str()
            ),
            (true, true, b.pubkey().to_string().as_str())
        );
        assert_eq!(got.credited_hash, tessera_sdk::hex::encode(&[2u8; 32]));
        assert_eq!(
            got.file_with,
            "node-agent acks contest --data-dir /var/node --job 7 --frame 1 --tile 1"
        );
        let say = misattributed_message(&got);
        assert!(
            say.contains(&got.ack) && say.contains(&got.file_with),
            "{say}"
        );
        // An ack under another key than the job's orchestrator is no evidence; a manifest
        // whose proof misses the on-chain root is not the receipt. Each is said so.
        let other = Keypair::new().pubkey();
        let forged = misattributed((&other, &root), &job_key, &tiles, &entry, dir).unwrap();
        assert!(!forged.ack_verifies);
        assert!(misattributed_message(&forged).contains("does not verify"));
        let wrong_root = misattributed((&orch.pubkey(), &[9; 32]), &job_key, &tiles, &entry, dir);
        assert!(!wrong_root.as_ref().unwrap().proof_verifies);
        assert!(misattributed_message(&wrong_root.unwrap()).contains("not the receipt"));
        // The slot credited to this node's own render is not misattributed.
        let own = Entry {
            tile: 0,
            pixel_hash: tessera_sdk::hex::encode(&[1u8; 32]),
            ..entry.clone()
        };
        assert!(misattributed((&orch.pubkey(), &root), &job_key, &tiles, &own, dir).is_none());
    }

    #[test]
    fn only_a_valid_ack_is_journaled_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (orch, node) = (Keypair::new(), Keypair::new());
        let job = Pubkey::new_unique();
        let hash = [4u8; 32];
        let accepted = Accepted {
            url: "http://o",
            orchestrator: &orch.pubkey(),
            job_id: 9,
            job_key: &job,
            frame: 1,
            tile: 2,
            node: &node.pubkey(),
            pixel_hash: &hash,
        };
        let m = tessera_sdk::protocol::ack_message(&job, 1, 2, &node.pubkey(), &hash);
        let good =
            serde_json::json!({"outcome": "accepted", "ack": orch.sign_message(&m).to_string()});
        let forged = serde_json::json!({"ack": node.sign_message(&m).to_string()});
        assert!(matches!(accepted.entry(&forged, 0), Err(AckError::Invalid)));
        assert!(matches!(
            accepted.entry(&serde_json::json!({}), 0),
            Err(AckError::Missing)
        ));
        let e = accepted.entry(&good, 5).unwrap();
        let mut j = Journal::open(dir.path(), &node.pubkey()).unwrap();
        j.record(&e).unwrap();
        j.record(&e).unwrap();
        // A crash mid-append leaves a torn line: it is skipped, the rest is read.
        std::fs::OpenOptions::new()
            .append(true)
            .open(journal_path(dir.path(), &node.pubkey()))
            .unwrap()
            .write_all(b"{\"url\":")
            .unwrap();
        assert_eq!(read(dir.path(), None).unwrap(), vec![e.clone(), e.clone()]);
        // Reopened after the crash: the next entry is on a line of its own.
        Journal::open(dir.path(), &node.pubkey())
            .unwrap()
            .record(&e)
            .unwrap();
        assert_eq!(read(dir.path(), Some(&node.pubkey())).unwrap().len(), 3);
        assert!(read(dir.path(), Some(&orch.pubkey())).unwrap().is_empty());
    }
}
