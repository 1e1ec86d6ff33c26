//! `slash_node` (a node's own signature over a tile the receipt replaced, checked through the
//! Ed25519 program and the instructions sysvar, against witnesses of two other operators that
//! `corroborate_tile` put on record) and the stake locks that keep the stake there.
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    pubkey::Pubkey,
    signature::{Keypair, Signer},
    transaction::TransactionError,
};
use tessera::errors::TesseraError;
use tessera::merkle::TileRole;
use tessera::state::SlashRecord;
use tessera_sdk::receipt::{Receipt, RenderRecord, TileRecord};
use tessera_sdk::{ix, pda, protocol};

use crate::harness::*;
use crate::lifecycle::receipt_for;

/// The pixel hash the bad node signed for frame 1, tile 0 (the receipt holds another).
const BAD: [u8; 32] = [0xEE; 32];
/// Receipt time + window + resolution period: the end of the slash window.
const SLASH_WINDOW: i64 = CHALLENGE_WINDOW + RESOLUTION_PERIOD;

/// A job whose receipt credits every tile to `honest`, pays `checker`'s agreeing tiebreak of
/// tile 1/0 and locks the stake of `honest` and `bad` (who returned a wrong tile 1/0 that the
/// tiebreak rejected).
pub(crate) struct Case {
    pub(crate) env: Env,
    pub(crate) artist: Artist,
    pub(crate) honest: NodeFixture,
    pub(crate) checker: NodeFixture,
    pub(crate) bad: NodeFixture,
    pub(crate) id: u64,
    pub(crate) receipt: Receipt,
    pub(crate) reporter: Keypair,
}

impl Case {
    pub(crate) async fn new() -> Self {
        Self::with_deadline(10_000).await
    }

    pub(crate) async fn with_deadline(after: i64) -> Self {
        let mut env = Env::new().await;
        env.set_time(EARLY).await;
        let artist = env.artist(5_000).await;
        let honest = env.register_node(MIN_STAKE).await;
        let checker = env.register_node(MIN_STAKE).await;
        let bad = env.register_node(MIN_STAKE).await;
        env.set_time(START_TIME).await;
        let d = env.now().await + after;
        let id = env.create_job(&artist, small_job(d)).await.unwrap();
        let job = env.job(id).await;
        let plain = receipt_for(&pda::job(id), &job, &[honest.key.pubkey()]);
        let accepted = plain.tile_proof(1, 0).unwrap().0;
        let tiebreak = RenderRecord {
            frame: 1,
            tile: 0,
            role: TileRole::Tiebreak,
            node: checker.key.pubkey(),
            pixel_hash: accepted.pixel_hash,
        };
        let receipt =
            Receipt::build_with(&pda::job(id), &job, plain.tiles, vec![tiebreak], false).unwrap();
        let reporter = env.funded().await;
        Case {
            env,
            artist,
            honest,
            checker,
            bad,
            id,
            receipt,
            reporter,
        }
    }

    pub(crate) async fn post(&mut self) {
        let nodes = [self.honest.key.pubkey(), self.bad.key.pubkey()];
        let p = self.receipt.params().unwrap();
        self.env.post_locking(self.id, p, &nodes).await.unwrap();
    }

    /// Posts the receipt and puts its two witnesses of tile 1/0 on record.
    pub(crate) async fn ready(&mut self) {
        self.post().await;
        for w in [
            self.honest.key.insecure_clone(),
            self.checker.key.insecure_clone(),
        ] {
            let ixs = self.witness_ixs(&w, 1, 0);
            self.send(&ixs).await.unwrap();
        }
    }

    pub(crate) fn job_key(&self) -> Pubkey {
        pda::job(self.id)
    }

