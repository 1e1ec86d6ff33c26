//! `initialize_network` and `update_network`: configuration, admin rights, treasury, pause.
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::signature::{Keypair, Signer};
use tessera::errors::TesseraError;
use tessera_sdk::{ix, pda, NetworkParams, NetworkUpdate};

use crate::harness::*;
use crate::lifecycle::{claim, rendered_job};

async fn init(
    env: &mut Env,
    params: NetworkParams,
) -> Result<(), solana_program_test::BanksClientError> {
    let (admin, treasury) = (env.admin.insecure_clone(), env.treasury);
    let mint = env.mint.pubkey();
    env.send(
        &[ix::initialize_network(
            &admin.pubkey(),
            &mint,
            &treasury,
            params,
        )],
        &[&admin],
    )
    .await
}

#[tokio::test]
async fn initialize_network_records_the_configuration() {
    let mut env = Env::new().await;
    let n = env.network().await;
    assert_eq!(n.admin, env.admin.pubkey());
    assert_eq!(n.mint, env.mint.pubkey());
    assert_eq!(n.orchestrator, env.orchestrator.pubkey());
    assert_eq!(n.treasury, env.treasury);
    assert_eq!(
        (
            n.fee_bps,
            n.min_stake,
            n.challenge_window,
            n.unstake_cooldown,
            n.claim_grace
        ),
        (
            FEE_BPS,
            MIN_STAKE,
            CHALLENGE_WINDOW,
            UNSTAKE_COOLDOWN,
            CLAIM_GRACE
        )
    );
    assert!(!n.paused);
    assert_eq!(n.next_job_id, 0);
}

#[tokio::test]
async fn initialize_network_twice_is_refused_by_the_system_program() {
    let mut env = Env::new().await;
    let attacker = env.funded().await;
    let treasury = env.token_account(&attacker.pubkey()).await;
    let mut params = env.default_params();
    params.orchestrator = attacker.pubkey();
    let mint = env.mint.pubkey();
    let r = env
        .send(
            &[ix::initialize_network(
                &attacker.pubkey(),
                &mint,
                &treasury,
                params,
            )],
            &[&attacker],
        )
        .await;
    // The network account exists: the system program refuses to create it again.
    assert_already_in_use(r);
    let n = env.network().await;
    assert_eq!(n.admin, env.admin.pubkey());
    assert_eq!(n.orchestrator, env.orchestrator.pubkey());
}

#[tokio::test]
async fn initialize_network_with_fee_above_cap_fails() {
    let mut env = Env::bare().await;
    let mut params = env.default_params();
    params.fee_bps = tessera::constants::MAX_FEE_BPS + 1;
    assert_tessera(init(&mut env, params).await, TesseraError::FeeTooHigh);
    let mut params = env.default_params();
    params.fee_bps = tessera::constants::MAX_FEE_BPS;
    init(&mut env, params).await.unwrap();
    assert_eq!(env.network().await.fee_bps, 1_000);
}

#[tokio::test]
async fn initialize_network_with_negative_or_too_long_periods_fails() {
    let mut env = Env::bare().await;
    let max = tessera::constants::MAX_PERIOD_SECONDS;
    let mut p = env.default_params();
    p.challenge_window = -1;
    assert_tessera(init(&mut env, p).await, TesseraError::InvalidPeriod);
    let mut p = env.default_params();
    p.unstake_cooldown = max + 1;
    assert_tessera(init(&mut env, p).await, TesseraError::InvalidPeriod);
    let mut p = env.default_params();
    p.claim_grace = i64::MIN;
    assert_tessera(init(&mut env, p).await, TesseraError::InvalidPeriod);
    assert!(!env.exists(&pda::network()).await);
}

#[tokio::test]
async fn initialize_network_with_treasury_of_another_mint_fails() {
    let mut env = Env::bare().await;
    let other = env.other_mint().await;
    let bad = env.token_account_of(&other, &Keypair::new().pubkey()).await;
    env.treasury = bad;
    let p = env.default_params();
    assert_anchor(init(&mut env, p).await, Anchor::ConstraintTokenMint);
}

#[tokio::test]
async fn initialize_network_without_admin_signature_fails() {
    let mut env = Env::bare().await;
    let (admin, treasury) = (env.admin.pubkey(), env.treasury);
    let mint = env.mint.pubkey();
    let p = env.default_params();
    let ix = without_signer(ix::initialize_network(&admin, &mint, &treasury, p), &admin);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
}

#[tokio::test]
async fn update_network_by_admin_changes_every_field() {
    let mut env = Env::new().await;
    let orch = Keypair::new().pubkey();
    let new_admin = Keypair::new().pubkey();
    env.update(
        None,
        NetworkUpdate {
            new_admin: Some(new_admin),
            orchestrator: Some(orch),
            fee_bps: Some(500),
            min_stake: Some(7),
            challenge_window: Some(60),
            unstake_cooldown: Some(0),
            claim_grace: Some(tessera::constants::MAX_PERIOD_SECONDS),
            paused: Some(true),
        },
    )
    .await
    .unwrap();
    let n = env.network().await;
    // The new admin is only proposed (see `admin_handover_*`).
    assert_eq!(
        (n.admin, n.pending_admin, n.orchestrator),
        (env.admin.pubkey(), Some(new_admin), orch)
    );
    assert_eq!(
        (
            n.fee_bps,
            n.min_stake,
            n.challenge_window,
            n.unstake_cooldown,
            n.claim_grace
        ),
        (500, 7, 60, 0, tessera::constants::MAX_PERIOD_SECONDS)
    );
    assert!(n.paused);
    assert_eq!(n.treasury, env.treasury);
    assert_eq!(n.mint, env.mint.pubkey());
}

