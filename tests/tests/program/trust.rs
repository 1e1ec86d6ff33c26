//! Every rule of a job is fixed when the job is created: the admin changing the network's
//! orchestrator, challenge window or claim grace afterwards (even inside one transaction that
//! restores them) cannot post, settle or sweep a running job; a job the receipt could not
//! count is refused at creation; disputes post a bond, end by a deadline and slash nothing.
use solana_sdk::{instruction::Instruction, pubkey::Pubkey, signature::Signer};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::{ix, pda, JobParams, NetworkUpdate};

use crate::harness::*;
use crate::lifecycle::{claim, receipt_for, rendered_job};

/// The admin's change of who posts receipts and how long the windows are.
fn rug_update(orchestrator: Pubkey, window: i64, grace: i64) -> NetworkUpdate {
    NetworkUpdate {
        orchestrator: Some(orchestrator),
        challenge_window: Some(window),
        claim_grace: Some(grace),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_job_records_the_networks_rules_in_the_job() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let job = env.job(id).await;
    assert_eq!(
        (
            job.orchestrator,
            job.fee_bps,
            job.challenge_window,
            job.claim_grace
        ),
        (
            env.orchestrator.pubkey(),
            FEE_BPS,
            CHALLENGE_WINDOW,
            CLAIM_GRACE
        )
    );
    // The frame rate the artist paid for is the job's, so nodes and auditors pose the
    // same instant for each frame.
    let mut p = small_job(d);
    (p.frame_rate_num, p.frame_rate_den) = (30_000, 1_001);
    let ntsc = env.create_job(&artist, p).await.unwrap();
    let job = env.job(ntsc).await;
    assert_eq!((job.frame_rate_num, job.frame_rate_den), (30_000, 1_001));
}

/// The review's exploit: in one transaction the admin makes itself orchestrator with a zero
/// window and grace, posts a receipt paying its own node, finalizes, claims, and restores the
/// configuration. Before jobs kept their own rules this went through; now the receipt is
/// refused (the job's orchestrator must sign) and nothing moves.
#[tokio::test]
async fn admin_cannot_rug_a_job_in_one_transaction() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let evil = env.register_node(MIN_STAKE).await;
    let d = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let job = env.job(id).await;
    let receipt = receipt_for(&pda::job(id), &job, &[evil.key.pubkey()]);
    let (leaf, proof) = receipt.payout_proof(&evil.key.pubkey()).unwrap();
    let admin = env.admin.insecure_clone();
    // A bonded admin: the bond is no substitute for being the job's orchestrator.
    env.deposit_bond(&admin.pubkey(), BOND_DEPOSIT)
        .await
        .unwrap();
    let honest = env.orchestrator.pubkey();
    let treasury = env.treasury;
    let ixs: Vec<Instruction> = vec![
        ix::update_network(&admin.pubkey(), rug_update(admin.pubkey(), 60, 3_600)),
        ix::post_receipt(&admin.pubkey(), id, receipt.params().unwrap(), &[]),
        ix::finalize_job(id, &treasury, &artist.token),
        ix::claim_payout(
            &evil.operator.pubkey(),
            id,
            &evil.key.pubkey(),
            &evil.operator_token,
            leaf.amount,
            leaf.tiles,
            proof,
        ),
        ix::update_network(
            &admin.pubkey(),
            rug_update(honest, CHALLENGE_WINDOW, CLAIM_GRACE),
        ),
    ];
    let operator = evil.operator.insecure_clone();
    assert_tessera(
        env.send(&ixs, &[&admin, &operator]).await,
        TesseraError::NotOrchestrator,
    );
    assert_eq!(env.job(id).await.state, JobState::Open);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    assert_eq!(env.balance(&evil.operator_token).await, 10_000);
    assert_eq!(env.network().await.orchestrator, honest);
    env.assert_conserved().await;
}

/// The same changes made openly, one transaction at a time: the running job keeps its
/// orchestrator, window and grace; the honest flow completes under them; only jobs created
/// afterwards take the new values.
#[tokio::test]
async fn config_changes_after_creation_do_not_touch_a_running_job() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    // The job outlives the parameters' timelock.
    let d = env.now().await + 2 * PARAMS_TIMELOCK;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let job = env.job(id).await;
    let receipt = receipt_for(&pda::job(id), &job, &[a.key.pubkey()]);

    let admin = env.admin.insecure_clone();
    env.update_now(rug_update(admin.pubkey(), 60, 3_600))
        .await
        .unwrap();
    // The network's orchestrator is now the admin (bonded), but this job's is not.
    env.deposit_bond(&admin.pubkey(), BOND_DEPOSIT)
        .await
        .unwrap();
    let ix_admin = ix::post_receipt(&admin.pubkey(), id, receipt.params().unwrap(), &[]);
    assert_tessera(
        env.send(&[ix_admin], &[&admin]).await,
        TesseraError::NotOrchestrator,
    );
    // The job's own orchestrator still posts, and the window is the job's hour, not 60 s.
    env.post(id, receipt.params().unwrap()).await.unwrap();
    let job = env.job(id).await;
    assert_eq!(job.challenge_ends_at, job.rendered_at + CHALLENGE_WINDOW);
    let treasury = env.treasury;
    let finalize = ix::finalize_job(id, &treasury, &artist.token);
    assert_tessera(
        env.send(std::slice::from_ref(&finalize), &[]).await,
        TesseraError::ChallengeWindowOpen,
    );
    env.advance(CHALLENGE_WINDOW).await;
    env.send(&[finalize], &[]).await.unwrap();
    let job = env.job(id).await;
    assert_eq!(job.claims_end_at, job.settled_at + CLAIM_GRACE);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_600);
    env.assert_conserved().await;

    // A job created now is under the new rules.
    let d = env.now().await + 10_000;
    let id2 = env.create_job(&artist, small_job(d)).await.unwrap();
    let job2 = env.job(id2).await;
    assert_eq!(
        (job2.orchestrator, job2.challenge_window, job2.claim_grace),
        (admin.pubkey(), 60, 3_600)
    );
}

