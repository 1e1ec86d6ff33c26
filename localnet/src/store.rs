//! Durable state of the development chain: one SQLite file under the data directory.
//!
//! After each committed transaction the chain writes, in one SQLite transaction with
//! `synchronous=FULL`, the post-state of every account the transaction could write and the
//! transaction's status and metadata. A reply to `sendTransaction` is only sent after that
//! commit returns, so a `kill -9` never loses an acknowledged transaction. On restart the
//! accounts are loaded back into a fresh bank (see `bank.rs`).
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use solana_account::{AccountSharedData, ReadableAccount, WritableAccount};
use solana_clock::{Slot, UnixTimestamp};
use solana_message::v0::LoadedAddresses;
use solana_pubkey::Pubkey;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status::{
    InnerInstructions, TransactionStatusMeta, TransactionTokenBalance,
};

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("encoding: {0}")]
    Encoding(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A token balance as the runtime records it (serde twin of `TransactionTokenBalance`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenBalanceRecord {
    pub account_index: u8,
    pub mint: String,
    pub owner: String,
    pub program_id: String,
    pub amount: u64,
    pub decimals: u8,
}

impl TokenBalanceRecord {
    pub fn to_status(&self) -> TransactionTokenBalance {
        TransactionTokenBalance {
            account_index: self.account_index,
            mint: self.mint.clone(),
            ui_token_amount: crate::token::ui_amount(self.amount, self.decimals),
            owner: self.owner.clone(),
            program_id: self.program_id.clone(),
        }
    }
}

/// Status and metadata of one committed transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetaRecord {
    pub err: Option<TransactionError>,
    pub fee: u64,
    pub pre_balances: Vec<u64>,
    pub post_balances: Vec<u64>,
    pub logs: Vec<String>,
    pub inner_instructions: Vec<InnerInstructions>,
    pub pre_token_balances: Vec<TokenBalanceRecord>,
    pub post_token_balances: Vec<TokenBalanceRecord>,
    pub loaded_addresses: LoadedAddresses,
    pub return_data: Option<solana_transaction_context::TransactionReturnData>,
    pub compute_units_consumed: u64,
}

impl MetaRecord {
    pub fn to_status_meta(&self) -> TransactionStatusMeta {
        TransactionStatusMeta {
            status: match &self.err {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            },
            fee: self.fee,
            pre_balances: self.pre_balances.clone(),
            post_balances: self.post_balances.clone(),
            inner_instructions: Some(self.inner_instructions.clone()),
            log_messages: Some(self.logs.clone()),
            pre_token_balances: Some(
                self.pre_token_balances
                    .iter()
                    .map(|b| b.to_status())
                    .collect(),
            ),
            post_token_balances: Some(
                self.post_token_balances
                    .iter()
                    .map(|b| b.to_status())
                    .collect(),
            ),
            rewards: Some(vec![]),
            loaded_addresses: self.loaded_addresses.clone(),
            return_data: self.return_data.clone(),
            compute_units_consumed: Some(self.compute_units_consumed),
            cost_units: None,
        }
    }
}

/// One committed transaction as stored.
#[derive(Clone, Debug)]
pub struct TxRecord {
    pub signature: String,
    pub slot: Slot,
    pub block_time: UnixTimestamp,
    pub transaction: VersionedTransaction,
    pub meta: MetaRecord,
}

/// Chain-wide values that must survive a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainMeta {
    /// Wall-clock milliseconds since the Unix epoch at which slot 0 began.
    pub genesis_unix_ms: i64,
    /// Slots added by `tesseraDev_advanceClock` on top of wall time.
    pub offset_slots: u64,
}