#[tokio::test]
async fn update_network_by_non_admin_fails() {
    let mut env = Env::new().await;
    let attacker = env.funded().await;
    let ix = ix::update_network(
        &attacker.pubkey(),
        None,
        NetworkUpdate {
            fee_bps: Some(1_000),
            ..Default::default()
        },
    );
    assert_tessera(env.send(&[ix], &[&attacker]).await, TesseraError::NotAdmin);
    assert_eq!(env.network().await.fee_bps, FEE_BPS);
}

#[tokio::test]
async fn update_network_without_admin_signature_fails() {
    let mut env = Env::new().await;
    let admin = env.admin.pubkey();
    let ix = without_signer(
        ix::update_network(
            &admin,
            None,
            NetworkUpdate {
                paused: Some(true),
                ..Default::default()
            },
        ),
        &admin,
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert!(!env.network().await.paused);
}

#[tokio::test]
async fn update_network_out_of_bounds_fails_and_changes_nothing() {
    let mut env = Env::new().await;
    let r = env
        .update(
            None,
            NetworkUpdate {
                fee_bps: Some(1_001),
                paused: Some(true),
                ..Default::default()
            },
        )
        .await;
    assert_tessera(r, TesseraError::FeeTooHigh);
    let r = env
        .update(
            None,
            NetworkUpdate {
                challenge_window: Some(tessera::constants::MAX_PERIOD_SECONDS + 1),
                ..Default::default()
            },
        )
        .await;
    assert_tessera(r, TesseraError::InvalidPeriod);
    let r = env
        .update(
            None,
            NetworkUpdate {
                unstake_cooldown: Some(-5),
                ..Default::default()
            },
        )
        .await;
    assert_tessera(r, TesseraError::InvalidPeriod);
    let n = env.network().await;
    assert_eq!(
        (n.fee_bps, n.challenge_window, n.paused),
        (FEE_BPS, CHALLENGE_WINDOW, false)
    );
}

/// `update_network` signed by `who`, changing only the fee.
async fn set_fee_as(env: &mut Env, who: &Keypair, fee: u16) -> Result<(), BanksClientError> {
    let ix = ix::update_network(
        &who.pubkey(),
        None,
        NetworkUpdate {
            fee_bps: Some(fee),
            ..Default::default()
        },
    );
    let who = who.insecure_clone();
    env.refresh_blockhash().await;
    env.send(&[ix], &[&who]).await
}

#[tokio::test]
async fn admin_handover_takes_effect_only_when_the_new_admin_accepts() {
    let mut env = Env::new().await;
    let old_admin = env.admin.insecure_clone();
    let new_admin = env.funded().await;
    env.update(
        None,
        NetworkUpdate {
            new_admin: Some(new_admin.pubkey()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let n = env.network().await;
    assert_eq!(
        (n.admin, n.pending_admin),
        (old_admin.pubkey(), Some(new_admin.pubkey()))
    );

    // Until acceptance the old admin is the admin and the proposed key is nobody.
    set_fee_as(&mut env, &old_admin, 10).await.unwrap();
    assert_tessera(
        set_fee_as(&mut env, &new_admin, 20).await,
        TesseraError::NotAdmin,
    );
    assert_eq!(env.network().await.fee_bps, 10);

    env.send(&[ix::accept_admin(&new_admin.pubkey())], &[&new_admin])
        .await
        .unwrap();
    let n = env.network().await;
    assert_eq!((n.admin, n.pending_admin), (new_admin.pubkey(), None));
    assert_tessera(
        set_fee_as(&mut env, &old_admin, 30).await,
        TesseraError::NotAdmin,
    );
    set_fee_as(&mut env, &new_admin, 0).await.unwrap();
    assert_eq!(env.network().await.fee_bps, 0);

    // A proposal is used once: accepting again is refused.
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&[ix::accept_admin(&new_admin.pubkey())], &[&new_admin])
            .await,
        TesseraError::NotPendingAdmin,
    );
}

#[tokio::test]
async fn a_third_party_cannot_accept_the_admin_role() {
    let mut env = Env::new().await;
    let attacker = env.funded().await;
    let proposed = env.funded().await;
    let admin = env.admin.pubkey();

    // Nothing proposed: nobody can accept.
    assert_tessera(
        env.send(&[ix::accept_admin(&attacker.pubkey())], &[&attacker])
            .await,
        TesseraError::NotPendingAdmin,
    );

    env.update(
        None,
        NetworkUpdate {
            new_admin: Some(proposed.pubkey()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Someone else signs the acceptance.
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&[ix::accept_admin(&attacker.pubkey())], &[&attacker])
            .await,
        TesseraError::NotPendingAdmin,
    );
    // The proposed key named without its signature.
    let ix = without_signer(ix::accept_admin(&proposed.pubkey()), &proposed.pubkey());
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    let n = env.network().await;
    assert_eq!((n.admin, n.pending_admin), (admin, Some(proposed.pubkey())));

    // The admin replaces a proposal (a mistyped key): the first key can no longer accept.
    env.update(
        None,
        NetworkUpdate {
            new_admin: Some(attacker.pubkey()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&[ix::accept_admin(&proposed.pubkey())], &[&proposed])
            .await,
        TesseraError::NotPendingAdmin,
    );
    assert_eq!(env.network().await.admin, admin);
}

#[tokio::test]
async fn treasury_change_sends_later_fees_to_the_new_treasury() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let old = env.treasury;
    let new = env.token_account(&Keypair::new().pubkey()).await;
    env.update(Some(new), NetworkUpdate::default())
        .await
        .unwrap();
    assert_eq!(env.network().await.treasury, new);

    // The old treasury is no longer accepted.
    let wallet = artist.wallet.insecure_clone();
    let ix = ix::approve_job(&wallet.pubkey(), id, &old, &artist.token);
    assert_tessera(
        env.send(&[ix], &[&wallet]).await,
        TesseraError::WrongTreasury,
    );

    env.treasury = new;
    env.approve(&artist, id).await.unwrap();
    assert_eq!(env.balance(&new).await, 40);
    assert_eq!(env.balance(&old).await, 0);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    env.assert_conserved().await;
}

#[tokio::test]
async fn treasury_of_another_mint_is_refused() {
    let mut env = Env::new().await;
    let other = env.other_mint().await;
    let bad = env.token_account_of(&other, &Keypair::new().pubkey()).await;
    let r = env.update(Some(bad), NetworkUpdate::default()).await;
    assert_anchor(r, Anchor::ConstraintTokenMint);
    assert_eq!(env.network().await.treasury, env.treasury);
}

#[tokio::test]
async fn fee_change_does_not_touch_a_running_job() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.update(
        None,
        NetworkUpdate {
            fee_bps: Some(1_000),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.approve(&artist, id).await.unwrap();
    // Fee at the job's 2.5%, not the new 10%.
    assert_eq!(env.balance(&env.treasury.clone()).await, 40);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_600);
    env.assert_conserved().await;
}

#[tokio::test]
async fn pause_blocks_new_jobs_nodes_and_stake_but_not_claims_or_withdrawals() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.approve(&artist, id).await.unwrap();
    let op = a.operator.insecure_clone();
    env.send(
        &[ix::request_unstake(&op.pubkey(), &a.key.pubkey(), 300)],
        &[&op],
    )
    .await
    .unwrap();
    env.set_paused(true).await;

    let deadline = env.now().await + 10_000;
    assert_tessera(
        env.create_job(&artist, small_job(deadline)).await,
        TesseraError::NetworkPaused,
    );
    let (operator, key) = (env.funded().await, Keypair::new());
    let token = env.token_account(&operator.pubkey()).await;
    env.mint_to(&token, 5_000).await;
    let reg = ix::register_node(
        &operator.pubkey(),
        &key.pubkey(),
        &env.mint.pubkey(),
        &token,
        MIN_STAKE,
        1,
        "gpu".into(),
    );
    assert_tessera(
        env.send(&[reg], &[&operator, &key]).await,
        TesseraError::NetworkPaused,
    );
    let add = ix::add_stake(&op.pubkey(), &a.key.pubkey(), &a.operator_token, 10);
    assert_tessera(env.send(&[add], &[&op]).await, TesseraError::NetworkPaused);

    // Claims and withdrawals still work while paused.
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_600);
    env.advance(UNSTAKE_COOLDOWN).await;
    env.send(
        &[ix::withdraw_stake(
            &op.pubkey(),
            &a.key.pubkey(),
            &a.operator_token,
        )],
        &[&op],
    )
    .await
    .unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_600 + 300);
    assert_eq!(env.balance(&pda::stake_vault(&a.key.pubkey())).await, 700);
    env.assert_conserved().await;

    env.set_paused(false).await;
    let deadline = env.now().await + 10_000;
    env.create_job(&artist, small_job(deadline)).await.unwrap();
    assert_eq!(
        env.balance(&artist.token).await,
        10_000 - 2_000 + 360 - 2_000
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn prefunded_network_address_cannot_block_initialize_network() {
    let mut env = Env::bare().await;
    env.prefund(&pda::network(), 1_000_000).await;
    let p = env.default_params();
    init(&mut env, p).await.unwrap();
    let network = env.network().await;
    assert_eq!(
        (network.admin, network.mint),
        (env.admin.pubkey(), env.mint.pubkey())
    );
    // A second initialisation fails: the account is in use.
    env.refresh_blockhash().await;
    let p = env.default_params();
    assert_already_in_use(init(&mut env, p).await);
}
