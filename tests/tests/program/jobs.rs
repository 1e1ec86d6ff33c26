//! Jobs before a receipt: `create_job`, `cancel_job`, `expire_job`.
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::{instruction::Instruction, signature::Signer};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::{ix, pda, JobParams};

use crate::harness::*;
use crate::lifecycle::rendered_job;

async fn deadline(env: &mut Env) -> i64 {
    env.now().await + 10_000
}

fn create_ix(env: &Env, artist: &Artist, id: u64, params: JobParams) -> Instruction {
    ix::create_job(
        &artist.wallet.pubkey(),
        &env.mint.pubkey(),
        &artist.token,
        id,
        params,
    )
}

async fn artist_send(
    env: &mut Env,
    artist: &Artist,
    ix: Instruction,
) -> Result<(), BanksClientError> {
    let wallet = artist.wallet.insecure_clone();
    env.send(&[ix], &[&wallet]).await
}

#[tokio::test]
async fn create_job_escrows_the_budget_and_records_the_job() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_eq!(id, 0);
    assert_eq!(env.balance(&artist.token).await, 3_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(0))).await, 2_000);
    let job = env.job(0).await;
    assert_eq!(
        (job.artist, job.state, job.budget),
        (artist.wallet.pubkey(), JobState::Open, 2_000)
    );
    assert_eq!(
        (job.fee_bps, job.deadline, job.created_at),
        (FEE_BPS, d, START_TIME)
    );
    assert_eq!(job.total_tiles().unwrap(), 16);
    assert_eq!(job.payout_share_bps, 10_000);
    assert_eq!(env.network().await.next_job_id, 1);
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_eq!(id, 1);
    assert_eq!(env.balance(&artist.token).await, 1_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn create_job_with_exact_minimum_budget_succeeds_one_less_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    // 16 tiles × 100 + 2.5% = 1 640.
    let mut p = small_job(d);
    p.budget = 1_639;
    assert_tessera(
        env.create_job(&artist, p.clone()).await,
        TesseraError::BudgetTooSmall,
    );
    p.budget = 1_640;
    env.create_job(&artist, p).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_360);
    env.assert_conserved().await;
}

#[tokio::test]
async fn create_job_with_skipped_or_reused_id_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let ix = create_ix(&env, &artist, 1, small_job(d));
    assert_tessera(
        artist_send(&mut env, &artist, ix).await,
        TesseraError::WrongJobId,
    );
    env.create_job(&artist, small_job(d)).await.unwrap();
    env.refresh_blockhash().await;
    let ix = create_ix(&env, &artist, 5, small_job(d));
    assert_tessera(
        artist_send(&mut env, &artist, ix).await,
        TesseraError::WrongJobId,
    );
    assert_eq!(env.balance(&artist.token).await, 3_000);
}

#[tokio::test]
async fn create_job_at_another_ids_pda_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let ix = create_ix(&env, &artist, 0, small_job(d));
    let ix = replace_account(ix, &pda::job(0), &pda::job(7));
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintSeeds,
    );
    let ix = create_ix(&env, &artist, 0, small_job(d));
    let ix = replace_account(
        ix,
        &pda::job_vault(&pda::job(0)),
        &pda::job_vault(&pda::job(7)),
    );
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintSeeds,
    );
    assert_eq!(env.balance(&artist.token).await, 5_000);
}

#[tokio::test]
async fn create_job_with_deadline_now_or_past_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let now = env.now().await;
    assert_tessera(
        env.create_job(&artist, small_job(now)).await,
        TesseraError::DeadlineInPast,
    );
    assert_tessera(
        env.create_job(&artist, small_job(now - 1)).await,
        TesseraError::DeadlineInPast,
    );
    env.create_job(&artist, small_job(now + 1)).await.unwrap();
}

