//! `tessera`: a thin clap router over the `tessera_cli` library.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_cli::audit::AuditArgs;
use tessera_cli::config::{self, Config};
use tessera_cli::context::Ctx;
use tessera_cli::error::{CliError, CliResult};
use tessera_cli::job::actions::{self, Action, DisputeReason};
use tessera_cli::job::download::DownloadArgs;
use tessera_cli::job::quote::JobArgs;
use tessera_cli::job::submit::SubmitArgs;
use tessera_cli::job::watch::WatchArgs;
use tessera_cli::node::claim::ClaimArgs;
use tessera_cli::node::stake::{RegisterArgs, UpdateArgs};
use tessera_cli::node::status::StatusArgs;
use tessera_cli::node::NodeKeyArgs;
use tessera_cli::output::OutputFormat;
use tessera_cli::wallet::FundArgs;
use tessera_cli::{audit, job, node, wallet};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Render on the Tessera network: submit jobs, run nodes, audit receipts",
    long_about = "Render on the Tessera network.\n\n\
        Artists:   tessera job quote scene.glb --frames 1-48  →  tessera job submit scene.glb --frames 1-48 --out frames/\n\
        Operators: tessera node register --stake 100  →  node-agent run  →  tessera node claim --all\n\
        Auditors:  tessera audit JOB [--frames DIR --manifest FILE]\n\n\
        Settings come from flags, then ~/.config/tessera/config.yml (`tessera config set`), then defaults."
)]
struct Cli {
    /// JSON-RPC URL or moniker (localhost, devnet, testnet, mainnet-beta).
    #[arg(short = 'u', long, global = true)]
    url: Option<String>,
    /// Wallet keypair that signs and pays (default ~/.config/solana/id.json).
    #[arg(short = 'k', long, global = true)]
    keypair: Option<PathBuf>,
    /// Orchestrator base URL (default http://127.0.0.1:8080; `https://…` works too).
    #[arg(long, global = true)]
    orchestrator: Option<String>,
    /// PEM file of CA certificates to trust for an `https://` orchestrator besides the
    /// public roots (a private CA, a self-signed certificate).
    #[arg(long, global = true, env = "TESSERA_CA")]
    orchestrator_ca: Option<PathBuf>,
    /// Config file (default $TESSERA_CONFIG or ~/.config/tessera/config.yml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// display for people, json for scripts (one JSON document on stdout).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Display)]
    output: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show or change the config file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The network's configuration: mint, orchestrator, treasury, fee, periods.
    Network,
    /// SOL and network tokens of a wallet (default: --keypair's).
    Balance { wallet: Option<String> },
    /// Artists: quote, submit, watch and settle render jobs.
    #[command(subcommand)]
    Job(JobCmd),
    /// Node operators: stake, register, update, status, claim.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Check a job's frames, manifest and payouts against its on-chain receipt.
    Audit(AuditArgs),
    /// Development chains: keypairs, funding wallets.
    #[command(subcommand)]
    Dev(DevCmd),
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the settings in effect (or one of them).
    Get { key: Option<String> },
    /// Set url, keypair or orchestrator in the config file.
    Set { key: String, value: String },
}

#[derive(Subcommand)]
enum JobCmd {
    /// Tiles, price, fee, budget and estimated time of a job. Pays nothing.
    Quote(JobArgs),
    /// Check and upload the scene, escrow the budget, register the job, watch it render.
    Submit(SubmitArgs),
    /// Jobs on-chain (yours, or --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// On-chain state and the orchestrator's progress side by side.
    Status { job: u64 },
    /// Live progress; writes frames to --out as they complete. Ctrl-C detaches.
    Watch(WatchArgs),
    /// Download every frame, each verified against the on-chain tile root.
    Download(DownloadArgs),
    /// Accept the receipt: pay the fee, refund the unspent budget, let nodes claim.
    Approve { job: u64 },
    /// Contest the receipt within the challenge window.
    Dispute {
        job: u64,
        #[arg(long, value_enum)]
        reason: DisputeReason,
    },
    /// Ask to cancel a job that has no receipt yet: the verified tiles are paid through a
    /// partial receipt, the rest refunded; with no receipt in the settle grace, `refund`.
    Cancel { job: u64 },
    /// Refund a job that got no receipt by its deadline (or cancel request) plus the grace.
    Refund { job: u64 },
    /// Settle a receipt whose challenge window has passed, or a dispute past its deadline
    /// (the receipt stands) (anyone may).
    Finalize { job: u64 },
    /// Close a settled job once every node claimed or the claim grace passed (anyone may).
    Close { job: u64 },
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Stake and register a node (creates the node key if missing).
    Register(RegisterArgs),
    /// Add stake to the node.
    AddStake {
        amount: String,
        #[command(flatten)]
        node: NodeKeyArgs,
    },
    /// Start the unstake cooldown for an amount (it stays slashable until withdrawn).
    Unstake {
        amount: String,
        #[command(flatten)]
        node: NodeKeyArgs,
    },
    /// Withdraw the unstaked amount after the cooldown.
    Withdraw {
        #[command(flatten)]
        node: NodeKeyArgs,
    },
    /// Record a benchmark score (--benchmark runs node-agent bench) or hardware.
    Update(UpdateArgs),
    /// Stake, reputation, tiles, faults and earnings per job.
    Status(StatusArgs),
    /// Claim settled payouts (--job JOB or --all).
    Claim(ClaimArgs),
}

