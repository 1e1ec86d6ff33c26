//! `slash_node` (a node's own signature over a tile the receipt replaced, checked through the
//! Ed25519 program and the instructions sysvar) and the stake locks that keep the stake there.
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    pubkey::Pubkey,
    signature::{Keypair, Signer},
    transaction::TransactionError,
};
use tessera::errors::TesseraError;
use tessera::instructions::SlashEvidence;
use tessera::state::SlashRecord;
use tessera_sdk::receipt::Receipt;
use tessera_sdk::{ix, pda, protocol};

use crate::harness::*;
use crate::lifecycle::receipt_for;

/// The pixel hash the bad node signed for frame 1, tile 0 (the receipt holds another).
const BAD: [u8; 32] = [0xEE; 32];
/// Receipt time + window + resolution period: the end of the slash window.
const SLASH_WINDOW: i64 = CHALLENGE_WINDOW + RESOLUTION_PERIOD;

/// A job whose receipt credits every tile to `honest` and locks the stake of `honest` and
/// `bad` (who returned a wrong tile 1/0 that a tiebreak rejected).
struct Case {
    env: Env,
    artist: Artist,
    honest: NodeFixture,
    bad: NodeFixture,
    id: u64,
    receipt: Receipt,
    reporter: Keypair,
}

impl Case {
    async fn new() -> Self {
        Self::with_deadline(10_000).await
    }

    async fn with_deadline(after: i64) -> Self {
        let mut env = Env::new().await;
        let artist = env.artist(5_000).await;
        let honest = env.register_node(MIN_STAKE).await;
        let bad = env.register_node(MIN_STAKE).await;
        let d = env.now().await + after;
        let id = env.create_job(&artist, small_job(d)).await.unwrap();
        let job = env.job(id).await;
        let receipt = receipt_for(&pda::job(id), &job, &[honest.key.pubkey()]);
        let reporter = env.funded().await;
        Case {
            env,
            artist,
            honest,
            bad,
            id,
            receipt,
            reporter,
        }
    }

    async fn post(&mut self) {
        let nodes = [self.honest.key.pubkey(), self.bad.key.pubkey()];
        let p = self.receipt.params().unwrap();
        self.env.post_locking(self.id, p, &nodes).await.unwrap();
    }

    fn job_key(&self) -> Pubkey {
        pda::job(self.id)
    }

    /// The evidence against a node that signed `BAD` for frame 1, tile 0.
    fn evidence(&self) -> SlashEvidence {
        self.receipt.slash_evidence(1, 0, &BAD).unwrap()
    }

    /// `ix::slash_node` against `node` with `signature` and `evidence`.
    fn ixs(
        &self,
        node: &Pubkey,
        signature: &[u8; 64],
        evidence: SlashEvidence,
    ) -> Vec<Instruction> {
        ix::slash_node(&self.reporter.pubkey(), self.id, node, signature, evidence).to_vec()
    }

    /// The bad node's real evidence.
    fn bad_ixs(&self) -> Vec<Instruction> {
        let sig = sign(&self.bad.key, &self.job_key(), 1, 0, &BAD);
        self.ixs(&self.bad.key.pubkey(), &sig, self.evidence())
    }

    async fn send(&mut self, ixs: &[Instruction]) -> Result<(), BanksClientError> {
        let reporter = self.reporter.insecure_clone();
        self.env.refresh_blockhash().await;
        self.env.send(ixs, &[&reporter]).await
    }

    /// Nothing was slashed: stakes whole, no record, treasury empty.
    async fn assert_nothing_slashed(&mut self) {
        for key in [self.honest.key.pubkey(), self.bad.key.pubkey()] {
            assert_eq!(self.env.node(&key).await.stake, MIN_STAKE);
            assert_eq!(self.env.balance(&pda::stake_vault(&key)).await, MIN_STAKE);
        }
        let record = pda::slash_record(&self.job_key(), 1, 0);
        assert!(!self.env.exists(&record).await);
        let treasury = self.env.treasury;
        assert_eq!(self.env.balance(&treasury).await, 0);
        self.env.assert_conserved().await;
    }
}

/// `key`'s signature over the tile message of `(job, frame, tile, hash)`.
fn sign(key: &Keypair, job: &Pubkey, frame: u32, tile: u32, hash: &[u8; 32]) -> [u8; 64] {
    let sig = key.sign_message(&protocol::tile_message(job, frame, tile, hash));
    sig.as_ref().try_into().unwrap()
}