    /// `corroborate_tile` by `key`'s leaf of tile `(frame, tile)` in the receipt, signed.
    pub(crate) fn witness_ixs(&self, key: &Keypair, frame: u32, tile: u32) -> Vec<Instruction> {
        let (leaf, proof) = self
            .receipt
            .tile_witnesses(frame, tile)
            .into_iter()
            .find(|(l, _)| l.node == key.pubkey())
            .expect("a leaf of the key");
        let sig = sign(key, &self.job_key(), frame, tile, &leaf.pixel_hash);
        ix::corroborate_tile(&self.reporter.pubkey(), self.id, &leaf, &sig, proof).to_vec()
    }

    /// `ix::slash_node` against `node` with `signature` over `hash` for tile 1/0.
    pub(crate) fn ixs(
        &self,
        node: &Pubkey,
        signature: &[u8; 64],
        hash: &[u8; 32],
    ) -> Vec<Instruction> {
        ix::slash_node(
            &self.reporter.pubkey(),
            self.id,
            node,
            signature,
            1,
            0,
            hash,
        )
        .to_vec()
    }

    /// The bad node's real evidence.
    pub(crate) fn bad_ixs(&self) -> Vec<Instruction> {
        let sig = sign(&self.bad.key, &self.job_key(), 1, 0, &BAD);
        self.ixs(&self.bad.key.pubkey(), &sig, &BAD)
    }

    pub(crate) async fn send(&mut self, ixs: &[Instruction]) -> Result<(), BanksClientError> {
        let reporter = self.reporter.insecure_clone();
        self.env.refresh_blockhash().await;
        self.env.send(ixs, &[&reporter]).await
    }

    /// Nothing was slashed: stakes whole, no slash on record, treasury empty.
    pub(crate) async fn assert_nothing_slashed(&mut self) {
        for key in [self.honest.key.pubkey(), self.bad.key.pubkey()] {
            assert_eq!(self.env.node(&key).await.stake, MIN_STAKE);
            assert_eq!(self.env.balance(&pda::stake_vault(&key)).await, MIN_STAKE);
        }
        let record = pda::slash_record(&self.job_key(), 1, 0);
        if self.env.exists(&record).await {
            let r: SlashRecord = self.env.anchor(&record).await;
            assert_eq!((r.slashed_at, r.amount), (0, 0));
        }
        let treasury = self.env.treasury;
        assert_eq!(self.env.balance(&treasury).await, 0);
        self.env.assert_conserved().await;
    }
}