#[derive(Subcommand)]
enum DevCmd {
    /// Airdrop SOL and mint network tokens (--keypair: the mint authority) to a wallet.
    Fund(FundArgs),
    /// Move the development chain's clock forward (tessera-localnet only).
    AdvanceClock { seconds: u64 },
    /// Write a new keypair file and print its address.
    Keygen {
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

async fn route(cli: Cli) -> CliResult<()> {
    let path = cli.config.clone().unwrap_or_else(config::default_path);
    let file = Config::load(&path)?;
    let settings = file.settings(
        cli.url.as_deref(),
        cli.keypair.as_deref(),
        cli.orchestrator.as_deref(),
    );
    let ctx = Ctx::new(settings, cli.output);
    match cli.command {
        Command::Config(c) => config_cmd(&ctx, file, &path, c),
        Command::Balance { wallet } => wallet::run_balance(&ctx, wallet.as_deref()).await,
        Command::Job(j) => job_cmd(&ctx, j).await,
        Command::Node(n) => node_cmd(&ctx, n).await,
        Command::Audit(a) => audit::run(&ctx, &a).await.map(drop),
        Command::Network => wallet::network(&ctx).await,
        Command::Dev(DevCmd::Fund(f)) => wallet::fund(&ctx, &f).await,
        Command::Dev(DevCmd::AdvanceClock { seconds }) => {
            wallet::advance_clock(&ctx, seconds).await
        }
        Command::Dev(DevCmd::Keygen { path, force }) => wallet::keygen(&ctx, &path, force),
    }
}

fn config_cmd(ctx: &Ctx, mut file: Config, path: &std::path::Path, c: ConfigCmd) -> CliResult<()> {
    let settings = serde_json::to_value(&ctx.settings).expect("settings serialize");
    match c {
        ConfigCmd::Get { key: None } => {
            if ctx.output.is_json() {
                ctx.output.json(&settings);
            } else {
                println!("Config file: {}", path.display());
                for key in config::KEYS {
                    println!("{key:<13} {}", settings[key].as_str().unwrap_or(""));
                }
            }
        }
        ConfigCmd::Get { key: Some(k) } => match settings.get(&k) {
            Some(v) => println!("{}", v.as_str().unwrap_or("")),
            None => return Err(config::unknown_key(&k)),
        },
        ConfigCmd::Set { key, value } => {
            file.set(&key, &value)?;
            file.save(path)?;
            println!("{key} = {value} (saved to {})", path.display());
        }
    }
    Ok(())
}

async fn job_cmd(ctx: &Ctx, j: JobCmd) -> CliResult<()> {
    match j {
        JobCmd::Quote(a) => job::quote::run(ctx, &a).await,
        JobCmd::Submit(a) => job::submit::run(ctx, &a).await.map(drop),
        JobCmd::List { all } => job::status::run_list(ctx, all).await,
        JobCmd::Status { job } => job::status::run_status(ctx, job).await,
        JobCmd::Watch(a) => job::watch::run(ctx, &a).await.map(drop),
        JobCmd::Download(a) => job::download::run(ctx, &a).await.map(drop),
        JobCmd::Approve { job } => actions::run(ctx, Action::Approve, job, None).await,
        JobCmd::Dispute { job, reason } => {
            actions::run(ctx, Action::Dispute, job, Some(reason)).await
        }
        JobCmd::Cancel { job } => actions::run(ctx, Action::Cancel, job, None).await,
        JobCmd::Refund { job } => actions::run(ctx, Action::Refund, job, None).await,
        JobCmd::Finalize { job } => actions::run(ctx, Action::Finalize, job, None).await,
        JobCmd::Close { job } => actions::run(ctx, Action::Close, job, None).await,
    }
}

async fn node_cmd(ctx: &Ctx, n: NodeCmd) -> CliResult<()> {
    match n {
        NodeCmd::Register(a) => node::stake::register(ctx, &a).await,
        NodeCmd::AddStake { amount, node } => node::stake::add_stake(ctx, &node, &amount).await,
        NodeCmd::Unstake { amount, node } => node::stake::unstake(ctx, &node, &amount).await,
        NodeCmd::Withdraw { node } => node::stake::withdraw(ctx, &node).await,
        NodeCmd::Update(a) => node::stake::update(ctx, &a).await,
        NodeCmd::Status(a) => node::status::run(ctx, &a).await,
        NodeCmd::Claim(a) => node::claim::run(ctx, &a).await,
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(ca) = &cli.orchestrator_ca {
        tessera_cli::orchestrator::trust_ca(ca.clone());
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(route(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 1 for failures of the environment or a check, 2 for bad input (as clap uses for flags).
fn exit_code(e: &CliError) -> u8 {
    match e {
        CliError::Input(_) => 2,
        _ => 1,
    }
}