/// With the claim grace set to 0 after the job was created, the artist approved and closed in
/// one transaction and swept every node's payout. A zero grace is now out of bounds, and a
/// shorter one changed after creation does not apply: the job's own grace holds.
#[tokio::test]
async fn a_shorter_claim_grace_after_creation_cannot_sweep_node_payouts() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a, &b]).await;
    let zero = NetworkUpdate {
        claim_grace: Some(0),
        ..Default::default()
    };
    assert_tessera(env.update(zero).await, TesseraError::InvalidPeriod);
    env.update_now(NetworkUpdate {
        claim_grace: Some(tessera::constants::MIN_CLAIM_GRACE),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        env.network().await.claim_grace,
        tessera::constants::MIN_CLAIM_GRACE
    );

    let wallet = artist.wallet.insecure_clone();
    let treasury = env.treasury;
    let approve = ix::approve_job(&wallet.pubkey(), id, &treasury, &artist.token);
    let close = ix::close_job(&wallet.pubkey(), id, &artist.token);
    assert_tessera(
        env.send(&[approve.clone(), close.clone()], &[&wallet])
            .await,
        TesseraError::ClaimsStillOpen,
    );
    assert_eq!(env.job(id).await.state, JobState::Rendered);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);

    env.send(&[approve], &[&wallet]).await.unwrap();
    assert_tessera(
        env.send(std::slice::from_ref(&close), &[]).await,
        TesseraError::ClaimsStillOpen,
    );
    claim(&mut env, id, &receipt, &a).await.unwrap();
    claim(&mut env, id, &receipt, &b).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 800);
    assert_eq!(env.balance(&b.operator_token).await, 10_000 + 800);
    env.refresh_blockhash().await;
    env.send(&[close], &[]).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_360);
    env.assert_conserved().await;
}

/// 16K frames in 16-px tiles: 2^20 tiles a frame.
fn huge_job(frames: u32, deadline: i64) -> JobParams {
    JobParams {
        frame_start: 1,
        frame_end: frames,
        width: 16_384,
        height: 16_384,
        tile_size: 16,
        price_per_tile: 1,
        // 4 095 · 2^20 tiles + 10% verification + 2.5% fee ≈ 4.84 · 10^9.
        budget: 5_000_000_000,
        ..small_job(deadline)
    }
}

/// A job of 2^32 tiles used to be escrowed although no receipt (`tile_count: u32`) could ever
/// match it; now it is refused at creation. 4 095 frames (2^32 − 2^20 tiles) still fit.
#[tokio::test]
async fn job_with_more_tiles_than_a_receipt_can_count_is_refused() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000_000_000).await;
    let d = env.now().await + 10_000;
    assert_tessera(
        env.create_job(&artist, huge_job(4_096, d)).await,
        TesseraError::TooManyTiles,
    );
    assert_eq!(env.network().await.jobs_created, 0);
    assert_eq!(env.balance(&artist.token).await, 10_000_000_000);

    let id = env.create_job(&artist, huge_job(4_095, d)).await.unwrap();
    assert_eq!(env.job(id).await.total_tiles().unwrap(), 4_095 << 20);
    assert!(env.job(id).await.total_tiles().unwrap() <= u32::MAX as u64);
    env.assert_conserved().await;
}

// Disputes end (issue 14): a bond, a resolution deadline, a default outcome; and
// `resolve_dispute` settles refunds only, so the admin can no longer slash a node that never
// worked on the job, or by any amount.

