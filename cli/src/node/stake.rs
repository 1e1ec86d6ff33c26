//! `tessera node register | add-stake | unstake | withdraw | update`: the operator's
//! transactions on its node and stake. Amounts in tokens; every rule checked before sending.
use std::fmt;

use serde::Serialize;
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::{ix, Node};

use super::NodeKeyArgs;
use crate::amount::Tokens;
use crate::context::{create_token_account_ix, sol, token_account, Ctx, NetworkInfo};
use crate::error::{input, state, CliError, CliResult};

/// Lamports a registration needs for the node and stake vault rent plus fees.
const REGISTER_SOL: u64 = 10_000_000;

#[derive(clap::Args, Debug)]
pub struct RegisterArgs {
    /// Tokens to stake (at least the network's minimum).
    #[arg(long)]
    pub stake: String,
    #[command(flatten)]
    pub node: NodeKeyArgs,
    /// Benchmark score to record (100 = 10 Msamples/s); see `tessera node update --benchmark`.
    #[arg(long, default_value_t = 0)]
    pub score: u64,
    /// Free-text hardware description (at most 64 bytes).
    #[arg(long, default_value = "")]
    pub hardware: String,
    /// SOL sent to the node key so `node-agent run` can pay for its automatic claims.
    #[arg(long, default_value = "0.05")]
    pub fund_node: String,
}

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub node: NodeKeyArgs,
    /// Run `node-agent bench` on this machine and record its score.
    #[arg(long, conflicts_with = "score")]
    pub benchmark: bool,
    /// Record this benchmark score.
    #[arg(long)]
    pub score: Option<u64>,
    #[arg(long)]
    pub hardware: Option<String>,
    /// The node-agent binary for --benchmark (default: beside this binary, then $PATH).
    #[arg(long)]
    pub node_agent: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct StakeDone {
    pub action: &'static str,
    pub node_key: String,
    pub signature: String,
    pub stake: u64,
    pub unstake_amount: u64,
    pub unstake_available_at: i64,
    pub benchmark_score: u64,
    pub decimals: u8,
}

impl fmt::Display for StakeDone {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = Tokens {
            decimals: self.decimals,
        };
        writeln!(
            f,
            "Node {} {} (tx {})",
            self.node_key, self.action, self.signature
        )?;
        writeln!(f, "  stake           {}", t.format(self.stake))?;
        if self.unstake_amount > 0 {
            writeln!(
                f,
                "  unstaking       {} (withdrawable at unix {})",
                t.format(self.unstake_amount),
                self.unstake_available_at
            )?;
        }
        writeln!(f, "  benchmark score {}", self.benchmark_score)
    }
}

async fn report(
    ctx: &Ctx,
    action: &'static str,
    node_key: solana_sdk::pubkey::Pubkey,
    sig: String,
    info: &NetworkInfo,
) -> CliResult<()> {
    let node = ctx
        .node(&node_key)
        .await?
        .ok_or_else(|| state("the node account vanished"))?;
    ctx.output.print(&StakeDone {
        action,
        node_key: node_key.to_string(),
        signature: sig,
        stake: node.stake,
        unstake_amount: node.unstake_amount,
        unstake_available_at: node.unstake_available_at,
        benchmark_score: node.benchmark_score,
        decimals: info.tokens.decimals,
    });
    Ok(())
}

fn parse_sol(text: &str) -> CliResult<u64> {
    Tokens { decimals: 9 }
        .parse(text)
        .map_err(|_| input(format!("not a SOL amount: {text:?}")))
}

/// The operator's token balance must cover `amount`.
async fn require_tokens(
    ctx: &Ctx,
    info: &NetworkInfo,
    operator: &Keypair,
    amount: u64,
) -> CliResult<()> {
    let account = token_account(&operator.pubkey(), &info.network.mint);
    let held = ctx.token_balance_or_zero(&account).await?;
    if held < amount {
        let t = info.tokens;
        return Err(state(format!(
            "insufficient balance: staking {} needs {} tokens in {account}, it holds {} (missing {})",
            t.format(amount),
            t.format(amount),
            t.format(held),
            t.format(amount - held)
        )));
    }
    Ok(())
}

