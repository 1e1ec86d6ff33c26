//! `tessera balance` and `tessera dev fund`: a wallet's SOL and network tokens, and funding
//! wallets on a development chain (airdrop, and minting with the mint authority's keypair).
use std::fmt;

use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use tessera_sdk::token;

use crate::amount::Tokens;
use crate::context::{sol, token_account, Ctx};
use crate::error::{input, CliResult};

#[derive(Debug, Serialize)]
pub struct Balance {
    pub wallet: String,
    pub lamports: u64,
    pub token_account: String,
    pub tokens: u64,
    pub decimals: u8,
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = Tokens {
            decimals: self.decimals,
        };
        writeln!(
            f,
            "{}  {}  {} tokens",
            self.wallet,
            sol(self.lamports),
            t.format(self.tokens)
        )
    }
}

pub fn parse_pubkey(text: &str, what: &str) -> CliResult<Pubkey> {
    text.parse()
        .map_err(|_| input(format!("{what} {text:?} is not a public key")))
}

pub async fn balance(ctx: &Ctx, wallet: Option<&str>) -> CliResult<Balance> {
    let info = ctx.network().await?;
    let wallet = match wallet {
        Some(w) => parse_pubkey(w, "wallet")?,
        None => ctx.signer()?.pubkey(),
    };
    let account = token_account(&wallet, &info.network.mint);
    Ok(Balance {
        wallet: wallet.to_string(),
        lamports: ctx
            .chain
            .balance(&wallet)
            .await
            .map_err(|e| ctx.rpc_error(e))?,
        token_account: account.to_string(),
        tokens: ctx.token_balance_or_zero(&account).await?,
        decimals: info.tokens.decimals,
    })
}

pub async fn run_balance(ctx: &Ctx, wallet: Option<&str>) -> CliResult<()> {
    let b = balance(ctx, wallet).await?;
    ctx.output.print(&b);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct FundArgs {
    /// The wallet to fund.
    pub wallet: String,
    /// SOL to airdrop (development chains and devnet only).
    #[arg(long, default_value = "0")]
    pub sol: String,
    /// Network tokens to mint; --keypair must be the mint authority.
    #[arg(long, default_value = "0")]
    pub tokens: String,
}

pub async fn fund(ctx: &Ctx, args: &FundArgs) -> CliResult<()> {
    let wallet = parse_pubkey(&args.wallet, "wallet")?;
    let lamports = Tokens { decimals: 9 }.parse(&args.sol)?;
    if lamports > 0 {
        ctx.chain
            .airdrop(&wallet, lamports)
            .await
            .map_err(|e| ctx.rpc_error(e))?;
    }
    // SOL alone needs no network: the orchestrator's key is funded before the network exists.
    if args.tokens.trim() == "0" {
        if !ctx.output.is_json() {
            println!(
                "{wallet}  {}",
                sol(ctx
                    .chain
                    .balance(&wallet)
                    .await
                    .map_err(|e| ctx.rpc_error(e))?)
            );
        }
        return Ok(());
    }
    let info = ctx.network().await?;
    let amount = info.tokens.parse(&args.tokens)?;
    let authority = ctx.signer()?;
    let mint = info.network.mint;
    let ixs = [
        token::create_associated_account(&authority.pubkey(), &wallet, &mint),
        token::mint_to(
            &mint,
            &token_account(&wallet, &mint),
            &authority.pubkey(),
            amount,
        ),
    ];
    ctx.send(&authority, &ixs, &[]).await?;
    run_balance(ctx, Some(&args.wallet)).await
}

/// `tessera dev keygen PATH`: a new keypair file (like `solana-keygen new`); prints its address.
pub fn keygen(ctx: &Ctx, path: &std::path::Path, force: bool) -> CliResult<()> {
    if path.exists() && !force {
        return Err(input(format!(
            "{} exists already (pass --force to replace it)",
            path.display()
        )));
    }
    let k = solana_sdk::signature::Keypair::new();
    tessera_sdk::keys::write_keypair(path, &k).map_err(|e| input(e.to_string()))?;
    if ctx.output.is_json() {
        ctx.output
            .json(&serde_json::json!({"pubkey": k.pubkey().to_string(), "path": path}));
    } else {
        println!("{}", k.pubkey());
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct NetworkView {
    pub program: String,
    pub admin: String,
    /// Proposed by the admin, admin once it accepts (`accept_admin`).
    pub pending_admin: Option<String>,
    pub mint: String,
    pub decimals: u8,
    pub orchestrator: String,
    pub treasury: String,
    pub treasury_balance: u64,
    pub fee_bps: u16,
    pub min_stake: u64,
    pub challenge_window: i64,
    pub unstake_cooldown: i64,
    pub claim_grace: i64,
    pub settle_grace: i64,
    pub resolution_period: i64,
    pub dispute_bond: u64,
    /// Tokens one proven wrong tile costs a node (`slash_node`).
    pub slash_amount: u64,
    /// Least balance the orchestrator's bond must hold for its receipts, and what it holds.
    pub orchestrator_bond: u64,
    pub orchestrator_bond_balance: u64,
    pub paused: bool,
    pub jobs_created: u64,
    /// Unix time from which proposed parameters may be applied; `None` when none is pending.
    pub pending_update_at: Option<i64>,
}

impl fmt::Display for NetworkView {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = Tokens {
            decimals: self.decimals,
        };
        let secs =
            |s: i64| humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64));
        writeln!(f, "{:<18} {}", "program", self.program)?;
        writeln!(f, "{:<18} {}", "admin", self.admin)?;
        if let Some(p) = &self.pending_admin {
            writeln!(f, "{:<18} {p} (until it accepts)", "proposed admin")?;
        }
        writeln!(
            f,
            "{:<18} {} ({} decimals)",
            "mint", self.mint, self.decimals
        )?;
        writeln!(f, "{:<18} {}", "orchestrator", self.orchestrator)?;
        writeln!(
            f,
            "{:<18} {} (holds {})",
            "treasury",
            self.treasury,
            t.format(self.treasury_balance)
        )?;
        writeln!(f, "{:<18} {:.2}%", "fee", self.fee_bps as f64 / 100.0)?;
        writeln!(f, "{:<18} {}", "min stake", t.format(self.min_stake))?;
        writeln!(
            f,
            "{:<18} {}",
            "challenge window",
            secs(self.challenge_window)
        )?;
        writeln!(
            f,
            "{:<18} {}",
            "unstake cooldown",
            secs(self.unstake_cooldown)
        )?;
        writeln!(f, "{:<18} {}", "claim grace", secs(self.claim_grace))?;
        writeln!(f, "{:<18} {}", "settle grace", secs(self.settle_grace))?;
        writeln!(
            f,
            "{:<18} {}",
            "resolution period",
            secs(self.resolution_period)
        )?;
        writeln!(f, "{:<18} {}", "dispute bond", t.format(self.dispute_bond))?;
        writeln!(
            f,
            "{:<18} {} per proven wrong tile",
            "slash",
            t.format(self.slash_amount)
        )?;
        writeln!(
            f,
            "{:<18} {} minimum (holds {})",
            "orchestrator bond",
            t.format(self.orchestrator_bond),
            t.format(self.orchestrator_bond_balance)
        )?;
        writeln!(f, "{:<18} {}", "paused", self.paused)?;
        if let Some(at) = self.pending_update_at {
            writeln!(
                f,
                "{:<18} proposed, applicable from unix time {at}",
                "update"
            )?;
        }
        writeln!(f, "{:<18} {}", "jobs created", self.jobs_created)
    }
}

