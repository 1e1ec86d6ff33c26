//! What every command works with: the settings, the chain, the orchestrator, the output.
use std::path::Path;

use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use tessera_sdk::client::{ChainClient, ChainError};
use tessera_sdk::{pda, Job, Network, Node};

use crate::amount::Tokens;
use crate::config::Settings;
use crate::error::{input, state, CliError, CliResult};
use crate::orchestrator::Orchestrator;
use crate::output::OutputFormat;

/// The Clock sysvar: the chain's time, which deadlines and windows are measured in.
const CLOCK_SYSVAR: Pubkey = solana_sdk::pubkey!("SysvarC1ock11111111111111111111111111111111");

pub struct Ctx {
    pub settings: Settings,
    pub chain: ChainClient,
    pub output: OutputFormat,
}

/// The network account and its token's decimals, read once per command.
pub struct NetworkInfo {
    pub network: Network,
    pub tokens: Tokens,
}

impl Ctx {
    pub fn new(settings: Settings, output: OutputFormat) -> Ctx {
        let chain = ChainClient::new(settings.url.clone(), CommitmentConfig::confirmed());
        Ctx {
            settings,
            chain,
            output,
        }
    }

    /// The orchestrator, its status requests signed by the `--keypair` wallet when there is
    /// one (the job's artist then sees every tile state).
    pub fn orchestrator(&self) -> Orchestrator {
        let o = Orchestrator::new(&self.settings.orchestrator);
        match self.signer() {
            Ok(k) => o.with_signer(k),
            Err(_) => o,
        }
    }

    /// The `--keypair` wallet.
    pub fn signer(&self) -> CliResult<Keypair> {
        read_keypair(&self.settings.keypair, "--keypair")
    }

    /// Maps a transport failure to "cannot reach the RPC".
    pub fn rpc_error(&self, e: ChainError) -> CliError {
        match &e {
            ChainError::Rpc(inner) => match transport_failure(inner) {
                Some(reason) => CliError::RpcUnreachable {
                    url: self.settings.url.clone(),
                    reason,
                },
                None => CliError::Chain(e),
            },
            _ => CliError::Chain(e),
        }
    }

    /// The network config; the first chain read of most commands, so it names an
    /// unreachable RPC or a cluster without Tessera clearly.
    pub async fn network(&self) -> CliResult<NetworkInfo> {
        // One cheap call first, so an unreachable RPC is named as such rather than as a
        // missing account (the client folds transport errors into some method errors).
        self.chain
            .rpc()
            .get_version()
            .await
            .map_err(|e| CliError::RpcUnreachable {
                url: self.settings.url.clone(),
                reason: first_line(&e.to_string()),
            })?;
        let network: Network = self
            .chain
            .get_anchor_account(&pda::network())
            .await
            .map_err(|e| self.rpc_error(e))?
            .ok_or_else(|| {
                state(format!(
                    "no Tessera network on {} (run tessera-migrate first)",
                    self.settings.url
                ))
            })?;
        let tokens = Tokens {
            decimals: self.mint_decimals(&network.mint).await?,
        };
        Ok(NetworkInfo { network, tokens })
    }

    async fn mint_decimals(&self, mint: &Pubkey) -> CliResult<u8> {
        let account = self
            .chain
            .rpc()
            .get_account(mint)
            .await
            .map_err(|e| self.rpc_error(e.into()))?;
        tessera_sdk::token::mint_decimals(&account.data)
            .ok_or_else(|| state("the network's mint does not decode"))
    }

    pub async fn job(&self, job_id: u64) -> CliResult<Job> {
        self.chain
            .get_anchor_account(&pda::job(job_id))
            .await
            .map_err(|e| self.rpc_error(e))?
            .ok_or_else(|| {
                input(format!(
                    "job {job_id} does not exist on {} (closed jobs are gone)",
                    self.settings.url
                ))
            })
    }

    pub async fn node(&self, node_key: &Pubkey) -> CliResult<Option<Node>> {
        self.chain
            .get_anchor_account(&pda::node(node_key))
            .await
            .map_err(|e| self.rpc_error(e))
    }

    /// The chain's unix time (the Clock sysvar), which deadlines are compared with.
    pub async fn chain_now(&self) -> CliResult<i64> {
        let account = self
            .chain
            .rpc()
            .get_account(&CLOCK_SYSVAR)
            .await
            .map_err(|e| self.rpc_error(e.into()))?;
        // Clock: slot u64, epoch_start_timestamp i64, epoch u64, leader_schedule_epoch u64,
        // unix_timestamp i64.
        let bytes: [u8; 8] = account
            .data
            .get(32..40)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| state("the Clock sysvar does not decode"))?;
        Ok(i64::from_le_bytes(bytes))
    }

    /// Token balance of an account, 0 when it does not exist yet.
    pub async fn token_balance_or_zero(&self, account: &Pubkey) -> CliResult<u64> {
        let found = self
            .chain
            .rpc()
            .get_account_with_commitment(account, CommitmentConfig::confirmed())
            .await
            .map_err(|e| self.rpc_error(e.into()))?
            .value;
        match found {
            None => Ok(0),
            Some(a) => tessera_sdk::token::account_amount(&a.data)
                .ok_or_else(|| state(format!("{account} is not a token account"))),
        }
    }

    /// Sends one transaction paid by `payer`.
    pub async fn send(
        &self,
        payer: &Keypair,
        instructions: &[solana_sdk::instruction::Instruction],
        extra: &[&Keypair],
    ) -> CliResult<solana_sdk::signature::Signature> {
        self.chain
            .send_instructions(payer, instructions, extra)
            .await
            .map_err(|e| self.rpc_error(e))
    }

    /// Refuses when `wallet` has fewer lamports than `need` for fees and rent.
    pub async fn require_sol(&self, wallet: &Pubkey, need: u64) -> CliResult<()> {
        let have = self
            .chain
            .balance(wallet)
            .await
            .map_err(|e| self.rpc_error(e))?;
        if have < need {
            return Err(state(format!(
                "insufficient SOL in {wallet} for fees and rent: has {}, needs {} (missing {})",
                sol(have),
                sol(need),
                sol(need - have)
            )));
        }
        Ok(())
    }
}

pub use tessera_sdk::token::associated_account as token_account;
pub use tessera_sdk::token::create_associated_account as create_token_account_ix;

pub fn read_keypair(path: &Path, flag: &str) -> CliResult<Keypair> {
    if !path.exists() {
        return Err(input(format!(
            "keypair file {} does not exist (create one with `solana-keygen new -o {}`, or pass {flag})",
            path.display(),
            path.display()
        )));
    }
    tessera_sdk::keys::read_keypair(path).map_err(|e| input(e.to_string()))
}

pub fn sol(lamports: u64) -> String {
    format!(
        "{}.{:09} SOL",
        lamports / 1_000_000_000,
        lamports % 1_000_000_000
    )
}

/// Why the RPC could not be reached, when that is what `e` says. `getAccountInfo` folds a
/// transport failure into an `AccountNotFound` message ("AccountNotFound: pubkey=…: error
/// sending request for url …"), so that message counts too, named by its transport part.
fn transport_failure(e: &solana_client::client_error::ClientError) -> Option<String> {
    use solana_client::client_error::ClientErrorKind;
    const SENDING: &str = "error sending request";
    match e.kind() {
        ClientErrorKind::Reqwest(_) | ClientErrorKind::Io(_) => Some(first_line(&e.to_string())),
        _ => {
            let message = e.to_string();
            message.find(SENDING).map(|at| first_line(&message[at..]))
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}