#[tokio::test]
async fn create_job_with_price_near_u64_max_overflows() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let mut p = small_job(d);
    // price × 16 tiles overflows.
    p.price_per_tile = u64::MAX / 2;
    assert_tessera(
        env.create_job(&artist, p.clone()).await,
        TesseraError::ArithmeticError,
    );
    // price × tiles fits, the fee on top does not.
    p.price_per_tile = u64::MAX / 16;
    p.budget = u64::MAX;
    assert_tessera(
        env.create_job(&artist, p).await,
        TesseraError::ArithmeticError,
    );
    assert_eq!(env.network().await.next_job_id, 0);
}

#[tokio::test]
async fn create_job_with_invalid_parameters_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let bad: Vec<fn(&mut JobParams)> = vec![
        |p| p.width = 0,
        |p| p.height = tessera::constants::MAX_FRAME_EDGE + 1,
        |p| p.tile_size = 8,
        |p| p.tile_size = 0,
        |p| p.frame_end = p.frame_start - 1,
        |p| {
            p.frame_start = 0;
            p.frame_end = tessera::constants::MAX_FRAMES;
        },
        |p| p.samples_per_pixel = 0,
        |p| p.samples_per_pixel = tessera::constants::MAX_SPP + 1,
        |p| p.price_per_tile = 0,
        |p| p.scene_hash = [0; 32],
        |p| p.frame_rate_num = 0,
        |p| p.frame_rate_den = 0,
        |p| {
            p.frame_rate_num = tessera::constants::MAX_FRAME_RATE + 1;
            p.frame_rate_den = 1;
        },
    ];
    for (i, f) in bad.into_iter().enumerate() {
        let mut p = small_job(d);
        f(&mut p);
        let r = env.create_job(&artist, p).await;
        assert_eq!(
            custom_code(r),
            u32::from(TesseraError::InvalidJobParameters),
            "case {i}"
        );
    }
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert_eq!(env.network().await.next_job_id, 0);
}

#[tokio::test]
async fn create_job_without_artist_signature_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let ix = without_signer(
        create_ix(&env, &artist, 0, small_job(d)),
        &artist.wallet.pubkey(),
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
}

#[tokio::test]
async fn create_job_paid_from_someone_elses_tokens_fails() {
    let mut env = Env::new().await;
    let victim = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let d = deadline(&mut env).await;
    let ix = ix::create_job(
        &thief.wallet.pubkey(),
        &env.mint.pubkey(),
        &victim.token,
        0,
        small_job(d),
    );
    assert_anchor(
        artist_send(&mut env, &thief, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    assert_eq!(env.balance(&victim.token).await, 5_000);
}

#[tokio::test]
async fn create_job_in_another_mint_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &artist.wallet.pubkey()).await;
    let d = deadline(&mut env).await;
    let ix = ix::create_job(
        &artist.wallet.pubkey(),
        &env.mint.pubkey(),
        &wrong,
        0,
        small_job(d),
    );
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintTokenMint,
    );
    let ix = ix::create_job(&artist.wallet.pubkey(), &other, &wrong, 0, small_job(d));
    assert_tessera(
        artist_send(&mut env, &artist, ix).await,
        TesseraError::WrongMint,
    );
}

#[tokio::test]
async fn cancel_job_refunds_the_budget_and_returns_the_rent() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let (job, vault) = (pda::job(id), pda::job_vault(&pda::job(id)));
    let rent = env.lamports(&job).await + env.lamports(&vault).await;
    let before = env.lamports(&artist.wallet.pubkey()).await;
    let ix = ix::cancel_job(&artist.wallet.pubkey(), id, &artist.token);
    artist_send(&mut env, &artist, ix).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert!(!env.exists(&job).await);
    assert!(!env.exists(&vault).await);
    // The fee payer is the context payer, so the artist gets back exactly the rent.
    assert_eq!(env.lamports(&artist.wallet.pubkey()).await, before + rent);
    env.assert_conserved().await;
}