#[tokio::test]
async fn unstake_right_after_a_receipt_cannot_withdraw_before_the_dispute_ends() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(3_000).await;
    let (op, key) = (a.operator.pubkey(), a.key.pubkey());
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    // The node asks for all its stake back as soon as the receipt is posted.
    let operator = a.operator.insecure_clone();
    env.send(&[ix::request_unstake(&op, &key, 3_000)], &[&operator])
        .await
        .unwrap();
    // Filed at the last second of the window, resolved at the last second of its period:
    // both inside the cooldown, which the network requires to be longer than the two.
    env.advance(CHALLENGE_WINDOW - 1).await;
    env.dispute(&artist, id).await.unwrap();
    assert_eq!(env.network().await.open_disputes, 1);
    env.advance(RESOLUTION_PERIOD).await;
    // The cooldown alone holds it (open disputes hold no withdrawal any more).
    let withdraw = ix::withdraw_stake(&op, &key, &a.operator_token);
    assert_tessera(
        env.send(std::slice::from_ref(&withdraw), &[&operator])
            .await,
        TesseraError::CooldownNotElapsed,
    );
    // The dispute ends by its default outcome; the cooldown then passes and the node leaves.
    env.advance(1).await;
    let t = env.treasury;
    env.send(&[ix::finalize_job(id, &t, &artist.token)], &[])
        .await
        .unwrap();
    assert_eq!(env.network().await.open_disputes, 0);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    env.set_time(START_TIME + UNSTAKE_COOLDOWN).await;
    env.send(&[withdraw], &[&operator]).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 3_000 + 1_600);
    env.assert_conserved().await;
}

/// The exploit: the admin slashed any node, even one that never worked on the job, by any
/// amount, and paid it to the disputing artist. `resolve_dispute` now takes only a refund
/// share: whatever it is, no stake moves.
#[tokio::test]
async fn resolve_dispute_moves_no_stake() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let bystander = env.register_node(MIN_STAKE * 9).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let admin = env.admin.insecure_clone();
    let t = env.treasury;
    let ixn = ix::resolve_dispute(&admin.pubkey(), id, &t, &artist.token, 10_000);
    env.send(&[ixn], &[&admin]).await.unwrap();
    for (n, stake) in [(&a, MIN_STAKE), (&bystander, MIN_STAKE * 9)] {
        let key = n.key.pubkey();
        assert_eq!(env.node(&key).await.stake, stake);
        assert_eq!(env.node(&key).await.faults, 0);
        assert_eq!(env.balance(&pda::stake_vault(&key)).await, stake);
    }
    // Full refund and the bond back: the artist has exactly what it started with.
    assert_eq!(env.balance(&artist.token).await, 5_000);
    env.assert_conserved().await;
}

/// Bounds on every parameter, and the cooldown tied to the dispute periods.
#[tokio::test]
async fn network_parameters_out_of_bounds_are_refused() {
    let mut env = Env::new().await;
    let cases: Vec<(NetworkUpdate, TesseraError)> = vec![
        (
            NetworkUpdate {
                challenge_window: Some(tessera::constants::MIN_CHALLENGE_WINDOW - 1),
                ..Default::default()
            },
            TesseraError::InvalidPeriod,
        ),
        (
            NetworkUpdate {
                resolution_period: Some(0),
                ..Default::default()
            },
            TesseraError::InvalidPeriod,
        ),
        (
            NetworkUpdate {
                settle_grace: Some(tessera::constants::MAX_SETTLE_GRACE + 1),
                ..Default::default()
            },
            TesseraError::InvalidPeriod,
        ),
        (
            NetworkUpdate {
                dispute_bond: Some(0),
                ..Default::default()
            },
            TesseraError::ParameterOutOfRange,
        ),
        (
            NetworkUpdate {
                min_stake: Some(0),
                ..Default::default()
            },
            TesseraError::ParameterOutOfRange,
        ),
        // Verification is paid: a share below 1% (or above 100%) of the tiles is refused.
        (
            NetworkUpdate {
                verify_bps: Some(tessera::constants::MIN_VERIFY_BPS - 1),
                ..Default::default()
            },
            TesseraError::ParameterOutOfRange,
        ),
        (
            NetworkUpdate {
                verify_bps: Some(tessera::constants::MAX_VERIFY_BPS + 1),
                ..Default::default()
            },
            TesseraError::ParameterOutOfRange,
        ),
        (
            NetworkUpdate {
                orchestrator: Some(Pubkey::default()),
                ..Default::default()
            },
            TesseraError::ParameterOutOfRange,
        ),
        // Cooldown = window + resolution: a node asking to unstake when a receipt lands
        // could leave at the instant a dispute's resolution deadline passes.
        (
            NetworkUpdate {
                unstake_cooldown: Some(CHALLENGE_WINDOW + RESOLUTION_PERIOD),
                ..Default::default()
            },
            TesseraError::CooldownTooShort,
        ),
        (
            NetworkUpdate {
                resolution_period: Some(UNSTAKE_COOLDOWN - CHALLENGE_WINDOW),
                ..Default::default()
            },
            TesseraError::CooldownTooShort,
        ),
    ];
    for (i, (update, e)) in cases.into_iter().enumerate() {
        let r = env.update(update).await;
        assert_eq!(custom_code(r), u32::from(e), "case {i}: expected {e:?}");
    }
    assert!(env.network().await.pending_params.is_none());
    let mut p = env.default_params();
    p.unstake_cooldown = CHALLENGE_WINDOW + RESOLUTION_PERIOD + 1;
    p.validate().unwrap();
}