/// The SQLite file and the statements the chain needs.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (or creates) `<dir>/chain.sqlite`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Encoding(e.to_string()))?;
        let conn = Connection::open(dir.join("chain.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS accounts (
                 pubkey BLOB PRIMARY KEY, lamports INTEGER NOT NULL, owner BLOB NOT NULL,
                 executable INTEGER NOT NULL, rent_epoch INTEGER NOT NULL, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS transactions (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, signature TEXT NOT NULL UNIQUE,
                 slot INTEGER NOT NULL, block_time INTEGER NOT NULL,
                 tx BLOB NOT NULL, meta TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS address_signatures (
                 address TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (address, seq));",
        )?;
        Ok(Self { conn })
    }

    /// Reads the chain meta, writing `fresh` first if this is a new data directory.
    pub fn chain_meta_or_init(&mut self, fresh: ChainMeta) -> Result<ChainMeta> {
        let get = |conn: &Connection, key: &str| -> Result<Option<i64>> {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        match (
            get(&self.conn, "genesis_unix_ms")?,
            get(&self.conn, "offset_slots")?,
        ) {
            (Some(g), Some(o)) => Ok(ChainMeta {
                genesis_unix_ms: g,
                offset_slots: o as u64,
            }),
            _ => {
                self.set_offset_slots(fresh.offset_slots)?;
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('genesis_unix_ms', ?1)",
                    [fresh.genesis_unix_ms],
                )?;
                Ok(fresh)
            }
        }
    }

    pub fn set_offset_slots(&mut self, offset: u64) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('offset_slots', ?1)",
            [offset as i64],
        )?;
        Ok(())
    }

    /// Every account stored so far.
    pub fn load_accounts(&self) -> Result<Vec<(Pubkey, AccountSharedData)>> {
        let mut stmt = self.conn.prepare(
            "SELECT pubkey, lamports, owner, executable, rent_epoch, data FROM accounts",
        )?;
        let rows = stmt.query_map([], |r| {
            let key: Vec<u8> = r.get(0)?;
            let lamports: i64 = r.get(1)?;
            let owner: Vec<u8> = r.get(2)?;
            let executable: bool = r.get(3)?;
            let rent_epoch: i64 = r.get(4)?;
            let data: Vec<u8> = r.get(5)?;
            Ok((key, lamports, owner, executable, rent_epoch, data))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, lamports, owner, executable, rent_epoch, data) = row?;
            let key = Pubkey::try_from(key.as_slice())
                .map_err(|_| StoreError::Encoding("bad pubkey".into()))?;
            let owner = Pubkey::try_from(owner.as_slice())
                .map_err(|_| StoreError::Encoding("bad owner".into()))?;
            let mut account = AccountSharedData::new(lamports as u64, 0, &owner);
            account.set_data_from_slice(&data);
            account.set_executable(executable);
            account.set_rent_epoch(rent_epoch as u64);
            out.push((key, account));
        }
        Ok(out)
    }

    /// Writes a committed transaction and the post-state of the accounts it could write,
    /// atomically and durably.
    pub fn commit(
        &mut self,
        accounts: &[(Pubkey, AccountSharedData)],
        record: Option<&TxRecord>,
        addresses: &[Pubkey],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (key, account) in accounts {
            if account.lamports() == 0 {
                tx.execute("DELETE FROM accounts WHERE pubkey = ?1", [key.as_ref()])?;
                continue;
            }
            tx.execute(
                "INSERT OR REPLACE INTO accounts (pubkey, lamports, owner, executable, rent_epoch, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.as_ref(),
                    account.lamports() as i64,
                    account.owner().as_ref(),
                    account.executable(),
                    account.rent_epoch() as i64,
                    account.data(),
                ],
            )?;
        }
        if let Some(record) = record {
            let tx_bytes = bincode::serialize(&record.transaction)
                .map_err(|e| StoreError::Encoding(e.to_string()))?;
            let meta = serde_json::to_string(&record.meta)
                .map_err(|e| StoreError::Encoding(e.to_string()))?;
            tx.execute(
                "INSERT INTO transactions (signature, slot, block_time, tx, meta) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    record.signature,
                    record.slot as i64,
                    record.block_time,
                    tx_bytes,
                    meta
                ],
            )?;
            let seq = tx.last_insert_rowid();
            for address in addresses {
                tx.execute(
                    "INSERT OR IGNORE INTO address_signatures (address, seq) VALUES (?1, ?2)",
                    params![address.to_string(), seq],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn row_to_record(
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<(String, i64, i64, Vec<u8>, String)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    }

    fn decode(row: (String, i64, i64, Vec<u8>, String)) -> Result<TxRecord> {
        let (signature, slot, block_time, tx, meta) = row;
        Ok(TxRecord {
            signature,
            slot: slot as u64,
            block_time,
            transaction: bincode::deserialize(&tx)
                .map_err(|e| StoreError::Encoding(e.to_string()))?,
            meta: serde_json::from_str(&meta).map_err(|e| StoreError::Encoding(e.to_string()))?,
        })
    }

    /// The stored transaction with this signature, if any.
    pub fn transaction(&self, signature: &str) -> Result<Option<TxRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT signature, slot, block_time, tx, meta FROM transactions WHERE signature = ?1",
                [signature],
                Self::row_to_record,
            )
            .optional()?;
        row.map(Self::decode).transpose()
    }

    /// Number of committed transactions.
    pub fn transaction_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn seq_of(&self, signature: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq FROM transactions WHERE signature = ?1",
                [signature],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Signatures naming `address`, newest first, strictly between `until` and `before`.
    pub fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<&str>,
        until: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TxRecord>> {
        let before = match before {
            Some(s) => self.seq_of(s)?.unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        let until = match until {
            Some(s) => self.seq_of(s)?.unwrap_or(0),
            None => 0,
        };
        let mut stmt = self.conn.prepare(
            "SELECT t.signature, t.slot, t.block_time, t.tx, t.meta
             FROM address_signatures a JOIN transactions t ON t.seq = a.seq
             WHERE a.address = ?1 AND a.seq < ?2 AND a.seq > ?3
             ORDER BY a.seq DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![address.to_string(), before, until, limit as i64],
            Self::row_to_record,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(Self::decode(row?)?);
        }
        Ok(out)
    }
}
