//! The orchestrator's view of the chain, on the SDK's `ChainClient`: reads of the program's
//! accounts and escrow vaults, and the step-by-step sending the receipt poster needs (it
//! persists a signed transaction before sending it, so it sends and polls separately).
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_program_pack::Pack;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::Transaction;
use tessera_sdk::client::{ChainClient, ChainError as SdkChainError};
use tessera_sdk::{pda, Job, Network, Node};

use crate::error::ChainError;

/// The SPL Token program (owner of every escrow vault).
pub const TOKEN_PROGRAM: Pubkey = spl_token_interface::ID;

/// The fields of an SPL token account the escrow check needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenAccount {
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
}

pub struct Chain {
    client: ChainClient,
}

fn rpc_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

fn sdk_err(e: SdkChainError) -> ChainError {
    match e {
        SdkChainError::Decode { address, reason } => {
            ChainError::Decode(address.to_string(), reason)
        }
        other => rpc_err(other),
    }
}

/// A program account of a batch read, decoded (owner and discriminator checked).
fn decode<T: anchor_lang::AccountDeserialize>(
    key: &Pubkey,
    account: Option<Account>,
) -> Result<Option<T>, ChainError> {
    tessera_sdk::client::decode_anchor(key, account).map_err(sdk_err)
}

impl Chain {
    pub fn new(url: &str) -> Self {
        Self {
            client: ChainClient::new(url, CommitmentConfig::confirmed()),
        }
    }

    pub fn rpc(&self) -> &RpcClient {
        self.client.rpc()
    }

    pub async fn account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        Ok(self
            .rpc()
            .get_account_with_commitment(key, CommitmentConfig::confirmed())
            .await
            .map_err(rpc_err)?
            .value)
    }

    async fn anchor<T: anchor_lang::AccountDeserialize>(
        &self,
        key: &Pubkey,
    ) -> Result<Option<T>, ChainError> {
        self.client.get_anchor_account(key).await.map_err(sdk_err)
    }

    /// The network account and the `Node` accounts of `node_keys` (in order), read together
    /// with `getMultipleAccounts`: one RPC call per 100 accounts (see [`Self::calls_for`]).
    pub async fn standings(
        &self,
        node_keys: &[Pubkey],
    ) -> Result<(Option<Network>, Vec<Option<Node>>), ChainError> {
        let mut keys = Vec::with_capacity(node_keys.len() + 1);
        keys.push(pda::network());
        keys.extend(node_keys.iter().map(pda::node));
        let mut accounts = self
            .client
            .get_accounts(&keys)
            .await
            .map_err(sdk_err)?
            .into_iter();
        let network = decode(&keys[0], accounts.next().flatten())?;
        let nodes = keys[1..]
            .iter()
            .zip(accounts)
            .map(|(k, a)| decode(k, a))
            .collect::<Result<_, _>>()?;
        Ok((network, nodes))
    }

    /// RPC calls [`Self::standings`] makes for `nodes` node keys.
    pub fn calls_for(nodes: usize) -> u64 {
        (nodes + 1).div_ceil(tessera_sdk::client::MAX_MULTIPLE_ACCOUNTS) as u64
    }

    pub async fn job(&self, job_id: u64) -> Result<Option<Job>, ChainError> {
        self.anchor(&pda::job(job_id)).await
    }

    /// The job account as of the last `finalized` block (reconciliation: what no fork
    /// switch can take back).
    pub async fn job_finalized(&self, job_id: u64) -> Result<Option<Job>, ChainError> {
        let key = pda::job(job_id);
        let acc = self
            .rpc()
            .get_account_with_commitment(&key, CommitmentConfig::finalized())
            .await
            .map_err(rpc_err)?
            .value;
        acc.map(|a| {
            tessera_sdk::accounts::decode(&a.data)
                .map_err(|e| ChainError::Decode(key.to_string(), e.to_string()))
        })
        .transpose()
    }

    pub async fn network(&self) -> Result<Option<Network>, ChainError> {
        self.anchor(&pda::network()).await
    }

    pub async fn node(&self, node_key: &Pubkey) -> Result<Option<Node>, ChainError> {
        self.anchor(&pda::node(node_key)).await
    }

    /// Every registered node (for the network's total benchmark score).
    pub async fn nodes(&self) -> Result<Vec<Node>, ChainError> {
        Ok(self
            .client
            .list_program_accounts::<Node>(vec![])
            .await
            .map_err(rpc_err)?
            .into_iter()
            .map(|(_, n)| n)
            .collect())
    }

    /// An SPL token account (`None` when absent or not a token account).
    pub async fn token_account(&self, key: &Pubkey) -> Result<Option<TokenAccount>, ChainError> {
        let Some(acc) = self.account(key).await? else {
            return Ok(None);
        };
        if acc.owner != TOKEN_PROGRAM {
            return Ok(None);
        }
        Ok(spl_token_interface::state::Account::unpack(&acc.data)
            .ok()
            .map(|a| TokenAccount {
                mint: a.mint,
                owner: a.owner,
                amount: a.amount,
            }))
    }

    pub async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.client.latest_blockhash().await.map_err(rpc_err)
    }

    pub async fn blockhash_valid(&self, hash: &Hash) -> Result<bool, ChainError> {
        self.rpc()
            .is_blockhash_valid(hash, CommitmentConfig::confirmed())
            .await
            .map_err(rpc_err)
    }

    /// Sends an already signed transaction. Re-sending the same bytes is harmless: the
    /// chain processes a signature at most once.
    pub async fn send(&self, tx: &Transaction) -> Result<Signature, ChainError> {
        self.rpc()
            .send_transaction_with_config(
                tx,
                RpcSendTransactionConfig {
                    skip_preflight: true,
                    ..Default::default()
                },
            )
            .await
            .map_err(rpc_err)
    }

    /// `None` while unknown or not finalized; `Some(Ok)` when finalized; `Some(Err)` when it
    /// failed in a finalized block. Finalized only: a receipt in a block of a fork the
    /// cluster later drops would otherwise count as posted and be lost (issue 14).
    pub async fn status(&self, sig: &Signature) -> Result<Option<Result<(), String>>, ChainError> {
        let r = self
            .rpc()
            .get_signature_statuses(&[*sig])
            .await
            .map_err(rpc_err)?;
        let finalized = r
            .value
            .into_iter()
            .next()
            .flatten()
            .filter(|s| s.satisfies_commitment(CommitmentConfig::finalized()));
        Ok(finalized.map(|s| match s.err {
            None => Ok(()),
            Some(e) => Err(format!("{e:?}")),
        }))
    }
}
