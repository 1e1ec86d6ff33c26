//! The orchestrator's view of the chain: reads of the program's accounts and the sending
//! of signed transactions, on `solana-client`'s nonblocking `RpcClient`.
//! (Written here rather than in the SDK while the SDK's `ChainClient` is being finished.)
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::Transaction;
use tessera_sdk::{pda, Job, Network, Node};

use crate::error::ChainError;

/// The SPL Token program (owner of every escrow vault).
pub const TOKEN_PROGRAM: Pubkey =
    Pubkey::from_str_const("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");

/// The fields of an SPL token account the escrow check needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenAccount {
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
}

pub struct Chain {
    rpc: RpcClient,
}

fn rpc_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

impl Chain {
    pub fn new(url: &str) -> Self {
        Self {
            rpc: RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::confirmed()),
        }
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    pub async fn account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        Ok(self
            .rpc
            .get_account_with_commitment(key, CommitmentConfig::confirmed())
            .await
            .map_err(rpc_err)?
            .value)
    }

    async fn anchor<T>(&self, key: &Pubkey) -> Result<Option<T>, ChainError>
    where
        T: anchor_lang::AccountDeserialize + anchor_lang::Discriminator,
    {
        let Some(acc) = self.account(key).await? else {
            return Ok(None);
        };
        if acc.owner != tessera_sdk::PROGRAM_ID {
            return Err(ChainError::Decode(
                key.to_string(),
                "not owned by the Tessera program".into(),
            ));
        }
        tessera_sdk::accounts::decode::<T>(&acc.data)
            .map(Some)
            .map_err(|e| ChainError::Decode(key.to_string(), e.to_string()))
    }

    pub async fn job(&self, job_id: u64) -> Result<Option<Job>, ChainError> {
        self.anchor(&pda::job(job_id)).await
    }

    pub async fn network(&self) -> Result<Option<Network>, ChainError> {
        self.anchor(&pda::network()).await
    }

    pub async fn node(&self, node_key: &Pubkey) -> Result<Option<Node>, ChainError> {
        self.anchor(&pda::node(node_key)).await
    }

    /// An SPL token account (`None` when absent or not a token account).
    pub async fn token_account(&self, key: &Pubkey) -> Result<Option<TokenAccount>, ChainError> {
        let Some(acc) = self.account(key).await? else {
            return Ok(None);
        };
        if acc.owner != TOKEN_PROGRAM || acc.data.len() < 72 {
            return Ok(None);
        }
        let d = &acc.data;
        Ok(Some(TokenAccount {
            mint: Pubkey::try_from(&d[0..32]).map_err(rpc_err)?,
            owner: Pubkey::try_from(&d[32..64]).map_err(rpc_err)?,
            amount: u64::from_le_bytes(d[64..72].try_into().expect("8 bytes")),
        }))
    }

    pub async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.rpc.get_latest_blockhash().await.map_err(rpc_err)
    }

    pub async fn blockhash_valid(&self, hash: &Hash) -> Result<bool, ChainError> {
        self.rpc
            .is_blockhash_valid(hash, CommitmentConfig::confirmed())
            .await
            .map_err(rpc_err)
    }

    /// Sends an already signed transaction. Re-sending the same bytes is harmless: the
    /// chain processes a signature at most once.
    pub async fn send(&self, tx: &Transaction) -> Result<Signature, ChainError> {
        self.rpc
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

    /// `None` while unknown; `Some(Ok)` when landed; `Some(Err)` when it failed on-chain.
    pub async fn status(&self, sig: &Signature) -> Result<Option<Result<(), String>>, ChainError> {
        let r = self
            .rpc
            .get_signature_statuses(&[*sig])
            .await
            .map_err(rpc_err)?;
        Ok(r.value.into_iter().next().flatten().map(|s| match s.err {
            None => Ok(()),
            Some(e) => Err(format!("{e:?}")),
        }))
    }
}
