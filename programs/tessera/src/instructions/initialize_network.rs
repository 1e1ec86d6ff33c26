use anchor_lang::prelude::*;
use anchor_lang::solana_program::bpf_loader_upgradeable;
use anchor_spl::token::{Mint, Token};

use crate::{
    constants::*, errors::TesseraError, events::NetworkInitialized, pda_init, state::Network, vault,
};

/// The tunable part of the network configuration.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct NetworkParams {
    pub orchestrator: Pubkey,
    pub fee_bps: u16,
    pub min_stake: u64,
    pub challenge_window: i64,
    pub unstake_cooldown: i64,
    pub claim_grace: i64,
    pub settle_grace: i64,
    pub resolution_period: i64,
    pub dispute_bond: u64,
    /// Tokens one proven wrong tile costs a node; 1 ≤ it ≤ `min_stake`, so a node at the
    /// minimum stake always covers at least one conviction.
    pub slash_amount: u64,
    /// The most verification (check and tiebreak) renders a job pays for, in basis points of
    /// its tile count, rounded up: `MIN_VERIFY_BPS ..= MAX_VERIFY_BPS`. Copied into each job,
    /// whose budget must cover them.
    pub verify_bps: u16,
    /// Least balance the orchestrator's bond (`deposit_bond`) must hold for `post_receipt`,
    /// in token units; > 0, so every receipt is backed. Copied into each job.
    pub orchestrator_bond: u64,
}

impl NetworkParams {
    /// Every parameter within its bounds, and the cooldown longer than a receipt's window plus
    /// its dispute's resolution period, so a node that asks to unstake when a receipt lands
    /// cannot leave before that job's dispute is over.
    pub fn validate(&self) -> Result<()> {
        require!(self.fee_bps <= MAX_FEE_BPS, TesseraError::FeeTooHigh);
        require!(
            self.orchestrator != Pubkey::default(),
            TesseraError::ParameterOutOfRange
        );
        require!(
            self.min_stake > 0 && self.dispute_bond > 0 && self.orchestrator_bond > 0,
            TesseraError::ParameterOutOfRange
        );
        require!(
            (1..=self.min_stake).contains(&self.slash_amount),
            TesseraError::SlashAmountOutOfRange
        );
        require!(
            (MIN_VERIFY_BPS..=MAX_VERIFY_BPS).contains(&self.verify_bps),
            TesseraError::ParameterOutOfRange
        );
        let periods = [
            (
                self.challenge_window,
                MIN_CHALLENGE_WINDOW,
                MAX_CHALLENGE_WINDOW,
            ),
            (
                self.resolution_period,
                MIN_RESOLUTION_PERIOD,
                MAX_RESOLUTION_PERIOD,
            ),
            (self.settle_grace, MIN_SETTLE_GRACE, MAX_SETTLE_GRACE),
            (self.claim_grace, MIN_CLAIM_GRACE, MAX_PERIOD_SECONDS),
            (self.unstake_cooldown, 0, MAX_PERIOD_SECONDS),
        ];
        for (period, min, max) in periods {
            require!((min..=max).contains(&period), TesseraError::InvalidPeriod);
        }
        let covered = self
            .challenge_window
            .checked_add(self.resolution_period)
            .ok_or(TesseraError::ArithmeticError)?;
        require!(
            self.unstake_cooldown > covered,
            TesseraError::CooldownTooShort
        );
        Ok(())
    }
}