/// `key`'s signature over the tile message of `(job, frame, tile, hash)`.
pub(crate) fn sign(
    key: &Keypair,
    job: &Pubkey,
    frame: u32,
    tile: u32,
    hash: &[u8; 32],
) -> [u8; 64] {
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
    c.ready().await;
    let job = c.env.job(c.id).await;
    assert_eq!(job.slash_amount, SLASH_AMOUNT);
    assert_eq!(job.slash_ends_at, START_TIME + SLASH_WINDOW);
    let record: SlashRecord = c.env.anchor(&pda::slash_record(&c.job_key(), 1, 0)).await;
    let on_record: Vec<(Pubkey, Pubkey, u8)> = record
        .witnesses()
        .iter()
        .map(|w| (w.node_key, w.operator, w.role))
        .collect();
    assert_eq!(
        on_record,
        vec![
            (c.honest.key.pubkey(), c.honest.operator.pubkey(), 0),
            (c.checker.key.pubkey(), c.checker.operator.pubkey(), 2),
        ]
    );
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
    // the operator only pays the fees.
    let mut c = Case::new().await;
    c.ready().await;
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
    c.ready().await;
    let mut sig = sign(&c.bad.key, &c.job_key(), 1, 0, &BAD);
    sig[10] ^= 1;
    let ixs = c.ixs(&c.bad.key.pubkey(), &sig, &BAD);
    assert_signature_refused(c.send(&ixs).await);
    // A signature made up by the reporter, for a node that never signed anything.
    let ixs = c.ixs(&c.bad.key.pubkey(), &[7; 64], &BAD);
    assert_signature_refused(c.send(&ixs).await);
    // A made-up witness signature is refused the same way.
    let mut ixs = c.witness_ixs(&c.checker.key.insecure_clone(), 1, 0);
    let (leaf, proof) = c.receipt.tile_witnesses(1, 0)[1].clone();
    ixs[0] = ix::corroborate_tile(&c.reporter.pubkey(), c.id, &leaf, &[9; 64], proof)[0].clone();
    assert_signature_refused(c.send(&ixs).await);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn a_slash_without_the_signature_check_right_before_it_fails() {
    let mut c = Case::new().await;
    c.ready().await;
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
    // A witness without its check.
    let w = c.witness_ixs(&c.checker.key.insecure_clone(), 1, 0);
    assert_tessera(c.send(&w[1..]).await, TesseraError::MissingSignatureCheck);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn a_signature_by_another_key_does_not_slash_the_node() {
    let mut c = Case::new().await;
    c.ready().await;
    // A real check of the honest node's signature over the bad message, aimed at the bad node.
    let stranger = c.honest.key.insecure_clone();
    let sig = sign(&stranger, &c.job_key(), 1, 0, &BAD);
    let mut ixs = c.ixs(&stranger.pubkey(), &sig, &BAD);
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
    c.ready().await;
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
    // Any other message the key signed.
    let sig = c.bad.key.sign_message(b"hello");
    ixs[0] = check(b"hello".to_vec(), sig.as_ref().try_into().unwrap());
    assert_tessera(c.send(&ixs).await, TesseraError::SignedMessageMismatch);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn an_honest_node_whose_hash_the_receipt_accepted_cannot_be_slashed() {
    let mut c = Case::new().await;
    c.ready().await;
    let accepted = c.receipt.tile_proof(1, 0).unwrap().0;
    // A check render by the bad node that agreed with the receipt: same hash.
    let sig = sign(&c.bad.key, &c.job_key(), 1, 0, &accepted.pixel_hash);
    let ixs = c.ixs(&c.bad.key.pubkey(), &sig, &accepted.pixel_hash);
    assert_tessera(c.send(&ixs).await, TesseraError::EvidenceNotConflicting);
    // The credited node itself, with a hash it signed besides the accepted one.
    let honest = c.honest.key.insecure_clone();
    let sig = sign(&honest, &c.job_key(), 1, 0, &BAD);
    let ixs = c.ixs(&honest.pubkey(), &sig, &BAD);
    assert_tessera(c.send(&ixs).await, TesseraError::EvidenceNotConflicting);
    // The checker, whose agreeing tiebreak is one of the witnesses: its own witness does not
    // count against it, the primary alone is one operator.
    let checker = c.checker.key.insecure_clone();
    let sig = sign(&checker, &c.job_key(), 1, 0, &BAD);
    let ixs = c.ixs(&checker.pubkey(), &sig, &BAD);
    assert_tessera(c.send(&ixs).await, TesseraError::NotCorroborated);
    c.assert_nothing_slashed().await;
}

#[tokio::test]
async fn witnesses_must_be_signed_by_registered_nodes_for_leaves_in_the_receipt() {
    let mut c = Case::new().await;
    c.post().await;
    // A leaf the tile root does not hold: the checker's real signature over another hash.
    let checker = c.checker.key.insecure_clone();
    let made_up = RenderRecord {
        frame: 1,
        tile: 0,
        role: TileRole::Tiebreak,
        node: checker.pubkey(),
        pixel_hash: [0x11; 32],
    };
    let sig = sign(&checker, &c.job_key(), 1, 0, &made_up.pixel_hash);
    let proof = c.receipt.tile_witnesses(1, 0)[1].1.clone();
    let ixs = ix::corroborate_tile(&c.reporter.pubkey(), c.id, &made_up, &sig, proof);
    assert_tessera(c.send(&ixs).await, TesseraError::InvalidProof);
    // The checker's real leaf claimed in another role.
    let (leaf, proof) = c.receipt.tile_witnesses(1, 0)[1].clone();
    let as_primary = RenderRecord {
        role: TileRole::Primary,
        ..leaf
    };
    let sig = sign(&checker, &c.job_key(), 1, 0, &leaf.pixel_hash);
    let ixs = ix::corroborate_tile(&c.reporter.pubkey(), c.id, &as_primary, &sig, proof.clone());
    assert_tessera(c.send(&ixs).await, TesseraError::InvalidProof);
    // The checker's signature in front of another node's account.
    let mut ixs = ix::corroborate_tile(&c.reporter.pubkey(), c.id, &leaf, &sig, proof.clone());
    let (from, to) = (pda::node(&checker.pubkey()), pda::node(&c.bad.key.pubkey()));
    ixs[1] = replace_account(ixs[1].clone(), &from, &to);
    assert_tessera(c.send(&ixs).await, TesseraError::SignerNotWitness);
    // A key that is not a registered node has no node account to vouch with.
    let stranger = Keypair::new();
    let unregistered = RenderRecord {
        node: stranger.pubkey(),
        ..leaf
    };
    let sig_s = sign(&stranger, &c.job_key(), 1, 0, &leaf.pixel_hash);
    let ixs = ix::corroborate_tile(
        &c.reporter.pubkey(),
        c.id,
        &unregistered,
        &sig_s,
        proof.clone(),
    );
    assert_anchor(
        c.send(&ixs).await,
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
    // The real witness counts once.
    let ixs = c.witness_ixs(&checker, 1, 0);
    c.send(&ixs).await.unwrap();
    assert_tessera(c.send(&ixs).await, TesseraError::AlreadyCorroborated);
    // The tiebreak alone has no primary behind it.
    let ixs = c.bad_ixs();
    assert_tessera(
        c.send(&ixs).await,
        TesseraError::AcceptedRenderNotCorroborated,
    );
    c.assert_nothing_slashed().await;
}

/// The exploit left open by the first evidence check: the orchestrator writes the receipt, so
/// it put a leaf of a key it controls, with a made-up hash, in place of an honest node's tile
/// and slashed the node with the node's honest signature of that tile. `slash_node` took the
/// stake (the receipt's leaf was all it checked). Now the orchestrator's key is one witness,
/// one operator, and a second key of the same operator adds no operator.
#[tokio::test]
async fn the_orchestrator_alone_cannot_frame_an_honest_node() {
    let mut env = Env::new().await;
    env.set_time(EARLY).await;
    let artist = env.artist(5_000).await;
    let victim = env.register_node(MIN_STAKE).await;
    // Two node keys of one operator, the orchestrator's own.
    let puppet = env.register_node(MIN_STAKE).await;
    let op = puppet.operator.insecure_clone();
    let puppet2 = env
        .register_node_of(op, puppet.operator_token, MIN_STAKE)
        .await;
    env.set_time(START_TIME).await;
    let d = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let job_key = pda::job(id);
    let job = env.job(id).await;
    // The victim rendered tile 1/0 honestly and signed it; the receipt credits it to the
    // puppet with another hash, and the puppet's second key "agrees" in a tiebreak.
    let honest_hash = [0x42; 32];
    let victim_sig = sign(&victim.key, &job_key, 1, 0, &honest_hash);
    let mut tiles = receipt_for(&job_key, &job, &[victim.key.pubkey()]).tiles;
    let framed = [0x66; 32];
    tiles[0] = TileRecord {
        frame: 1,
        tile: 0,
        node: puppet.key.pubkey(),
        pixel_hash: framed,
    };
    let agree = RenderRecord {
        frame: 1,
        tile: 0,
        role: TileRole::Tiebreak,
        node: puppet2.key.pubkey(),
        pixel_hash: framed,
    };
    let receipt = Receipt::build_with(&job_key, &job, tiles, vec![agree], false).unwrap();
    let nodes = [victim.key.pubkey()];
    env.post_locking(id, receipt.params().unwrap(), &nodes)
        .await
        .unwrap();
    let reporter = env.funded().await;
    for key in [&puppet.key, &puppet2.key] {
        let (leaf, proof) = receipt
            .tile_witnesses(1, 0)
            .into_iter()
            .find(|(l, _)| l.node == key.pubkey())
            .unwrap();
        let sig = sign(key, &job_key, 1, 0, &leaf.pixel_hash);
        let ixs = ix::corroborate_tile(&reporter.pubkey(), id, &leaf, &sig, proof);
        env.refresh_blockhash().await;
        env.send(&ixs, &[&reporter]).await.unwrap();
    }
    let slash = ix::slash_node(
        &reporter.pubkey(),
        id,
        &victim.key.pubkey(),
        &victim_sig,
        1,
        0,
        &honest_hash,
    );
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&slash, &[&reporter]).await,
        TesseraError::NotCorroborated,
    );
    assert_eq!(env.node(&victim.key.pubkey()).await.stake, MIN_STAKE);
    let treasury = env.treasury;
    assert_eq!(env.balance(&treasury).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_tile_is_slashed_once() {
    let mut c = Case::new().await;
    c.ready().await;
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    // The same evidence again (fresh blockhash, so a new transaction).
    assert_tessera(c.send(&ixs).await, TesseraError::TileAlreadySlashed);
    // Another node that also signed a wrong hash for the same tile: still one slash per tile.
    let third = c.env.register_node(MIN_STAKE).await;
    let sig = sign(&third.key, &c.job_key(), 1, 0, &[0xAB; 32]);
    let ixs = c.ixs(&third.key.pubkey(), &sig, &[0xAB; 32]);
    assert_tessera(c.send(&ixs).await, TesseraError::TileAlreadySlashed);
    assert_eq!(c.env.node(&third.key.pubkey()).await.stake, MIN_STAKE);
    let key = c.bad.key.pubkey();
    assert_eq!(c.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
    assert_eq!(c.env.job(c.id).await.slashed_count, 1);
    c.env.assert_conserved().await;
}

#[tokio::test]
async fn slashing_is_refused_before_the_receipt_and_after_the_window() {
    let mut c = Case::new().await;
    // No receipt: no tile root to prove a witness against, and no record to slash from.
    let w = c.witness_ixs(&c.honest.key.insecure_clone(), 1, 0);
    assert_tessera(c.send(&w).await, TesseraError::WrongJobState);
    let ixs = c.bad_ixs();
    assert_anchor(
        c.send(&ixs).await,
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
    c.ready().await;
    c.env.set_time(START_TIME + SLASH_WINDOW + 1).await;
    assert_tessera(c.send(&ixs).await, TesseraError::SlashWindowClosed);
    let w = c.witness_ixs(&c.checker.key.insecure_clone(), 1, 0);
    assert_tessera(c.send(&w).await, TesseraError::SlashWindowClosed);
    c.assert_nothing_slashed().await;
    // The last second of the window still counts.
    c.env.set_time(START_TIME + SLASH_WINDOW).await;
    c.send(&ixs).await.unwrap();
}

#[tokio::test]
async fn a_settled_job_can_still_be_slashed_and_is_closed_only_after_the_window() {
    let mut c = Case::new().await;
    c.ready().await;
    let artist = c.artist.wallet.insecure_clone();
    c.env.approve(&c.artist, c.id).await.unwrap();
    for n in [&c.honest, &c.checker] {
        let (leaf, proof) = c.receipt.payout_proof(&n.key.pubkey()).unwrap();
        let op = n.operator.insecure_clone();
        let claim = ix::claim_payout(
            &op.pubkey(),
            c.id,
            &n.key.pubkey(),
            &n.operator_token,
            leaf.amount,
            leaf.tiles,
            proof,
        );
        c.env.send(&[claim], &[&op]).await.unwrap();
    }
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
    c.ready().await;
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
    c.ready().await;
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
    c.ready().await;
    let ixs = c.bad_ixs();
    c.send(&ixs).await.unwrap();
    let key = c.bad.key.pubkey();
    assert_eq!(c.env.node(&key).await.stake, MIN_STAKE - SLASH_AMOUNT);
}
