//! Tessera node agent: a thin clap router; each subcommand lives in `cmd/<name>.rs`.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "node-agent", version, about = "Tessera node agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render one tile of one frame of a scene and print its pixel hash.
    Render(cmd::render::RenderArgs),
    /// Render the standard scene and print throughput and a score.
    Bench(cmd::bench::BenchArgs),
    /// Lease tiles from an orchestrator, render them and submit them until Ctrl-C.
    Run(cmd::run::RunArgs),
    /// Load a scene on the CPU (no GPU) at its first and last frame and report what it holds
    /// and whether it would render (exit status 1 when it would not).
    Check(cmd::check::CheckArgs),
    /// The journal of the orchestrator's acknowledgements of this node's renders.
    #[command(subcommand)]
    Acks(cmd::acks::AcksCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Render(args) => cmd::render::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Acks(cmd) => cmd::acks::run(cmd),
    }
}