#[derive(Accounts)]
pub struct InitializeNetwork<'info> {
    /// Becomes the network admin; pays for the config account.
    #[account(mut)]
    pub admin: Signer<'info>,
    /// The network config, created by the handler once per deployment.
    /// CHECK: address pinned by the seeds; created in the handler even when someone
    /// pre-funded it (`pda_init::create_pda`), so lamports sent there cannot block set-up.
    #[account(mut, seeds = [NETWORK_SEED], bump)]
    pub network: UncheckedAccount<'info>,
    /// The network's token.
    pub mint: Account<'info, Mint>,
    /// The protocol's fee account, created by the handler: a token account of `mint` whose
    /// authority is the network PDA, so nobody can close it out from under settlement.
    /// CHECK: address pinned by the seeds; created and initialised in the handler.
    #[account(mut, seeds = [TREASURY_SEED], bump)]
    pub treasury: UncheckedAccount<'info>,
    /// This program's own account (its owner tells how it was deployed).
    /// CHECK: pinned to this program's id.
    #[account(address = crate::ID)]
    pub program: UncheckedAccount<'info>,
    /// The program's ProgramData account (upgradeable deployments).
    /// CHECK: address, owner and contents checked in `check_deployer`.
    pub program_data: Option<UncheckedAccount<'info>>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Owner of programs registered as builtins (`solana_sdk_ids::native_loader`).
const NATIVE_LOADER_ID: Pubkey = pubkey!("NativeLoader1111111111111111111111111111111");

/// On a cluster, only the program's upgrade authority may create the network, so nobody can
/// front-run a fresh deployment and make themselves admin. Fails closed: a program of any
/// other loader (non-upgradeable, v4) is refused, since nothing says who deployed it. Only
/// a program registered natively (the tests and the local development chain, owned by the
/// native loader) has no ProgramData account and skips the check.
fn check_deployer(
    program: &AccountInfo,
    program_data: Option<&AccountInfo>,
    admin: &Pubkey,
) -> Result<()> {
    if program.owner == &NATIVE_LOADER_ID {
        return Ok(());
    }
    require_keys_eq!(
        *program.owner,
        bpf_loader_upgradeable::ID,
        TesseraError::UnsupportedLoader
    );
    let data = program_data.ok_or(TesseraError::NotUpgradeAuthority)?;
    let (expected, _) =
        Pubkey::find_program_address(&[crate::ID.as_ref()], &bpf_loader_upgradeable::ID);
    require_keys_eq!(data.key(), expected, TesseraError::NotUpgradeAuthority);
    require_keys_eq!(
        *data.owner,
        bpf_loader_upgradeable::ID,
        TesseraError::NotUpgradeAuthority
    );
    let state = ProgramData::try_deserialize(&mut &data.try_borrow_data()?[..])?;
    require!(
        state.upgrade_authority_address == Some(*admin),
        TesseraError::NotUpgradeAuthority
    );
    Ok(())
}

