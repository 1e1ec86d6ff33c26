//! What a conviction still needs from the witnesses (issue 14, the remaining gaps): nodes
//! registered and staked before the job, each with at least the job's slash amount active;
//! and what open disputes no longer hold (a withdrawal of a node that never worked on the
//! disputed job), while a node of the disputed job still cannot leave before its slash.
use solana_sdk::signature::{Keypair, Signer};
use tessera::errors::TesseraError;
use tessera::merkle::TileRole;
use tessera::state::SlashRecord;
use tessera_sdk::receipt::{Receipt, RenderRecord, TileRecord};
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::{receipt_for, rendered_job};
use crate::slash::{sign, Case};

/// The hash the victim signed for tile 1/0 (its honest render).
const HONEST: [u8; 32] = [0x42; 32];
/// The hash the attacker's two keys "agree" on.
const FRAMED: [u8; 32] = [0x66; 32];

/// The framing attack: a job whose receipt credits every tile to `victim` except tile 1/0,
/// whose primary leaf is `sybil_a`'s (another hash) and whose tiebreak is `sybil_b`'s (the
/// same hash): two operators that are one attacker, drawn as checker and tiebreaker.
struct Frame {
    env: Env,
    victim: NodeFixture,
    sybil_a: NodeFixture,
    sybil_b: NodeFixture,
    id: u64,
    receipt: Receipt,
    reporter: Keypair,
}

impl Frame {
    /// The victim is registered at `EARLY` and the job created at `START_TIME`; `sybils`
    /// makes the attacker's two nodes (before or after the job) and returns them.
    async fn new(sybils: impl AsyncFnOnce(&mut Env) -> (NodeFixture, NodeFixture)) -> Self {
        let mut env = Env::new().await;
        env.set_time(EARLY).await;
        let artist = env.artist(5_000).await;
        let victim = env.register_node(MIN_STAKE).await;
        let early = sybils(&mut env).await;
        env.set_time(START_TIME).await;
        let id = env
            .create_job(&artist, small_job(START_TIME + 10_000))
            .await
            .unwrap();
        Self::post(env, victim, early, id).await
    }

    async fn post(
        mut env: Env,
        victim: NodeFixture,
        sybils: (NodeFixture, NodeFixture),
        id: u64,
    ) -> Self {
        let (sybil_a, sybil_b) = sybils;
        let job_key = pda::job(id);
        let job = env.job(id).await;
        let mut tiles = receipt_for(&job_key, &job, &[victim.key.pubkey()]).tiles;
        tiles[0] = TileRecord {
            frame: 1,
            tile: 0,
            node: sybil_a.key.pubkey(),
            pixel_hash: FRAMED,
        };
        let agree = RenderRecord {
            frame: 1,
            tile: 0,
            role: TileRole::Tiebreak,
            node: sybil_b.key.pubkey(),
            pixel_hash: FRAMED,
        };
        let receipt = Receipt::build_with(&job_key, &job, tiles, vec![agree], false).unwrap();
        let nodes = [victim.key.pubkey()];
        env.post_locking(id, receipt.params().unwrap(), &nodes)
            .await
            .unwrap();
        let reporter = env.funded().await;
        Frame {
            env,
            victim,
            sybil_a,
            sybil_b,
            id,
            receipt,
            reporter,
        }
    }

    /// Files `key`'s leaf of tile 1/0 as a witness.
    async fn witness(
        &mut self,
        key: &Keypair,
    ) -> Result<(), solana_program_test::BanksClientError> {
        let (leaf, proof) = self
            .receipt
            .tile_witnesses(1, 0)
            .into_iter()
            .find(|(l, _)| l.node == key.pubkey())
            .unwrap();
        let sig = sign(key, &pda::job(self.id), 1, 0, &leaf.pixel_hash);
        let ixs = ix::corroborate_tile(&self.reporter.pubkey(), self.id, &leaf, &sig, proof);
        let reporter = self.reporter.insecure_clone();
        self.env.refresh_blockhash().await;
        self.env.send(&ixs, &[&reporter]).await
    }

