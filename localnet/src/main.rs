//! `tessera-localnet`: runs the development chain until Ctrl-C.
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use solana_signer::Signer;
use tessera_localnet::{Config, Localnet};

/// Tessera development chain (Solana JSON-RPC over a real Agave bank). Not a cluster.
#[derive(Parser, Debug)]
struct Args {
    /// Directory for accounts, transaction history and the faucet keypair.
    #[arg(long, env = "TESSERA_LOCALNET_DIR", default_value = "data/localnet")]
    data_dir: PathBuf,
    /// Address to listen on (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// RPC port.
    #[arg(long, default_value_t = 8899)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,solana=warn,agave=warn".into()),
        )
        .init();
    let args = Args::parse();
    let net = Localnet::start(Config::new(
        args.data_dir,
        SocketAddr::new(args.bind, args.port),
    ))
    .await?;
    println!("RPC URL:        {}", net.url());
    println!("Program id:     {}", net.program_id());
    println!("Faucet pubkey:  {}", net.faucet().pubkey());
    println!("Faucet keypair: {}", net.faucet_path().display());
    tokio::signal::ctrl_c().await?;
    println!("shutting down");
    net.shutdown().await;
    Ok(())
}