/// Creates the network config and its treasury.
/// CHECK: every parameter within its bounds and cooldown > challenge window + resolution
/// period (`NetworkParams::validate`); the admin is the upgrade authority on a cluster, and
/// any loader but the upgradeable one (or a native registration) fails (`check_deployer`);
/// the treasury is the PDA token account of the mint (struct seeds, created here).
pub fn handle_initialize_network(
    ctx: Context<InitializeNetwork>,
    args: NetworkParams,
) -> Result<()> {
    args.validate()?;
    check_deployer(
        &ctx.accounts.program,
        ctx.accounts.program_data.as_ref().map(|a| a.as_ref()),
        &ctx.accounts.admin.key(),
    )?;
    let network_info = ctx.accounts.network.to_account_info();
    pda_init::create_pda(
        &ctx.accounts.admin.to_account_info(),
        &network_info,
        &ctx.accounts.system_program.to_account_info(),
        8 + Network::INIT_SPACE,
        &crate::ID,
        &[NETWORK_SEED, &[ctx.bumps.network]],
    )?;
    vault::create_vault(
        &ctx.accounts.admin.to_account_info(),
        &ctx.accounts.treasury.to_account_info(),
        &ctx.accounts.system_program.to_account_info(),
        ctx.accounts.token_program.key(),
        ctx.accounts.mint.to_account_info(),
        &network_info,
        &[TREASURY_SEED, &[ctx.bumps.treasury]],
    )?;
    let network = Network {
        admin: ctx.accounts.admin.key(),
        pending_admin: None,
        mint: ctx.accounts.mint.key(),
        orchestrator: args.orchestrator,
        treasury: ctx.accounts.treasury.key(),
        fee_bps: args.fee_bps,
        min_stake: args.min_stake,
        challenge_window: args.challenge_window,
        unstake_cooldown: args.unstake_cooldown,
        claim_grace: args.claim_grace,
        settle_grace: args.settle_grace,
        resolution_period: args.resolution_period,
        dispute_bond: args.dispute_bond,
        slash_amount: args.slash_amount,
        verify_bps: args.verify_bps,
        orchestrator_bond: args.orchestrator_bond,
        paused: false,
        jobs_created: 0,
        open_disputes: 0,
        pending_params: None,
        pending_effective_at: 0,
        bump: ctx.bumps.network,
    };
    network.try_serialize(&mut &mut network_info.try_borrow_mut_data()?[..])?;
    emit!(NetworkInitialized {
        network: network_info.key(),
        admin: network.admin,
        mint: network.mint,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    //! `check_deployer` is a pure check over account contents; the runtime tests cannot reach
    //! its cluster branch (there the program is native, not deployed by the upgradeable loader).
    use super::*;

    /// A ProgramData account in the loader's layout: u32 tag 3, u64 slot, Option<Pubkey>.
    fn program_data(authority: Option<Pubkey>) -> Vec<u8> {
        let mut out = 3u32.to_le_bytes().to_vec();
        out.extend_from_slice(&1u64.to_le_bytes());
        match authority {
            Some(k) => {
                out.push(1);
                out.extend_from_slice(k.as_ref());
            }
            None => out.push(0),
        }
        out
    }

    fn check(
        owner: Pubkey,
        data_key: Pubkey,
        data_owner: Pubkey,
        data: Vec<u8>,
        admin: Pubkey,
    ) -> Result<()> {
        let id = crate::ID;
        let (mut l1, mut l2) = (0u64, 0u64);
        let mut empty: Vec<u8> = Vec::new();
        let mut data = data;
        let program = AccountInfo::new(&id, false, false, &mut l1, &mut empty, &owner, true);
        let pd = AccountInfo::new(
            &data_key,
            false,
            false,
            &mut l2,
            &mut data,
            &data_owner,
            false,
        );
        check_deployer(&program, Some(&pd), &admin)
    }

    #[test]
    fn only_the_upgrade_authority_may_initialise_on_a_cluster() {
        let loader = bpf_loader_upgradeable::ID;
        let (pd_key, _) = Pubkey::find_program_address(&[crate::ID.as_ref()], &loader);
        let admin = Pubkey::new_unique();
        let attacker = Pubkey::new_unique();
        assert!(check(loader, pd_key, loader, program_data(Some(admin)), admin).is_ok());
        assert!(check(loader, pd_key, loader, program_data(Some(admin)), attacker).is_err());
        assert!(
            check(loader, pd_key, loader, program_data(None), admin).is_err(),
            "immutable program"
        );
        let fake = Pubkey::new_unique();
        assert!(
            check(loader, fake, loader, program_data(Some(admin)), admin).is_err(),
            "substituted ProgramData"
        );
        assert!(
            check(loader, pd_key, attacker, program_data(Some(admin)), admin).is_err(),
            "ProgramData not owned by the loader"
        );
        // A natively registered program (tests, local chain) skips the check.
        let native = NATIVE_LOADER_ID;
        assert!(check(native, fake, native, Vec::new(), attacker).is_ok());
        // Any other owner fails closed: the non-upgradeable loaders (nobody to check) and
        // anything unknown.
        for other in [
            pubkey!("BPFLoader2111111111111111111111111111111111"),
            pubkey!("BPFLoader1111111111111111111111111111111111"),
            Pubkey::new_unique(),
        ] {
            assert!(
                check(other, fake, other, Vec::new(), admin).is_err(),
                "loader {other} must fail closed"
            );
        }
    }
}