    /// Files both Sybil witnesses; returns their results.
    async fn witnesses(&mut self) -> [Result<(), solana_program_test::BanksClientError>; 2] {
        let (a, b) = (
            self.sybil_a.key.insecure_clone(),
            self.sybil_b.key.insecure_clone(),
        );
        [self.witness(&a).await, self.witness(&b).await]
    }

    /// `slash_node` against the victim with its honest signature.
    async fn slash(&mut self) -> Result<(), solana_program_test::BanksClientError> {
        let key = self.victim.key.pubkey();
        let sig = sign(&self.victim.key, &pda::job(self.id), 1, 0, &HONEST);
        let ixs = ix::slash_node(&self.reporter.pubkey(), self.id, &key, &sig, 1, 0, &HONEST);
        let reporter = self.reporter.insecure_clone();
        self.env.refresh_blockhash().await;
        self.env.send(&ixs, &[&reporter]).await
    }

    /// The victim keeps its stake and the treasury holds nothing.
    async fn assert_victim_whole(&mut self) {
        assert_eq!(
            self.env.node(&self.victim.key.pubkey()).await.stake,
            MIN_STAKE
        );
        let treasury = self.env.treasury;
        assert_eq!(self.env.balance(&treasury).await, 0);
        self.env.assert_conserved().await;
    }
}

/// Two nodes of two fresh operators, each staking `stake`.
async fn two_operators(env: &mut Env, stake: u64) -> (NodeFixture, NodeFixture) {
    (
        env.register_node(stake).await,
        env.register_node(stake).await,
    )
}

/// The exploit: seeing the job, the attacker registers two operator wallets, gets them drawn
/// as checker and tiebreaker and convicts the honest node with their two "agreeing" renders
/// (the program counted any two registered operators). Witnesses registered after the job's
/// creation no longer count.
#[tokio::test]
async fn sybil_witnesses_registered_after_the_job_cannot_convict_an_honest_node() {
    let mut env = Env::new().await;
    env.set_time(EARLY).await;
    let artist = env.artist(5_000).await;
    let victim = env.register_node(MIN_STAKE).await;
    env.set_time(START_TIME).await;
    let id = env
        .create_job(&artist, small_job(START_TIME + 10_000))
        .await
        .unwrap();
    // The attacker sees the job and makes its two operators, fully staked.
    env.advance(10).await;
    let sybils = two_operators(&mut env, MIN_STAKE).await;
    let mut f = Frame::post(env, victim, sybils, id).await;
    for r in f.witnesses().await {
        assert_tessera(r, TesseraError::WitnessTooNew);
    }
    // Registered in the job's own second does not count either (strictly before).
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let victim = env.register_node(MIN_STAKE).await;
    let sybils = two_operators(&mut env, MIN_STAKE).await;
    let id = env
        .create_job(&artist, small_job(START_TIME + 10_000))
        .await
        .unwrap();
    assert_eq!(
        env.job(id).await.created_at,
        env.node(&sybils.0.key.pubkey()).await.registered_at
    );
    let mut g = Frame::post(env, victim, sybils, id).await;
    for r in g.witnesses().await {
        assert_tessera(r, TesseraError::WitnessTooNew);
    }
    // Nothing on record: the slash finds no evidence account.
    for x in [&mut f, &mut g] {
        assert!(
            !x.env
                .exists(&pda::slash_record(&pda::job(x.id), 1, 0))
                .await
        );
        assert_anchor(
            x.slash().await,
            anchor_lang::error::ErrorCode::AccountNotInitialized,
        );
        x.assert_victim_whole().await;
    }
}

