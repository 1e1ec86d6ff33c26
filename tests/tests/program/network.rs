//! `initialize_network`, `update_network` / `apply_network_update` (timelock), `collect_fees`:
//! configuration, admin rights, the program-owned treasury, pause.
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
    let admin = env.admin.insecure_clone();
    let mint = env.mint.pubkey();
    env.send(
        &[ix::initialize_network(&admin.pubkey(), &mint, params)],
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
    assert_eq!(
        (n.settle_grace, n.resolution_period, n.dispute_bond),
        (SETTLE_GRACE, RESOLUTION_PERIOD, DISPUTE_BOND)
    );
    assert!(!n.paused);
    assert_eq!(n.jobs_created, 0);
    assert!(n.pending_params.is_none());
    // The treasury is the program's PDA token account, owned by the network account.
    assert_eq!(n.treasury, pda::treasury());
    let (owner, t) = env.token_state(&n.treasury).await;
    assert_eq!(owner, spl_token_interface::ID);
    assert_eq!((t.mint, t.owner), (env.mint.pubkey(), pda::network()));
}

#[tokio::test]
async fn initialize_network_twice_is_refused_by_the_system_program() {
    let mut env = Env::new().await;
    let attacker = env.funded().await;
    let mut params = env.default_params();
    params.orchestrator = attacker.pubkey();
    let mint = env.mint.pubkey();
    let r = env
        .send(
            &[ix::initialize_network(&attacker.pubkey(), &mint, params)],
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

/// The treasury address is the program's PDA: another account (one its owner could close)
/// is refused, and so is a pre-existing token account someone created there (it cannot be:
/// the PDA can only be created by the program).
#[tokio::test]
async fn initialize_network_with_another_treasury_fails() {
    let mut env = Env::bare().await;
    let owned = env.token_account(&Keypair::new().pubkey()).await;
    let admin = env.admin.insecure_clone();
    let mint = env.mint.pubkey();
    let ixn = replace_account(
        ix::initialize_network(&admin.pubkey(), &mint, env.default_params()),
        &pda::treasury(),
        &owned,
    );
    assert_anchor(env.send(&[ixn], &[&admin]).await, Anchor::ConstraintSeeds);
    assert!(!env.exists(&pda::network()).await);
}

#[tokio::test]
async fn initialize_network_without_admin_signature_fails() {
    let mut env = Env::bare().await;
    let admin = env.admin.pubkey();
    let mint = env.mint.pubkey();
    let p = env.default_params();
    let ix = without_signer(ix::initialize_network(&admin, &mint, p), &admin);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
}

#[tokio::test]
async fn update_network_by_admin_changes_every_field() {
    let mut env = Env::new().await;
    let orch = Keypair::new().pubkey();
    let new_admin = Keypair::new().pubkey();
    let max = tessera::constants::MAX_PERIOD_SECONDS;
    env.update(NetworkUpdate {
        new_admin: Some(new_admin),
        orchestrator: Some(orch),
        fee_bps: Some(500),
        min_stake: Some(7),
        challenge_window: Some(60),
        unstake_cooldown: Some(max),
        claim_grace: Some(max),
        settle_grace: Some(120),
        resolution_period: Some(600),
        dispute_bond: Some(9),
        slash_amount: Some(5),
        verify_bps: Some(2_500),
        orchestrator_bond: Some(11),
        paused: Some(true),
    })
    .await
    .unwrap();
    let n = env.network().await;
    // The new admin is only proposed (see `admin_handover_*`); the pause is at once; the
    // parameters wait out the timelock.
    assert_eq!(
        (n.admin, n.pending_admin, n.orchestrator, n.fee_bps),
        (
            env.admin.pubkey(),
            Some(new_admin),
            env.orchestrator.pubkey(),
            FEE_BPS
        )
    );
    assert!(n.paused);
    assert_eq!(n.pending_effective_at, START_TIME + PARAMS_TIMELOCK);
    env.advance(PARAMS_TIMELOCK - 1).await;
    assert_tessera(
        env.send(&[ix::apply_network_update()], &[]).await,
        TesseraError::TimelockRunning,
    );
    env.advance(1).await;
    env.send(&[ix::apply_network_update()], &[]).await.unwrap();
    let n = env.network().await;
    assert_eq!(n.orchestrator, orch);
    assert_eq!(n.orchestrator_bond, 11);
    assert_eq!(
        (
            n.fee_bps,
            n.min_stake,
            n.challenge_window,
            n.unstake_cooldown,
            n.claim_grace
        ),
        (500, 7, 60, max, max)
    );
    assert_eq!(
        (
            n.settle_grace,
            n.resolution_period,
            n.dispute_bond,
            n.slash_amount,
            n.verify_bps
        ),
        (120, 600, 9, 5, 2_500)
    );
    assert!(n.pending_params.is_none());
    // Nothing left to apply.
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&[ix::apply_network_update()], &[]).await,
        TesseraError::NoPendingUpdate,
    );
    assert_eq!(n.treasury, env.treasury);
    assert_eq!(n.mint, env.mint.pubkey());
}

