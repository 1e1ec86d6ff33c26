//! The chain client: `RpcClient` plus the send/confirm discipline Tessera needs.
//!
//! `send_and_confirm` sends a transaction the caller already signed, polls its status and,
//! while its blockhash is still valid, re-sends *the same* signed bytes (same signature), so
//! one intent can never land twice. Works against `tessera-localnet`, `solana-test-validator`
//! or devnet alike; only [`ChainClient::dev_advance_clock`] needs the local chain.
use std::time::{Duration, Instant};

use anchor_lang::{AccountDeserialize, Discriminator};
use solana_account_decoder::UiAccountEncoding;
use solana_client::client_error::ClientErrorKind;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig,
};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_client::rpc_request::{RpcError, RpcRequest, RpcResponseErrorData};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::Transaction;
use solana_transaction_status::UiTransactionEncoding;
use tracing::{debug, instrument};

pub use crate::error::{program_error_code, ChainError};

/// How often a status is polled.
const POLL: Duration = Duration::from_millis(200);
/// How long to wait for a status before re-sending the same transaction.
const RESEND_AFTER: Duration = Duration::from_secs(2);

/// RPC chain client.
pub struct ChainClient {
    rpc: RpcClient,
    commitment: CommitmentConfig,
}

impl ChainClient {
    /// A client for `url` reading at `commitment`.
    pub fn new(url: impl Into<String>, commitment: CommitmentConfig) -> Self {
        Self {
            rpc: RpcClient::new_with_commitment(url.into(), commitment),
            commitment,
        }
    }