/// Dust wallets registered long before: an operator keeps its node with less active stake
/// than the job's slash amount (here by asking to unstake the rest). It does not count; one
/// with exactly the slash amount does, but alone it is not the tile's primary.
#[tokio::test]
async fn a_witness_with_less_active_stake_than_the_slash_amount_does_not_count() {
    let mut f = Frame::new(async |env: &mut Env| {
        let (a, b) = two_operators(env, MIN_STAKE).await;
        for (node, keep) in [(&a, SLASH_AMOUNT - 1), (&b, SLASH_AMOUNT)] {
            let op = node.operator.insecure_clone();
            let ask = ix::request_unstake(&op.pubkey(), &node.key.pubkey(), MIN_STAKE - keep);
            env.send(&[ask], &[&op]).await.unwrap();
        }
        (a, b)
    })
    .await;
    let [a, b] = f.witnesses().await;
    assert_tessera(a, TesseraError::WitnessUnderStaked);
    b.unwrap();
    let record: SlashRecord = f
        .env
        .anchor(&pda::slash_record(&pda::job(f.id), 1, 0))
        .await;
    assert_eq!(record.witness_count, 1);
    assert_tessera(f.slash().await, TesseraError::AcceptedRenderNotCorroborated);
    f.assert_victim_whole().await;
}

/// Old wallets emptied to dust and topped up after the job appeared: the stake added after the
/// job's creation does not count, even though the wallets are old enough.
#[tokio::test]
async fn stake_topped_up_after_the_job_does_not_count() {
    let mut env = Env::new().await;
    let dust = 100;
    env.set_time(EARLY - UNSTAKE_COOLDOWN).await;
    let (a, b) = two_operators(&mut env, MIN_STAKE).await;
    for n in [&a, &b] {
        let op = n.operator.insecure_clone();
        let ask = ix::request_unstake(&op.pubkey(), &n.key.pubkey(), MIN_STAKE - dust);
        env.send(&[ask], &[&op]).await.unwrap();
    }
    env.set_time(EARLY).await;
    for n in [&a, &b] {
        let op = n.operator.insecure_clone();
        let out = ix::withdraw_stake(&op.pubkey(), &n.key.pubkey(), &n.operator_token);
        env.send(&[out], &[&op]).await.unwrap();
        assert_eq!(env.node(&n.key.pubkey()).await.stake, dust);
    }
    let artist = env.artist(5_000).await;
    let victim = env.register_node(MIN_STAKE).await;
    env.set_time(START_TIME).await;
    let id = env
        .create_job(&artist, small_job(START_TIME + 10_000))
        .await
        .unwrap();
    // Seeing the job, the attacker tops both wallets up to the full stake.
    env.advance(10).await;
    for n in [&a, &b] {
        let op = n.operator.insecure_clone();
        let top = ix::add_stake(&op.pubkey(), &n.key.pubkey(), &n.operator_token, MIN_STAKE);
        env.send(&[top], &[&op]).await.unwrap();
    }
    let mut f = Frame::post(env, victim, (a, b), id).await;
    for r in f.witnesses().await {
        assert_tessera(r, TesseraError::WitnessStakeTooNew);
    }
    f.assert_victim_whole().await;
}

