//! Node operators: join with stake, manage it, see how the network sees the node, claim.
pub mod claim;
pub mod stake;
pub mod status;

use std::path::PathBuf;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};

use crate::context::read_keypair;
use crate::error::{input, CliResult};

/// Which node a command is about.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeKeyArgs {
    /// The node's own keypair (the key node-agent signs tiles with).
    #[arg(long, default_value_os_t = default_node_keypair())]
    pub node_keypair: PathBuf,
}

pub fn default_node_keypair() -> PathBuf {
    crate::config::default_path()
        .parent()
        .map(|d| d.join("node.json"))
        .unwrap_or_else(|| PathBuf::from("node.json"))
}

impl NodeKeyArgs {
    pub fn keypair(&self) -> CliResult<Keypair> {
        read_keypair(&self.node_keypair, "--node-keypair")
    }

    /// The node's public key, from `--node` when given, else from its keypair file.
    pub fn pubkey(&self, node: Option<&str>) -> CliResult<Pubkey> {
        match node {
            Some(text) => text
                .parse()
                .map_err(|_| input(format!("--node {text:?} is not a public key"))),
            None => Ok(self.keypair()?.pubkey()),
        }
    }
}