    /// The underlying `RpcClient`, for calls this type does not wrap.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// A fresh blockhash to sign with.
    pub async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        Ok(self.rpc.get_latest_blockhash().await?)
    }

    fn send_config(&self, skip_preflight: bool) -> RpcSendTransactionConfig {
        RpcSendTransactionConfig {
            skip_preflight,
            preflight_commitment: Some(self.commitment.commitment),
            encoding: Some(UiTransactionEncoding::Base64),
            max_retries: Some(0),
            min_context_slot: None,
        }
    }

    /// Sends a signed transaction and waits until it is confirmed at the client's commitment.
    /// Re-sends the identical transaction until its blockhash expires; never re-signs.
    #[instrument(skip_all, fields(signature = %tx.signatures.first().copied().unwrap_or_default()))]
    pub async fn send_and_confirm(&self, tx: &Transaction) -> Result<Signature, ChainError> {
        let signature = tx.signatures.first().copied().unwrap_or_default();
        let blockhash = tx.message.recent_blockhash;
        if let Err(e) = self
            .rpc
            .send_transaction_with_config(tx, self.send_config(false))
            .await
        {
            return Err(preflight_error(e));
        }
        debug!("sent");
        loop {
            let deadline = Instant::now() + RESEND_AFTER;
            while Instant::now() < deadline {
                if let Some(result) = self.status(&signature).await? {
                    return result;
                }
                tokio::time::sleep(POLL).await;
            }
            if !self
                .rpc
                .is_blockhash_valid(&blockhash, self.commitment)
                .await?
            {
                // One last look: it may have landed just before expiry.
                if let Some(result) = self.status(&signature).await? {
                    return result;
                }
                return Err(ChainError::Expired { signature });
            }
            debug!("re-sending the same transaction");
            // Skip preflight: a preflight of a landed transaction reports AlreadyProcessed.
            let _ = self
                .rpc
                .send_transaction_with_config(tx, self.send_config(true))
                .await;
        }
    }

    /// Signs `instructions` with `payer` (the fee payer) and `extra` signers over a fresh
    /// blockhash, then [`send_and_confirm`](Self::send_and_confirm)s that one transaction.
    pub async fn send_instructions(
        &self,
        payer: &Keypair,
        instructions: &[Instruction],
        extra: &[&Keypair],
    ) -> Result<Signature, ChainError> {
        let blockhash = self.latest_blockhash().await?;
        let mut signers = vec![payer];
        signers.extend_from_slice(extra);
        let tx = Transaction::new_signed_with_payer(
            instructions,
            Some(&payer.pubkey()),
            &signers,
            blockhash,
        );
        self.send_and_confirm(&tx).await
    }

    /// Creates a new token account of `mint` owned by `owner` (rent paid by `payer`).
    pub async fn create_token_account(
        &self,
        payer: &Keypair,
        mint: &Pubkey,
        owner: &Pubkey,
    ) -> Result<Pubkey, ChainError> {
        let account = Keypair::new();
        let rent = self
            .rpc
            .get_minimum_balance_for_rent_exemption(crate::token::ACCOUNT_LEN)
            .await?;
        let ixs = crate::token::create_token_account(
            &payer.pubkey(),
            &account.pubkey(),
            mint,
            owner,
            rent,
        );
        self.send_instructions(payer, &ixs, &[&account]).await?;
        Ok(account.pubkey())
    }

    /// `Some(outcome)` once the signature is confirmed at the client's commitment.
    async fn status(
        &self,
        signature: &Signature,
    ) -> Result<Option<Result<Signature, ChainError>>, ChainError> {
        let statuses = self.rpc.get_signature_statuses(&[*signature]).await?.value;
        let Some(Some(status)) = statuses.into_iter().next() else {
            return Ok(None);
        };
        if !status.satisfies_commitment(self.commitment) {
            return Ok(None);
        }
        Ok(Some(match status.err {
            None => Ok(*signature),
            Some(err) => Err(ChainError::Failed {
                signature: *signature,
                program_error: program_error_code(&err),
                err,
            }),
        }))
    }

    /// The Tessera account at `address` decoded as `T` (discriminator checked), or `None` if it
    /// does not exist. An account not owned by the program is an error.
    pub async fn get_anchor_account<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
    ) -> Result<Option<T>, ChainError> {
        let account = self
            .rpc
            .get_account_with_commitment(address, self.commitment)
            .await?
            .value;
        decode_anchor(address, account)
    }

    /// The accounts at `addresses`, in order (`None` where absent), with one
    /// `getMultipleAccounts` call per [`MAX_MULTIPLE_ACCOUNTS`] addresses.
    pub async fn get_accounts(
        &self,
        addresses: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let mut out = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(MAX_MULTIPLE_ACCOUNTS) {
            let got = self
                .rpc
                .get_multiple_accounts_with_commitment(chunk, self.commitment)
                .await?
                .value;
            if got.len() != chunk.len() {
                return Err(ChainError::Unexpected(format!(
                    "getMultipleAccounts returned {} accounts for {} keys",
                    got.len(),
                    chunk.len()
                )));
            }
            out.extend(got);
        }
        Ok(out)
    }

    /// [`get_anchor_account`](Self::get_anchor_account) for many addresses of one type, in
    /// as few calls as [`get_accounts`](Self::get_accounts).
    pub async fn get_anchor_accounts<T: AccountDeserialize>(
        &self,
        addresses: &[Pubkey],
    ) -> Result<Vec<Option<T>>, ChainError> {
        let accounts = self.get_accounts(addresses).await?;
        addresses
            .iter()
            .zip(accounts)
            .map(|(a, acc)| decode_anchor(a, acc))
            .collect()
    }

    /// Every program account of type `T` that holds `key` at byte `offset` (the job or node
    /// key of a claim or contest, say).
    pub async fn program_accounts_holding<T: AccountDeserialize + Discriminator>(
        &self,
        offset: usize,
        key: &Pubkey,
    ) -> Result<Vec<(Pubkey, T)>, ChainError> {
        self.list_program_accounts(vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
            offset,
            key.as_ref(),
        ))])
        .await
    }

    /// Every program account of type `T` (selected by its discriminator) passing `filters`.
    pub async fn list_program_accounts<T: AccountDeserialize + Discriminator>(
        &self,
        filters: Vec<RpcFilterType>,
    ) -> Result<Vec<(Pubkey, T)>, ChainError> {
        let mut all = vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
            0,
            T::DISCRIMINATOR,
        ))];
        all.extend(filters);
        #[allow(deprecated)]
        let found = self
            .rpc
            .get_program_accounts_with_config(
                &tessera::ID,
                RpcProgramAccountsConfig {
                    filters: Some(all),
                    account_config: RpcAccountInfoConfig {
                        encoding: Some(UiAccountEncoding::Base64),
                        commitment: Some(self.commitment),
                        ..RpcAccountInfoConfig::default()
                    },
                    ..RpcProgramAccountsConfig::default()
                },
            )
            .await?;
        found
            .into_iter()
            .map(|(address, account)| {
                T::try_deserialize(&mut account.data.as_slice())
                    .map(|v| (address, v))
                    .map_err(|e| ChainError::Decode {
                        address,
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// Raw token amount held by an SPL Token account.
    pub async fn token_balance(&self, token_account: &Pubkey) -> Result<u64, ChainError> {
        let amount = self.rpc.get_token_account_balance(token_account).await?;
        amount
            .amount
            .parse()
            .map_err(|e| ChainError::Unexpected(format!("token amount: {e}")))
    }

    /// SOL balance in lamports.
    pub async fn balance(&self, address: &Pubkey) -> Result<u64, ChainError> {
        Ok(self.rpc.get_balance(address).await?)
    }

    /// Requests an airdrop and waits until it is confirmed.
    pub async fn airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, ChainError> {
        let signature = self.rpc.request_airdrop(to, lamports).await?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(90) {
            if let Some(result) = self.status(&signature).await? {
                return result;
            }
            tokio::time::sleep(POLL).await;
        }
        Err(ChainError::Expired { signature })
    }

    /// Development chain only: moves the clock forward by `seconds`; returns the new slot and
    /// unix timestamp. Fails on a real cluster (the method does not exist there).
    pub async fn dev_advance_clock(&self, seconds: u64) -> Result<(u64, i64), ChainError> {
        let value: serde_json::Value = self
            .rpc
            .send(
                RpcRequest::Custom {
                    method: "tesseraDev_advanceClock",
                },
                serde_json::json!([seconds]),
            )
            .await?;
        let slot = value["slot"].as_u64();
        let ts = value["unixTimestamp"].as_i64();
        match (slot, ts) {
            (Some(slot), Some(ts)) => Ok((slot, ts)),
            _ => Err(ChainError::Unexpected(value.to_string())),
        }
    }
}

/// Most addresses one `getMultipleAccounts` call takes (Agave's limit).
pub const MAX_MULTIPLE_ACCOUNTS: usize = 100;

/// A Tessera account decoded as `T` (discriminator checked), `None` when absent. An
/// account not owned by the program is an error: only the program writes its accounts, so
/// a look-alike owned by anyone else is refused.
pub fn decode_anchor<T: AccountDeserialize>(
    address: &Pubkey,
    account: Option<Account>,
) -> Result<Option<T>, ChainError> {
    let Some(account) = account else {
        return Ok(None);
    };
    if account.owner != tessera::ID {
        return Err(ChainError::Decode {
            address: *address,
            reason: format!("owned by {}, not the Tessera program", account.owner),
        });
    }
    T::try_deserialize(&mut account.data.as_slice())
        .map(Some)
        .map_err(|e| ChainError::Decode {
            address: *address,
            reason: e.to_string(),
        })
}

/// Maps a failed send to a preflight error when the node says so.
fn preflight_error(e: solana_client::client_error::ClientError) -> ChainError {
    if let ClientErrorKind::RpcError(RpcError::RpcResponseError {
        data: RpcResponseErrorData::SendTransactionPreflightFailure(result),
        ..
    }) = e.kind()
    {
        if let Some(err) = result.err.clone() {
            let err: solana_transaction_error::TransactionError = err.into();
            return ChainError::Preflight {
                program_error: program_error_code(&err),
                logs: result.logs.clone().unwrap_or_default(),
                err,
            };
        }
    }
    ChainError::from(e)
}