pub async fn register(ctx: &Ctx, args: &RegisterArgs) -> CliResult<()> {
    let operator = ctx.signer()?;
    let info = ctx.network().await?;
    let t = info.tokens;
    let stake = t.parse(&args.stake)?;
    let fund = parse_sol(&args.fund_node)?;
    if info.network.paused {
        return Err(state("the network is paused: no new nodes are accepted"));
    }
    if stake < info.network.min_stake {
        return Err(input(format!(
            "--stake {} is below the network's minimum stake {}",
            t.format(stake),
            t.format(info.network.min_stake)
        )));
    }
    if args.hardware.len() > 64 {
        return Err(input("--hardware is longer than 64 bytes"));
    }
    // A new node key is written only once every check has passed.
    let created = !args.node.node_keypair.exists();
    let node_key = if created {
        Keypair::new()
    } else {
        args.node.keypair()?
    };
    if ctx.node(&node_key.pubkey()).await?.is_some() {
        return Err(state(format!(
            "node {} is registered already (use `tessera node add-stake`)",
            node_key.pubkey()
        )));
    }
    require_tokens(ctx, &info, &operator, stake).await?;
    ctx.require_sol(&operator.pubkey(), REGISTER_SOL + fund)
        .await?;
    if created {
        tessera_sdk::keys::write_keypair(&args.node.node_keypair, &node_key)
            .map_err(|e| input(e.to_string()))?;
        ctx.output.note(format!(
            "created node key {} at {}",
            node_key.pubkey(),
            args.node.node_keypair.display()
        ));
    }
    let operator_token = token_account(&operator.pubkey(), &info.network.mint);
    let mut ixs = vec![ix::register_node(
        &operator.pubkey(),
        &node_key.pubkey(),
        &info.network.mint,
        &operator_token,
        stake,
        args.score,
        args.hardware.clone(),
    )];
    if fund > 0 {
        ixs.push(tessera_sdk::token::transfer_sol(
            &operator.pubkey(),
            &node_key.pubkey(),
            fund,
        ));
    }
    let sig = ctx.send(&operator, &ixs, &[&node_key]).await?;
    if fund > 0 {
        ctx.output
            .note(format!("sent {} to the node key for claim fees", sol(fund)));
    }
    report(ctx, "registered", node_key.pubkey(), sig.to_string(), &info).await
}

/// The operator's registered node, refused with a sentence when absent or someone else's.
async fn own_node(
    ctx: &Ctx,
    operator: &Keypair,
    args: &NodeKeyArgs,
) -> CliResult<(solana_sdk::pubkey::Pubkey, Node)> {
    let key = args.pubkey(None)?;
    let node = ctx.node(&key).await?.ok_or_else(|| {
        state(format!(
            "node {key} is not registered (run `tessera node register`)"
        ))
    })?;
    if node.operator != operator.pubkey() {
        return Err(input(format!(
            "node {key} is operated by {}, not by {} (pass the operator's --keypair)",
            node.operator,
            operator.pubkey()
        )));
    }
    Ok((key, node))
}

pub async fn add_stake(ctx: &Ctx, node: &NodeKeyArgs, amount: &str) -> CliResult<()> {
    let operator = ctx.signer()?;
    let info = ctx.network().await?;
    let amount = info.tokens.parse(amount)?;
    if amount == 0 {
        return Err(input("the amount must be more than 0"));
    }
    let (key, _) = own_node(ctx, &operator, node).await?;
    require_tokens(ctx, &info, &operator, amount).await?;
    let token = token_account(&operator.pubkey(), &info.network.mint);
    let sig = ctx
        .send(
            &operator,
            &[ix::add_stake(&operator.pubkey(), &key, &token, amount)],
            &[],
        )
        .await?;
    report(ctx, "added stake", key, sig.to_string(), &info).await
}