/// What remains (the README's residual assumption): two operators of one attacker that
/// existed before the job, each with the slash amount staked since, and both drawn for the
/// same checked tile, still convict an honest node. The stake goes to the treasury: the
/// attacker gains nothing from it, and its own stake stays in the vaults.
#[tokio::test]
async fn sybils_registered_and_staked_before_the_job_still_convict_the_residual_assumption() {
    let mut f = Frame::new(async |env: &mut Env| two_operators(env, MIN_STAKE).await).await;
    for r in f.witnesses().await {
        r.unwrap();
    }
    let before: Vec<u64> = {
        let mut v = Vec::new();
        for n in [f.sybil_a.operator_token, f.sybil_b.operator_token] {
            v.push(f.env.balance(&n).await);
        }
        v
    };
    f.slash().await.unwrap();
    let key = f.victim.key.pubkey();
    assert_eq!(f.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
    let treasury = f.env.treasury;
    assert_eq!(f.env.balance(&treasury).await, SLASH_AMOUNT);
    for (n, b) in [f.sybil_a.operator_token, f.sybil_b.operator_token]
        .iter()
        .zip(before)
    {
        assert_eq!(
            f.env.balance(n).await,
            b,
            "framers earn nothing from the slash"
        );
    }
    f.env.assert_conserved().await;
}

/// The exploit: any artist disputing any job froze every operator's unstaking network-wide
/// (`withdraw_stake` wanted `open_disputes == 0`). A node that never worked on the disputed
/// job now withdraws when its cooldown ends, while the dispute is open.
#[tokio::test]
async fn a_dispute_on_one_job_does_not_hold_a_bystanders_withdrawal() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let bystander = env.register_node(MIN_STAKE).await;
    let (op, key) = (bystander.operator.insecure_clone(), bystander.key.pubkey());
    let ask = ix::request_unstake(&op.pubkey(), &key, MIN_STAKE);
    env.send(&[ask], &[&op]).await.unwrap();
    // Job A, rendered by a alone, is disputed shortly before the bystander's cooldown ends.
    env.set_time(START_TIME + UNSTAKE_COOLDOWN - 100).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    env.set_time(START_TIME + UNSTAKE_COOLDOWN).await;
    assert_eq!(env.network().await.open_disputes, 1);
    let out = ix::withdraw_stake(&op.pubkey(), &key, &bystander.operator_token);
    env.send(&[out], &[&op]).await.unwrap();
    assert_eq!(env.node(&key).await.stake, 0);
    assert_eq!(
        env.balance(&bystander.operator_token).await,
        10_000 + MIN_STAKE
    );
    env.assert_conserved().await;
}

/// A node of the disputed job still cannot escape the slash it can be convicted of: its
/// receipt's lock holds the slash amount until `receipt + w + r`, which no dispute extends
/// (a dispute ends by `challenge_ends_at + r`, the same moment).
#[tokio::test]
async fn a_node_of_a_disputed_job_cannot_withdraw_before_its_slash() {
    let mut c = Case::with_deadline(2 * UNSTAKE_COOLDOWN).await;
    let key = c.bad.key.pubkey();
    let op = c.bad.operator.insecure_clone();
    let ask = ix::request_unstake(&op.pubkey(), &key, MIN_STAKE);
    c.env.send(&[ask], &[&op]).await.unwrap();
    // The receipt lands 10 s before the cooldown ends, and the artist disputes it.
    c.env.set_time(START_TIME + UNSTAKE_COOLDOWN - 10).await;
    c.ready().await;
    c.env.dispute(&c.artist, c.id).await.unwrap();
    let job = c.env.job(c.id).await;
    assert!(job.dispute_ends_at <= job.slash_ends_at);
    assert_eq!(c.env.node(&key).await.locked_until, job.slash_ends_at);
    c.env.set_time(START_TIME + UNSTAKE_COOLDOWN).await;
    let withdraw = ix::withdraw_stake(&op.pubkey(), &key, &c.bad.operator_token);
    assert_tessera(
        c.env.send(std::slice::from_ref(&withdraw), &[&op]).await,
        TesseraError::StakeLocked,
    );
    // Till the last second of the slash window, the dispute long over, the lock holds.
    c.env.set_time(job.slash_ends_at).await;
    assert_tessera(
        c.env.send(std::slice::from_ref(&withdraw), &[&op]).await,
        TesseraError::StakeLocked,
    );
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    c.env.send(&[withdraw], &[&op]).await.unwrap();
    assert_eq!(c.env.node(&key).await.stake, 0);
    assert_eq!(
        c.env.balance(&c.bad.operator_token).await,
        10_000 + MIN_STAKE - SLASH_AMOUNT
    );
    let treasury = c.env.treasury;
    assert_eq!(c.env.balance(&treasury).await, SLASH_AMOUNT);
    c.env.assert_conserved().await;
}