#[tokio::test]
async fn cancel_job_by_another_artist_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let ix = ix::cancel_job(&thief.wallet.pubkey(), id, &thief.token);
    assert_tessera(
        artist_send(&mut env, &thief, ix).await,
        TesseraError::NotArtist,
    );
    // The artist as account but unsigned, refund to the thief.
    let ix = without_signer(
        ix::cancel_job(&artist.wallet.pubkey(), id, &thief.token),
        &artist.wallet.pubkey(),
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    assert_eq!(env.balance(&thief.token).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn cancel_job_with_another_jobs_vault_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let mut cheap = small_job(d);
    cheap.budget = 1_640;
    let a = env.create_job(&artist, cheap).await.unwrap();
    let b = env.create_job(&artist, small_job(d)).await.unwrap();
    let ix = ix::cancel_job(&artist.wallet.pubkey(), a, &artist.token);
    let ix = replace_account(
        ix,
        &pda::job_vault(&pda::job(a)),
        &pda::job_vault(&pda::job(b)),
    );
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintSeeds,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(b))).await, 2_000);
}

#[tokio::test]
async fn cancel_job_refund_to_wrong_token_account_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let other_artist = env.artist(0).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let ix = ix::cancel_job(&artist.wallet.pubkey(), id, &other_artist.token);
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &artist.wallet.pubkey()).await;
    let ix = ix::cancel_job(&artist.wallet.pubkey(), id, &wrong);
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintTokenMint,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn cancel_job_after_receipt_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let ix = ix::cancel_job(&artist.wallet.pubkey(), id, &artist.token);
    assert_tessera(
        artist_send(&mut env, &artist, ix).await,
        TesseraError::WrongJobState,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn expire_job_before_or_at_deadline_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let ix = ix::expire_job(&artist.wallet.pubkey(), id, &artist.token);
    assert_tessera(
        env.send(std::slice::from_ref(&ix), &[]).await,
        TesseraError::DeadlineNotReached,
    );
    env.set_time(d).await;
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::DeadlineNotReached);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn expire_job_after_deadline_refunds_and_closes_by_anyone() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let (job, vault) = (pda::job(id), pda::job_vault(&pda::job(id)));
    let rent = env.lamports(&job).await + env.lamports(&vault).await;
    let before = env.lamports(&artist.wallet.pubkey()).await;
    env.set_time(d + 1).await;
    // Sent by the context payer alone: the artist does not sign.
    let ix = ix::expire_job(&artist.wallet.pubkey(), id, &artist.token);
    env.send(&[ix], &[]).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert!(!env.exists(&job).await && !env.exists(&vault).await);
    assert_eq!(env.lamports(&artist.wallet.pubkey()).await, before + rent);
    env.assert_conserved().await;
}

#[tokio::test]
async fn expire_job_sending_refund_or_rent_elsewhere_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    env.set_time(d + 1).await;
    let ix = ix::expire_job(&thief.wallet.pubkey(), id, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::NotArtist);
    let ix = ix::expire_job(&artist.wallet.pubkey(), id, &thief.token);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::ConstraintTokenOwner);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn expire_job_after_receipt_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let d = env.job(id).await.deadline;
    env.set_time(d + 1).await;
    let ix = ix::expire_job(&artist.wallet.pubkey(), id, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::WrongJobState);
}

#[tokio::test]
async fn prefunded_job_and_vault_addresses_cannot_block_create_job() {
    // Anyone can send lamports to the next job's PDA (or its vault) before it exists. Job ids
    // are sequential, so if that blocked the account's creation no job could ever be created.
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    env.prefund(&pda::job(0), 1_000_000).await;
    env.prefund(&pda::job_vault(&pda::job(0)), 1_000_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_eq!(id, 0);
    assert_eq!(env.balance(&artist.token).await, 3_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(0))).await, 2_000);
    assert_eq!(env.job(0).await.artist, artist.wallet.pubkey());
    // The job works as any other: cancel refunds and closes both accounts.
    let ix = ix::cancel_job(&artist.wallet.pubkey(), 0, &artist.token);
    artist_send(&mut env, &artist, ix).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert!(!env.exists(&pda::job(0)).await);
    env.assert_conserved().await;
}