pub async fn unstake(ctx: &Ctx, node: &NodeKeyArgs, amount: &str) -> CliResult<()> {
    let operator = ctx.signer()?;
    let info = ctx.network().await?;
    let t = info.tokens;
    let amount = t.parse(amount)?;
    let (key, n) = own_node(ctx, &operator, node).await?;
    if amount == 0 || amount > n.stake {
        return Err(input(format!(
            "can unstake 0 < amount ≤ the stake {}, not {}",
            t.format(n.stake),
            t.format(amount)
        )));
    }
    if n.unstake_amount > 0 {
        return Err(state(format!(
            "an unstake of {} is pending already (withdraw it first)",
            t.format(n.unstake_amount)
        )));
    }
    let sig = ctx
        .send(
            &operator,
            &[ix::request_unstake(&operator.pubkey(), &key, amount)],
            &[],
        )
        .await?;
    report(ctx, "requested unstake", key, sig.to_string(), &info).await
}

pub async fn withdraw(ctx: &Ctx, node: &NodeKeyArgs) -> CliResult<()> {
    let operator = ctx.signer()?;
    let info = ctx.network().await?;
    let (key, n) = own_node(ctx, &operator, node).await?;
    if n.unstake_amount == 0 {
        return Err(state(
            "no unstake is pending (run `tessera node unstake AMOUNT` first)",
        ));
    }
    let now = ctx.chain_now().await?;
    if now < n.unstake_available_at {
        return Err(state(format!(
            "the unstake cooldown ends in {}",
            humantime::format_duration(std::time::Duration::from_secs(
                (n.unstake_available_at - now) as u64
            ))
        )));
    }
    let token = token_account(&operator.pubkey(), &info.network.mint);
    let ixs = [
        create_token_account_ix(&operator.pubkey(), &operator.pubkey(), &info.network.mint),
        ix::withdraw_stake(&operator.pubkey(), &key, &token),
    ];
    let sig = ctx.send(&operator, &ixs, &[]).await?;
    report(ctx, "withdrew", key, sig.to_string(), &info).await
}

pub async fn update(ctx: &Ctx, args: &UpdateArgs) -> CliResult<()> {
    let operator = ctx.signer()?;
    let info = ctx.network().await?;
    let (key, n) = own_node(ctx, &operator, &args.node).await?;
    let score = match (args.benchmark, args.score) {
        (true, _) => run_benchmark(ctx, args.node_agent.as_deref())?,
        (false, Some(s)) => s,
        (false, None) => n.benchmark_score,
    };
    let hardware = args.hardware.clone().unwrap_or(n.hardware);
    if hardware.len() > 64 {
        return Err(input("--hardware is longer than 64 bytes"));
    }
    let sig = ctx
        .send(
            &operator,
            &[ix::update_node(&operator.pubkey(), &key, score, hardware)],
            &[],
        )
        .await?;
    report(ctx, "updated", key, sig.to_string(), &info).await
}

/// Runs `node-agent bench` and reads its `score` line.
fn run_benchmark(ctx: &Ctx, node_agent: Option<&std::path::Path>) -> CliResult<u64> {
    let bin = match node_agent {
        Some(p) => p.to_path_buf(),
        None => {
            let beside = std::env::current_exe()?.with_file_name("node-agent");
            if beside.exists() {
                beside
            } else {
                "node-agent".into()
            }
        }
    };
    ctx.output
        .note(format!("running {} bench ...", bin.display()));
    let out = std::process::Command::new(&bin)
        .arg("bench")
        .output()
        .map_err(|e| input(format!("cannot run {}: {e}", bin.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(CliError::Io(format!(
            "node-agent bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    text.lines()
        .find_map(|l| l.strip_prefix("score"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .map(|s| s.round() as u64)
        .ok_or_else(|| CliError::Io(format!("node-agent bench printed no score:\n{text}")))
}