/// The runtime's Ed25519 program refused the signature (instruction 0 of the transaction).
#[track_caller]
fn assert_signature_refused(result: Result<(), BanksClientError>) {
    let err = match result {
        Err(BanksClientError::TransactionError(e)) => e,
        Err(BanksClientError::SimulationError { err, .. }) => err,
        other => panic!("expected the Ed25519 check to fail, got {other:?}"),
    };
    assert!(
        matches!(
            err,
            TransactionError::InstructionError(0, InstructionError::Custom(_))
        ),
        "expected the Ed25519 check (instruction 0) to fail, got {err:?}"
    );
}

#[tokio::test]
async fn a_node_that_signed_a_wrong_tile_is_slashed_to_the_treasury() {
    let mut c = Case::new().await;
    c.post().await;
    let job = c.env.job(c.id).await;
    assert_eq!(job.slash_amount, SLASH_AMOUNT);
    assert_eq!(job.slash_ends_at, START_TIME + SLASH_WINDOW);
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();

    let key = c.bad.key.pubkey();
    let node = c.env.node(&key).await;
    assert_eq!((node.stake, node.faults), (MIN_STAKE - SLASH_AMOUNT, 1));
    assert_eq!(
        c.env.balance(&pda::stake_vault(&key)).await,
        MIN_STAKE - SLASH_AMOUNT
    );
    let treasury = c.env.treasury;
    assert_eq!(c.env.balance(&treasury).await, SLASH_AMOUNT);
    let record: SlashRecord = c.env.anchor(&pda::slash_record(&c.job_key(), 1, 0)).await;
    assert_eq!(
        (record.node_key, record.bad_hash, record.amount),
        (key, BAD, SLASH_AMOUNT)
    );
    assert_eq!(
        record.accepted_hash,
        c.receipt.tile_proof(1, 0).unwrap().0.pixel_hash
    );
    assert_eq!(c.env.job(c.id).await.slashed_count, 1);
    // The honest node and the job's escrow are untouched: the artist's job is paid in full.
    let honest = c.honest.key.pubkey();
    assert_eq!(c.env.node(&honest).await.stake, MIN_STAKE);
    assert_eq!(c.env.balance(&pda::job_vault(&c.job_key())).await, 2_000);
    c.env.assert_conserved().await;
}