/// `tessera network`: the network's configuration and treasury.
pub async fn network(ctx: &Ctx) -> CliResult<()> {
    let info = ctx.network().await?;
    let n = &info.network;
    ctx.output.print(&NetworkView {
        program: tessera_sdk::PROGRAM_ID.to_string(),
        admin: n.admin.to_string(),
        pending_admin: n.pending_admin.map(|p| p.to_string()),
        mint: n.mint.to_string(),
        decimals: info.tokens.decimals,
        orchestrator: n.orchestrator.to_string(),
        treasury: n.treasury.to_string(),
        treasury_balance: ctx.token_balance_or_zero(&n.treasury).await?,
        fee_bps: n.fee_bps,
        min_stake: n.min_stake,
        challenge_window: n.challenge_window,
        unstake_cooldown: n.unstake_cooldown,
        claim_grace: n.claim_grace,
        settle_grace: n.settle_grace,
        resolution_period: n.resolution_period,
        dispute_bond: n.dispute_bond,
        slash_amount: n.slash_amount,
        orchestrator_bond: n.orchestrator_bond,
        orchestrator_bond_balance: ctx
            .token_balance_or_zero(&tessera_sdk::pda::bond_vault(&n.orchestrator))
            .await?,
        paused: n.paused,
        jobs_created: n.jobs_created,
        pending_update_at: n.pending_params.as_ref().map(|_| n.pending_effective_at),
    });
    Ok(())
}

/// `tessera dev advance-clock SECONDS`: moves the development chain's clock (tessera-localnet
/// only), e.g. past a challenge window.
pub async fn advance_clock(ctx: &Ctx, seconds: u64) -> CliResult<()> {
    let (slot, ts) = ctx
        .chain
        .dev_advance_clock(seconds)
        .await
        .map_err(|e| ctx.rpc_error(e))?;
    if ctx.output.is_json() {
        ctx.output
            .json(&serde_json::json!({"slot": slot, "unix_timestamp": ts}));
    } else {
        println!("slot {slot}, unix time {ts}");
    }
    Ok(())
}