#[tokio::test]
async fn update_network_by_non_admin_fails() {
    let mut env = Env::new().await;
    let attacker = env.funded().await;
    let ix = ix::update_network(
        &attacker.pubkey(),
        NetworkUpdate {
            fee_bps: Some(1_000),
            ..Default::default()
        },
    );
    assert_tessera(env.send(&[ix], &[&attacker]).await, TesseraError::NotAdmin);
    assert!(env.network().await.pending_params.is_none());
}

#[tokio::test]
async fn update_network_without_admin_signature_fails() {
    let mut env = Env::new().await;
    let admin = env.admin.pubkey();
    let ix = without_signer(
        ix::update_network(
            &admin,
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
        .update(NetworkUpdate {
            fee_bps: Some(1_001),
            paused: Some(true),
            ..Default::default()
        })
        .await;
    assert_tessera(r, TesseraError::FeeTooHigh);
    let r = env
        .update(NetworkUpdate {
            challenge_window: Some(tessera::constants::MAX_PERIOD_SECONDS + 1),
            ..Default::default()
        })
        .await;
    assert_tessera(r, TesseraError::InvalidPeriod);
    let r = env
        .update(NetworkUpdate {
            unstake_cooldown: Some(-5),
            ..Default::default()
        })
        .await;
    assert_tessera(r, TesseraError::InvalidPeriod);
    let n = env.network().await;
    assert_eq!(
        (n.fee_bps, n.challenge_window, n.paused),
        (FEE_BPS, CHALLENGE_WINDOW, false)
    );
}

/// `update_network` signed by `who`, proposing only a fee.
async fn set_fee_as(env: &mut Env, who: &Keypair, fee: u16) -> Result<(), BanksClientError> {
    let ix = ix::update_network(
        &who.pubkey(),
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
    env.update(NetworkUpdate {
        new_admin: Some(new_admin.pubkey()),
        ..Default::default()
    })
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
    let proposed_fee = |n: &tessera::state::Network| n.pending_params.as_ref().map(|p| p.fee_bps);
    assert_eq!(proposed_fee(&env.network().await), Some(10));

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
    assert_eq!(proposed_fee(&env.network().await), Some(0));

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

    env.update(NetworkUpdate {
        new_admin: Some(proposed.pubkey()),
        ..Default::default()
    })
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
    env.update(NetworkUpdate {
        new_admin: Some(attacker.pubkey()),
        ..Default::default()
    })
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

/// Issue 14: the treasury was any token account, and its owner could close it, after which
/// every settlement (which pays the fee into it) failed. It is now the program's PDA token
/// account whose authority is the network account: SPL Token refuses to close it for anyone
/// else, and settlement keeps working.
#[tokio::test]
async fn nobody_can_close_the_treasury_and_settlement_keeps_working() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let admin = env.admin.insecure_clone();
    for who in [&admin, &artist.wallet] {
        let close = spl_token_interface::instruction::close_account(
            &spl_token_interface::ID,
            &env.treasury,
            &who.pubkey(),
            &who.pubkey(),
            &[],
        )
        .unwrap();
        let who = who.insecure_clone();
        // SPL Token's OwnerMismatch.
        assert_eq!(custom_code(env.send(&[close], &[&who]).await), 4);
    }
    env.approve(&artist, id).await.unwrap();
    assert_eq!(env.balance(&env.treasury.clone()).await, 40);
    env.assert_conserved().await;
}

#[tokio::test]
async fn admin_collects_fees_from_the_treasury_and_nobody_else_can() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.approve(&artist, id).await.unwrap();
    let admin = env.admin.insecure_clone();
    let admin_token = env.token_account(&admin.pubkey()).await;
    let thief = env.artist(0).await;
    let steal = ix::collect_fees(&thief.wallet.pubkey(), &thief.token, 40);
    let wallet = thief.wallet.insecure_clone();
    assert_tessera(env.send(&[steal], &[&wallet]).await, TesseraError::NotAdmin);
    let unsigned = without_signer(
        ix::collect_fees(&admin.pubkey(), &thief.token, 40),
        &admin.pubkey(),
    );
    assert_anchor(env.send(&[unsigned], &[]).await, Anchor::AccountNotSigner);
    assert_tessera(
        env.send(
            &[ix::collect_fees(&admin.pubkey(), &admin_token, 0)],
            &[&admin],
        )
        .await,
        TesseraError::ZeroAmount,
    );
    // More than collected: SPL Token's InsufficientFunds.
    assert_eq!(
        custom_code(
            env.send(
                &[ix::collect_fees(&admin.pubkey(), &admin_token, 41)],
                &[&admin]
            )
            .await
        ),
        1
    );
    env.send(
        &[ix::collect_fees(&admin.pubkey(), &admin_token, 40)],
        &[&admin],
    )
    .await
    .unwrap();
    assert_eq!(env.balance(&admin_token).await, 40);
    assert_eq!(env.balance(&env.treasury.clone()).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn fee_change_does_not_touch_a_running_job() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.update_now(NetworkUpdate {
        fee_bps: Some(1_000),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(env.network().await.fee_bps, 1_000);
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