#[tokio::test]
async fn slashing_yourself_only_loses_stake() {
    // The bad node's own operator files the evidence: the stake still goes to the treasury,
    // the operator only pays the record's rent.
    let mut c = Case::new().await;
    c.post().await;
    c.reporter = c.bad.operator.insecure_clone();
    let before = c.env.balance(&c.bad.operator_token).await;
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    assert_eq!(c.env.balance(&c.bad.operator_token).await, before);
    let key = c.bad.key.pubkey();
    assert_eq!(c.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
    let treasury = c.env.treasury;
    assert_eq!(c.env.balance(&treasury).await, SLASH_AMOUNT);
    c.env.assert_conserved().await;
}

#[tokio::test]
async fn a_forged_signature_is_refused_by_the_ed25519_program() {
    let mut c = Case::new().await;
    c.post().await;
    let mut sig = sign(&c.bad.key, &c.job_key(), 1, 0, &BAD);
    sig[10] ^= 1;
    let ixs = c.ixs(&c.bad.key.pubkey(), &sig, c.evidence());
    assert_signature_refused(c.send(&ixs).await);
    // A signature made up by the reporter, for a node that never signed anything.
    let ixs = c.ixs(&c.bad.key.pubkey(), &[7; 64], c.evidence());
    assert_signature_refused(c.send(&ixs).await);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn a_slash_without_the_signature_check_right_before_it_fails() {
    let mut c = Case::new().await;
    c.post().await;
    let ixs = c.bad_ixs();
    // The slash alone.
    assert_tessera(c.send(&ixs[1..]).await, TesseraError::MissingSignatureCheck);
    // The check, then another instruction, then the slash: the check must be right before.
    let filler = solana_system_interface::instruction::transfer(
        &c.reporter.pubkey(),
        &c.reporter.pubkey(),
        1,
    );
    let spaced = [ixs[0].clone(), filler, ixs[1].clone()];
    assert_tessera(c.send(&spaced).await, TesseraError::MissingSignatureCheck);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn a_signature_by_another_key_does_not_slash_the_node() {
    let mut c = Case::new().await;
    c.post().await;
    // A real check of the honest node's signature over the bad message, aimed at the bad node.
    let stranger = c.honest.key.insecure_clone();
    let sig = sign(&stranger, &c.job_key(), 1, 0, &BAD);
    let mut ixs = c.ixs(&stranger.pubkey(), &sig, c.evidence());
    let (from, to) = (stranger.pubkey(), c.bad.key.pubkey());
    ixs[1] = replace_account(ixs[1].clone(), &pda::node(&from), &pda::node(&to));
    ixs[1] = replace_account(
        ixs[1].clone(),
        &pda::stake_vault(&from),
        &pda::stake_vault(&to),
    );
    assert_tessera(c.send(&ixs).await, TesseraError::SignerNotSlashedNode);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn a_signature_over_another_tile_or_job_does_not_slash() {
    let mut c = Case::new().await;
    c.post().await;
    let key = c.bad.key.pubkey();
    let check = |msg: Vec<u8>, sig: [u8; 64]| {
        solana_ed25519_program::new_ed25519_instruction_with_signature(&msg, &sig, &key.to_bytes())
    };
    // The node's real signature of BAD for tile 1, presented as evidence about tile 0.
    let sig = sign(&c.bad.key, &c.job_key(), 1, 1, &BAD);
    let mut ixs = c.bad_ixs();
    ixs[0] = check(protocol::tile_message(&c.job_key(), 1, 1, &BAD), sig);
    assert_tessera(c.send(&ixs).await, TesseraError::SignedMessageMismatch);
    // Its real signature of BAD for tile 1/0 of another job.
    let other_job = Pubkey::new_unique();
    let sig = sign(&c.bad.key, &other_job, 1, 0, &BAD);
    ixs[0] = check(protocol::tile_message(&other_job, 1, 0, &BAD), sig);
    assert_tessera(c.send(&ixs).await, TesseraError::SignedMessageMismatch);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn an_honest_node_whose_hash_the_receipt_accepted_cannot_be_slashed() {
    let mut c = Case::new().await;
    c.post().await;
    let accepted = c.receipt.tile_proof(1, 0).unwrap().0;
    assert!(c
        .receipt
        .slash_evidence(1, 0, &accepted.pixel_hash)
        .is_none());
    // A check render by the bad node that agreed with the receipt: same hash.
    let same = SlashEvidence {
        bad_hash: accepted.pixel_hash,
        ..c.evidence()
    };
    let sig = sign(&c.bad.key, &c.job_key(), 1, 0, &accepted.pixel_hash);
    let ixs = c.ixs(&c.bad.key.pubkey(), &sig, same.clone());
    assert_tessera(c.send(&ixs).await, TesseraError::EvidenceNotConflicting);
    // The credited node itself, with its own leaf as "the other node's" and a hash it signed.
    let honest = c.honest.key.insecure_clone();
    let sig = sign(&honest, &c.job_key(), 1, 0, &BAD);
    let ixs = c.ixs(&honest.pubkey(), &sig, c.evidence());
    assert_tessera(c.send(&ixs).await, TesseraError::EvidenceNotConflicting);
    // A leaf the tile root does not hold (another hash claimed as accepted).
    let made_up = SlashEvidence {
        accepted_hash: [0x11; 32],
        ..c.evidence()
    };
    let ixs = c.ixs(
        &c.bad.key.pubkey(),
        &sign(&c.bad.key, &c.job_key(), 1, 0, &BAD),
        made_up,
    );
    assert_tessera(c.send(&ixs).await, TesseraError::InvalidProof);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn a_tile_is_slashed_once() {
    let mut c = Case::new().await;
    c.post().await;
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    // The same evidence again (fresh blockhash, so a new transaction).
    assert_already_in_use(c.send(&ixs).await);
    // Another node that also signed a wrong hash for the same tile: still one slash per tile.
    let third = c.env.register_node(MIN_STAKE).await;
    let sig = sign(&third.key, &c.job_key(), 1, 0, &[0xAB; 32]);
    let ev = c.receipt.slash_evidence(1, 0, &[0xAB; 32]).unwrap();
    let ixs = c.ixs(&third.key.pubkey(), &sig, ev);
    assert_already_in_use(c.send(&ixs).await);
    assert_eq!(c.env.node(&third.key.pubkey()).await.stake, MIN_STAKE);
    let key = c.bad.key.pubkey();
    assert_eq!(c.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
    assert_eq!(c.env.job(c.id).await.slashed_count, 1);
    c.env.assert_conserved().await;
}

#[tokio::test]
async fn slashing_is_refused_before_the_receipt_and_after_the_window() {
    let mut c = Case::new().await;
    // No receipt: no tile root to prove anything against.
    let ixs = c.bad_ixs();
    assert_tessera(c.send(&ixs).await, TesseraError::WrongJobState);
    c.post().await;
    c.env.set_time(START_TIME + SLASH_WINDOW + 1).await;
    assert_tessera(c.send(&ixs).await, TesseraError::SlashWindowClosed);
    c.assert_nothing_slashed().await;
    // The last second of the window still counts.
    c.env.set_time(START_TIME + SLASH_WINDOW).await;
    c.send(&ixs).await.unwrap();
}

#[tokio::test]
async fn a_settled_job_can_still_be_slashed_and_is_closed_only_after_the_window() {
    let mut c = Case::new().await;
    c.post().await;
    let artist = c.artist.wallet.insecure_clone();
    c.env.approve(&c.artist, c.id).await.unwrap();
    let (leaf, proof) = c.receipt.payout_proof(&c.honest.key.pubkey()).unwrap();
    let op = c.honest.operator.insecure_clone();
    let claim = ix::claim_payout(
        &op.pubkey(),
        c.id,
        &c.honest.key.pubkey(),
        &c.honest.operator_token,
        leaf.amount,
        leaf.tiles,
        proof,
    );
    c.env.send(&[claim], &[&op]).await.unwrap();
    // Every node claimed, but the tile root is still evidence: the job stays open.
    let close = ix::close_job(&artist.pubkey(), c.id, &c.artist.token);
    c.env.refresh_blockhash().await;
    assert_tessera(
        c.env.send(std::slice::from_ref(&close), &[]).await,
        TesseraError::SlashWindowOpen,
    );
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    c.env.set_time(START_TIME + SLASH_WINDOW + 1).await;
    c.env.send(&[close], &[]).await.unwrap();
    c.env.assert_conserved().await;
}

#[tokio::test]
async fn unstaking_right_after_the_receipt_cannot_go_below_the_lock() {
    let mut c = Case::new().await;
    c.post().await;
    let key = c.bad.key.pubkey();
    let node = c.env.node(&key).await;
    assert_eq!(
        (node.locked_stake, node.locked_until),
        (SLASH_AMOUNT, START_TIME + SLASH_WINDOW)
    );
    let op = c.bad.operator.insecure_clone();
    let all = ix::request_unstake(&op.pubkey(), &key, MIN_STAKE);
    assert_tessera(c.env.send(&[all], &[&op]).await, TesseraError::StakeLocked);
    // What the lock leaves may go.
    let rest = ix::request_unstake(&op.pubkey(), &key, MIN_STAKE - SLASH_AMOUNT);
    c.env.send(&[rest], &[&op]).await.unwrap();
    // The slash still finds the locked stake.
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    assert_eq!(c.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
}

#[tokio::test]
async fn an_unstake_requested_before_the_receipt_cannot_be_withdrawn_before_the_slash() {
    // The exploit: ask to unstake everything while rendering, so the cooldown ends just
    // after the receipt, and withdraw before anyone files the slash.
    let mut c = Case::with_deadline(2 * UNSTAKE_COOLDOWN).await;
    let key = c.bad.key.pubkey();
    let op = c.bad.operator.insecure_clone();
    let ask = ix::request_unstake(&op.pubkey(), &key, MIN_STAKE);
    c.env.send(&[ask], &[&op]).await.unwrap();
    let posted_at = START_TIME + UNSTAKE_COOLDOWN - 10;
    c.env.set_time(posted_at).await;
    c.post().await;
    c.env.set_time(START_TIME + UNSTAKE_COOLDOWN).await;
    let token = c.bad.operator_token;
    let withdraw = ix::withdraw_stake(&op.pubkey(), &key, &token);
    assert_tessera(
        c.env.send(std::slice::from_ref(&withdraw), &[&op]).await,
        TesseraError::StakeLocked,
    );
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    // After the slash the rest may leave (the lock held what the slash took).
    c.env.send(&[withdraw], &[&op]).await.unwrap();
    assert_eq!(c.env.node(&key).await.stake, 0);
    assert_eq!(
        c.env.balance(&token).await,
        10_000 + MIN_STAKE - SLASH_AMOUNT
    );
    c.env.assert_conserved().await;
}

#[tokio::test]
async fn a_lock_lapses_when_the_slash_window_closes() {
    let mut c = Case::new().await;
    c.post().await;
    let key = c.honest.key.pubkey();
    let op = c.honest.operator.insecure_clone();
    c.env.set_time(START_TIME + SLASH_WINDOW).await;
    let all = ix::request_unstake(&op.pubkey(), &key, MIN_STAKE);
    assert_tessera(
        c.env.send(std::slice::from_ref(&all), &[&op]).await,
        TesseraError::StakeLocked,
    );
    c.env.set_time(START_TIME + SLASH_WINDOW + 1).await;
    c.env.send(&[all], &[&op]).await.unwrap();
}

#[tokio::test]
async fn locks_add_up_over_overlapping_jobs_up_to_the_stake() {
    let mut c = Case::new().await;
    c.post().await;
    let key = c.bad.key.pubkey();
    let artist = c.env.artist(10_000).await;
    // Three more jobs naming the node before the first window ends: 4 × 300 > 1 000.
    for _ in 0..3 {
        c.env.advance(100).await;
        let d = c.env.now().await + 10_000;
        let id = c.env.create_job(&artist, small_job(d)).await.unwrap();
        let job = c.env.job(id).await;
        let r = receipt_for(&pda::job(id), &job, &[c.honest.key.pubkey()]);
        c.env
            .post_locking(id, r.params().unwrap(), &[key])
            .await
            .unwrap();
    }
    let node = c.env.node(&key).await;
    assert_eq!(node.locked_stake, MIN_STAKE);
    assert_eq!(node.locked_until, START_TIME + 300 + SLASH_WINDOW);
}

#[tokio::test]
async fn a_receipt_locking_something_else_than_distinct_nodes_fails() {
    let mut c = Case::new().await;
    let p = c.receipt.params().unwrap();
    let key = c.bad.key.pubkey();
    assert_tessera(
        c.env.post_locking(c.id, p.clone(), &[key, key]).await,
        TesseraError::InvalidNodeAccount,
    );
    // The job account in place of a node.
    let orch = c.env.orchestrator.insecure_clone();
    let mut ixn = ix::post_receipt(&orch.pubkey(), c.id, p.clone(), &[key]);
    let last = ixn.accounts.len() - 1;
    ixn.accounts[last].pubkey = pda::job(c.id);
    c.env.refresh_blockhash().await;
    assert_anchor(
        c.env.send(&[ixn], &[&orch]).await,
        anchor_lang::error::ErrorCode::AccountDiscriminatorMismatch,
    );
    // A node account passed read-only cannot be locked.
    let mut ixn = ix::post_receipt(&orch.pubkey(), c.id, p.clone(), &[key]);
    ixn.accounts[last].is_writable = false;
    assert_tessera(
        c.env.send(&[ixn], &[&orch]).await,
        TesseraError::InvalidNodeAccount,
    );
    c.env.post_locking(c.id, p, &[key]).await.unwrap();
}

#[tokio::test]
async fn the_slash_amount_is_bounded_and_fixed_at_job_creation() {
    let mut c = Case::with_deadline(2 * PARAMS_TIMELOCK).await;
    for bad in [0, MIN_STAKE + 1] {
        let update = tessera_sdk::NetworkUpdate {
            slash_amount: Some(bad),
            ..Default::default()
        };
        assert_tessera(
            c.env.update(update).await,
            TesseraError::SlashAmountOutOfRange,
        );
    }
    // A larger slash decided after the job was created does not apply to it.
    let update = tessera_sdk::NetworkUpdate {
        slash_amount: Some(MIN_STAKE),
        ..Default::default()
    };
    c.env.update_now(update).await.unwrap();
    assert_eq!(c.env.network().await.slash_amount, MIN_STAKE);
    c.post().await;
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    let key = c.bad.key.pubkey();
    assert_eq!(c.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
}
