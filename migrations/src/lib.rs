//! Network bootstrap for a fresh deployment: the network's token mint (created, or an
//! existing one) and `initialize_network` (which creates the fee treasury, a program-owned
//! PDA). Idempotent: a second run finds the network and only prints its addresses; a run
//! interrupted half-way resumes with the same mint key, which it keeps in its state directory.
use std::path::PathBuf;

use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::client::{ChainClient, ChainError};
use tessera_sdk::{ix, keys, pda, token, Network, NetworkParams};
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    KeyFile(#[from] keys::KeyFileError),
    #[error("the network already exists with mint {existing}, not {requested}")]
    MintMismatch { existing: Pubkey, requested: Pubkey },
    #[error("mint {0} does not exist on this chain")]
    MissingMint(Pubkey),
}

/// What to set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Use this mint instead of creating one.
    pub mint: Option<Pubkey>,
    pub decimals: u8,
    pub params: NetworkParams,
    /// Tokens deposited into the orchestrator's bond (`deposit_bond`) from the payer's
    /// associated account; minted there first when this run created the mint. 0: none.
    pub bond_deposit: u64,
    /// Where the mint keypair is kept between runs.
    pub state_dir: PathBuf,
}

/// The addresses of a deployed network.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Addresses {
    pub program_id: String,
    pub network: String,
    pub admin: String,
    pub mint: String,
    pub treasury: String,
    pub orchestrator: String,
    /// True when this run created the network, false when it already existed.
    pub created: bool,
}

impl Addresses {
    fn of(network: &Network, created: bool) -> Self {
        Self {
            program_id: tessera_sdk::PROGRAM_ID.to_string(),
            network: pda::network().to_string(),
            admin: network.admin.to_string(),
            mint: network.mint.to_string(),
            treasury: network.treasury.to_string(),
            orchestrator: network.orchestrator.to_string(),
            created,
        }
    }
}

async fn exists(client: &ChainClient, address: &Pubkey) -> Result<bool, ChainError> {
    Ok(client.balance(address).await? > 0)
}

/// Runs the bootstrap; `payer` becomes the network admin and the mint authority of a created mint.
pub async fn bootstrap(
    client: &ChainClient,
    payer: &Keypair,
    opts: &Options,
) -> Result<Addresses, MigrateError> {
    if let Some(network) = client
        .get_anchor_account::<Network>(&pda::network())
        .await?
    {
        if let Some(requested) = opts.mint.filter(|m| m != &network.mint) {
            return Err(MigrateError::MintMismatch {
                existing: network.mint,
                requested,
            });
        }
        info!(network = %pda::network(), "network already initialised");
        return Ok(Addresses::of(&network, false));
    }

    let created_mint = opts.mint.is_none();
    let mint = match opts.mint {
        Some(mint) => {
            if !exists(client, &mint).await? {
                return Err(MigrateError::MissingMint(mint));
            }
            mint
        }
        None => {
            let mint = keys::load_or_create(&opts.state_dir.join("mint.json"))?;
            if !exists(client, &mint.pubkey()).await? {
                let rent = client
                    .rpc()
                    .get_minimum_balance_for_rent_exemption(token::MINT_LEN)
                    .await
                    .map_err(|e| ChainError::Rpc(Box::new(e)))?;
                let ixs = token::create_mint(
                    &payer.pubkey(),
                    &mint.pubkey(),
                    &payer.pubkey(),
                    opts.decimals,
                    rent,
                );
                client.send_instructions(payer, &ixs, &[&mint]).await?;
                info!(mint = %mint.pubkey(), "created the network's token mint");
            }
            mint.pubkey()
        }
    };

    // The treasury is the program's own PDA token account, created by `initialize_network`.
    let init = ix::initialize_network(&payer.pubkey(), &mint, opts.params.clone());
    client.send_instructions(payer, &[init], &[]).await?;
    let network = client
        .get_anchor_account::<Network>(&pda::network())
        .await?
        .ok_or_else(|| ChainError::Unexpected("network missing after initialize_network".into()))?;
    info!(network = %pda::network(), "network initialised");
    if opts.bond_deposit > 0 {
        deposit_bond(
            client,
            payer,
            &mint,
            &network.orchestrator,
            opts,
            created_mint,
        )
        .await?;
    }
    Ok(Addresses::of(&network, true))
}

/// Funds the orchestrator's bond, so its receipts (`post_receipt`) are accepted.
async fn deposit_bond(
    client: &ChainClient,
    payer: &Keypair,
    mint: &Pubkey,
    orchestrator: &Pubkey,
    opts: &Options,
    mint_first: bool,
) -> Result<(), MigrateError> {
    let me = payer.pubkey();
    let source = token::associated_account(&me, mint);
    let mut ixs = vec![token::create_associated_account(&me, &me, mint)];
    if mint_first {
        ixs.push(token::mint_to(mint, &source, &me, opts.bond_deposit));
    }
    ixs.push(ix::deposit_bond(
        &me,
        orchestrator,
        mint,
        &source,
        opts.bond_deposit,
    ));
    client.send_instructions(payer, &ixs, &[]).await?;
    info!(%orchestrator, amount = opts.bond_deposit, "orchestrator bond deposited");
    Ok(())
}
