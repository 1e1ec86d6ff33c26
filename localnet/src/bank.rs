//! The chain itself: a real Agave `Bank` (the one `solana-program-test` builds) with the
//! Tessera program registered as a native builtin and SPL Token loaded as SBF bytecode.
//!
//! Why not `ProgramTestContext`: its background task registers a new blockhash every 6.4 ms
//! (so a blockhash expires after about one second) and its `Bank` is private. Here the bank is
//! built the way `ProgramTest::setup_bank` builds it — same genesis helper, same SPL `.so`
//! files, the native program behind program-test's own `processor!` shim and CPI syscall
//! stubs — but this module owns the `BankForks` and produces one slot every 400 ms.
//!
//! All access happens on one thread (`BankHandle` sends closures to it).
#![allow(deprecated)]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use solana_account::{AccountSharedData, ReadableAccount};
use solana_accounts_db::accounts_db::ACCOUNTS_DB_CONFIG_FOR_TESTING;
use solana_accounts_db::accounts_index::ScanConfig;
use solana_clock::{Slot, UnixTimestamp, MAX_PROCESSING_AGE};
use solana_cluster_type::ClusterType;
use solana_fee_calculator::FeeRateGovernor;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_message::v0::LoadedAddresses;
use solana_poh_config::PohConfig;
use solana_program_runtime::invoke_context::BuiltinFunctionWithContext;
use solana_program_runtime::loaded_programs::ProgramCacheEntry;
use solana_pubkey::Pubkey;
use solana_rent::Rent;
use solana_runtime::bank::{Bank, TransactionSimulationResult};
use solana_runtime::bank_forks::BankForks;
use solana_runtime::genesis_utils::create_genesis_config_with_leader_ex;
use solana_runtime::runtime_config::RuntimeConfig;
use solana_signer::Signer;
use solana_svm::transaction_processing_result::ProcessedTransaction;
use solana_svm::transaction_processor::ExecutionRecordingConfig;
use solana_svm_timings::ExecuteTimings;
use solana_transaction::sanitized::SanitizedTransaction;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::{Transaction, TransactionVerificationMode};
use solana_transaction_context::TransactionReturnData;
use solana_transaction_error::TransactionError;
use solana_transaction_status::map_inner_instructions;
use tokio::sync::oneshot;

use crate::store::{ChainMeta, MetaRecord, Store, StoreError, TokenBalanceRecord, TxRecord};
use crate::token;

/// Slot length, as on mainnet-beta's target.
pub const SLOT_MS: u64 = 400;
/// Lamports the faucet starts with (500 million SOL).
pub const FAUCET_LAMPORTS: u64 = 500_000_000 * 1_000_000_000;
/// Fee per signature, as on a cluster.
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// Why a transaction was not committed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// It does not decode or sanitize (`-32602` on a validator).
    #[error("invalid transaction: {0}")]
    Invalid(TransactionError),
    /// A signature does not verify (`-32003`).
    #[error("Transaction signature verification failure")]
    SignatureFailure,
    /// Preflight found an error; nothing was committed (`-32002`).
    #[error("Transaction simulation failed: {err}")]
    Preflight {
        err: TransactionError,
        details: Box<SimDetails>,
    },
    /// Preflight was skipped and the runtime refused the transaction before execution
    /// (a validator would drop it silently).
    #[error("dropped: {0}")]
    Dropped(TransactionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a (pre)flight execution reports.
#[derive(Debug, Default, Clone)]
pub struct SimDetails {
    pub logs: Vec<String>,
    pub units_consumed: u64,
    pub loaded_accounts_data_size: u32,
    pub return_data: Option<TransactionReturnData>,
    pub fee: Option<u64>,
}

/// A committed transaction: where it landed.
#[derive(Debug, Clone)]
pub struct Committed {
    pub signature: String,
    pub slot: Slot,
    pub err: Option<TransactionError>,
}

/// The chain: the bank forks, the durable store and the clock.
pub struct Chain {
    forks: Arc<RwLock<BankForks>>,
    store: Store,
    meta: ChainMeta,
    faucet: Keypair,
    collector: Pubkey,
    genesis_hash: Hash,
    slots_since_flush: u64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Sets program-test's CPI syscall stubs (a process-wide `Once` inside `ProgramTest`),
/// which the native Tessera program needs for `invoke_signed` into SPL Token.
fn install_program_test_stubs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for stub setup");
        rt.block_on(async {
            let ctx = solana_program_test::ProgramTest::default()
                .start_with_context()
                .await;
            drop(ctx);
        });
    });
}

fn tessera_builtin() -> BuiltinFunctionWithContext {
    let f: Option<BuiltinFunctionWithContext> =
        solana_program_test::processor!(tessera::native::process_instruction);
    f.expect("processor! always yields a function")
}

impl Chain {
    /// Builds the bank from genesis, loads the stored accounts and catches the clock up with
    /// wall time.
    pub fn open(store: Store, faucet: Keypair) -> Result<Self, StoreError> {
        install_program_test_stubs();
        let mut store = store;
        let meta = store.chain_meta_or_init(ChainMeta {
            genesis_unix_ms: now_ms(),
            offset_slots: 0,
        })?;
        let restored = store.load_accounts()?;

        let rent = Rent::default();
        let validator = Pubkey::new_unique();
        let genesis_features = agave_feature_set::FeatureSet::all_enabled();
        let mut genesis = create_genesis_config_with_leader_ex(
            FAUCET_LAMPORTS,
            &faucet.pubkey(),
            &validator,
            &Pubkey::new_unique(),
            &Pubkey::new_unique(),
            None,
            rent.minimum_balance(3762) + 1_000_000 * 1_000_000_000,
            42,
            FeeRateGovernor {
                lamports_per_signature: LAMPORTS_PER_SIGNATURE,
                ..FeeRateGovernor::default()
            },
            rent.clone(),
            ClusterType::Development,
            &genesis_features,
            vec![],
        );
        genesis.poh_config = PohConfig::new_sleep(Duration::from_micros(SLOT_MS * 1000 / 64));
        genesis.ticks_per_slot = 64;
        genesis.creation_time = meta.genesis_unix_ms / 1000;

        let bank = Bank::new_from_genesis(
            &genesis,
            Arc::new(RuntimeConfig::default()),
            Vec::default(),
            None,
            ACCOUNTS_DB_CONFIG_FOR_TESTING,
            None,
            None,
            Arc::default(),
            None,
            None,
        );
        for (id, account) in solana_program_binaries::spl_programs(&rent).iter() {
            bank.store_account(id, account);
        }
        for (id, account) in solana_program_binaries::core_bpf_programs(&rent, |feature| {
            genesis.accounts.contains_key(feature)
        })
        .iter()
        {
            bank.store_account(id, account);
        }
        bank.add_builtin(
            tessera::ID,
            "tessera",
            ProgramCacheEntry::new_builtin(0, "tessera".len(), tessera_builtin()),
        );
        for (key, account) in &restored {
            bank.store_account(key, account);
        }
        bank.set_capitalization_for_tests(bank.calculate_capitalization_for_tests());
        let bank = Arc::new(bank);
        bank.fill_bank_with_ticks_for_tests();
        let bank1 = Bank::new_from_parent(bank, &validator, 1);
        let forks = BankForks::new_rw_arc(bank1);
        let mut chain = Self {
            forks,
            store,
            meta,
            faucet,
            collector: validator,
            genesis_hash: genesis.hash(),
            slots_since_flush: 0,
        };
        chain.set_clock();
        chain.tick();
        tracing::info!(
            restored = restored.len(),
            slot = chain.bank().slot(),
            "chain opened"
        );
        Ok(chain)
    }

    /// The working bank (all commitment levels read it: one node, no forks).
    pub fn bank(&self) -> Arc<Bank> {
        self.forks.read().expect("bank forks lock").working_bank()
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn faucet(&self) -> &Keypair {
        &self.faucet
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The slot wall time (plus dev offsets) says the chain should be at.
    fn target_slot(&self) -> Slot {
        let elapsed = (now_ms() - self.meta.genesis_unix_ms).max(0) as u64;
        (elapsed / SLOT_MS + self.meta.offset_slots).max(1)
    }

    /// Unix time of a slot: genesis plus 400 ms per slot.
    pub fn block_time(&self, slot: Slot) -> UnixTimestamp {
        (self.meta.genesis_unix_ms + (slot * SLOT_MS) as i64) / 1000
    }

    fn set_clock(&self) {
        let bank = self.bank();
        let mut clock = bank.clock();
        clock.unix_timestamp = self.block_time(bank.slot());
        bank.set_sysvar_for_tests(&clock);
    }

    /// Produces slots until the chain is at its wall-time slot.
    pub fn tick(&mut self) {
        let target = self.target_slot();
        if target > self.bank().slot() {
            self.advance_to(target);
        }
    }

    fn advance_to(&mut self, target: Slot) {
        {
            let mut forks = self.forks.write().expect("bank forks lock");
            let bank = forks.working_bank();
            let current = bank.slot();
            if target <= current {
                return;
            }
            bank.fill_bank_with_ticks_for_tests();
            let parent = if target == current + 1 {
                bank.freeze();
                bank
            } else {
                forks
                    .insert(Bank::warp_from_parent(bank, &self.collector, target - 1))
                    .clone_without_scheduler()
            };
            forks.set_root(parent.slot(), None, Some(parent.slot()));
            self.slots_since_flush += target - current;
            if self.slots_since_flush >= 256 {
                self.slots_since_flush = 0;
                parent.force_flush_accounts_cache();
                parent.shrink_candidate_slots();
            }
            forks.insert(Bank::new_from_parent(parent, &self.collector, target));
        }
        self.set_clock();
    }

    /// Moves the clock forward by `seconds` (development only) and returns the new slot.
    pub fn advance_clock(&mut self, seconds: u64) -> Result<(Slot, UnixTimestamp), StoreError> {
        let slots = (seconds * 1000).div_ceil(SLOT_MS);
        self.meta.offset_slots += slots;
        self.store.set_offset_slots(self.meta.offset_slots)?;
        self.tick();
        let bank = self.bank();
        Ok((bank.slot(), bank.clock().unix_timestamp))
    }

    fn token_balances(bank: &Bank, keys: &[Pubkey]) -> Vec<TokenBalanceRecord> {
        let mut out = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let Some(account) = bank.get_account(key) else {
                continue;
            };
            let Some(state) = token::token_account(&account) else {
                continue;
            };
            let decimals = bank
                .get_account(&state.mint)
                .and_then(|m| token::mint_decimals(&m))
                .unwrap_or(0);
            out.push(TokenBalanceRecord {
                account_index: i as u8,
                mint: state.mint.to_string(),
                owner: state.owner.to_string(),
                program_id: account.owner().to_string(),
                amount: state.amount,
                decimals,
            });
        }
        out
    }

    /// Runs a transaction and, unless preflight finds an error, commits it and writes it to
    /// the store before returning.
    pub fn send(
        &mut self,
        tx: VersionedTransaction,
        preflight: bool,
    ) -> Result<Committed, SendError> {
        let bank = self.bank();
        let runtime_tx = match bank
            .verify_transaction(tx.clone(), TransactionVerificationMode::FullVerification)
        {
            Ok(t) => t,
            Err(TransactionError::SignatureFailure) => return Err(SendError::SignatureFailure),
            Err(e) => return Err(SendError::Invalid(e)),
        };
        let sanitized: &SanitizedTransaction = &runtime_tx;
        let keys: Vec<Pubkey> = sanitized.message().account_keys().iter().copied().collect();
        let writable: Vec<Pubkey> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| sanitized.message().is_writable(*i))
            .map(|(_, k)| *k)
            .collect();
        let loaded_addresses = match sanitized.message() {
            solana_message::SanitizedMessage::V0(m) => LoadedAddresses::clone(&m.loaded_addresses),
            _ => LoadedAddresses::default(),
        };
        let pre_balances: Vec<u64> = keys.iter().map(|k| bank.get_balance(k)).collect();
        let pre_token_balances = Self::token_balances(&bank, &keys);

        let batch = bank.prepare_sanitized_batch(std::slice::from_ref(&runtime_tx));
        let mut aborted: Option<SimDetails> = None;
        let outcome = bank.load_execute_and_commit_transactions_with_pre_commit_callback(
            &batch,
            MAX_PROCESSING_AGE,
            ExecutionRecordingConfig {
                enable_cpi_recording: true,
                enable_log_recording: true,
                enable_return_data_recording: true,
                enable_transaction_balance_recording: false,
            },
            &mut ExecuteTimings::default(),
            None,
            |_, results| {
                if !preflight {
                    return Ok(None);
                }
                match &results[0] {
                    Err(e) => {
                        aborted = Some(SimDetails::default());
                        Err(e.clone())
                    }
                    Ok(ProcessedTransaction::Executed(ex)) => {
                        let d = &ex.execution_details;
                        match &d.status {
                            Ok(()) => Ok(None),
                            Err(e) => {
                                aborted = Some(SimDetails {
                                    logs: d.log_messages.clone().unwrap_or_default(),
                                    units_consumed: d.executed_units,
                                    loaded_accounts_data_size: ex
                                        .loaded_transaction
                                        .loaded_accounts_data_size,
                                    return_data: d.return_data.clone(),
                                    fee: Some(ex.loaded_transaction.fee_details.total_fee()),
                                });
                                Err(e.clone())
                            }
                        }
                    }
                    Ok(ProcessedTransaction::FeesOnly(f)) => {
                        aborted = Some(SimDetails {
                            fee: Some(f.fee_details.total_fee()),
                            ..SimDetails::default()
                        });
                        Err(f.load_error.clone())
                    }
                }
            },
        );
        drop(batch);
        let committed = match outcome {
            Err(err) => {
                return Err(SendError::Preflight {
                    err,
                    details: Box::new(aborted.unwrap_or_default()),
                })
            }
            Ok((mut results, _)) => match results.remove(0) {
                Err(err) => return Err(SendError::Dropped(err)),
                Ok(c) => c,
            },
        };

        let post_balances: Vec<u64> = keys.iter().map(|k| bank.get_balance(k)).collect();
        let post_token_balances = Self::token_balances(&bank, &keys);
        let signature = sanitized.signature().to_string();
        let slot = bank.slot();
        let err = committed.status.clone().err();
        let record = TxRecord {
            signature: signature.clone(),
            slot,
            block_time: self.block_time(slot),
            transaction: tx,
            meta: MetaRecord {
                err: err.clone(),
                fee: committed.fee_details.total_fee(),
                pre_balances,
                post_balances,
                logs: committed.log_messages.unwrap_or_default(),
                inner_instructions: committed
                    .inner_instructions
                    .map(|list| map_inner_instructions(list).collect())
                    .unwrap_or_default(),
                pre_token_balances,
                post_token_balances,
                loaded_addresses,
                return_data: committed.return_data,
                compute_units_consumed: committed.executed_units,
            },
        };
        let accounts: Vec<(Pubkey, AccountSharedData)> = writable
            .iter()
            .map(|k| (*k, bank.get_account(k).unwrap_or_default()))
            .collect();
        self.store.commit(&accounts, Some(&record), &keys)?;
        Ok(Committed {
            signature,
            slot,
            err,
        })
    }

    /// Simulates without committing (`simulateTransaction`).
    pub fn simulate(
        &self,
        mut tx: VersionedTransaction,
        sig_verify: bool,
        replace_blockhash: bool,
    ) -> Result<(TransactionSimulationResult, Vec<Pubkey>, Option<Hash>), SendError> {
        let bank = self.bank();
        let mut replaced = None;
        if replace_blockhash {
            let hash = bank.last_blockhash();
            tx.message.set_recent_blockhash(hash);
            replaced = Some(hash);
        }
        let runtime_tx = match bank.verify_transaction(
            tx,
            if sig_verify {
                TransactionVerificationMode::FullVerification
            } else {
                TransactionVerificationMode::HashOnly
            },
        ) {
            Ok(t) => t,
            Err(TransactionError::SignatureFailure) => return Err(SendError::SignatureFailure),
            Err(e) => return Err(SendError::Invalid(e)),
        };
        let keys = runtime_tx
            .message()
            .account_keys()
            .iter()
            .copied()
            .collect();
        Ok((
            bank.simulate_transaction_unchecked(&runtime_tx, true),
            keys,
            replaced,
        ))
    }

    /// Sends `lamports` from the faucet to `to` as a real System transfer.
    pub fn airdrop(&mut self, to: &Pubkey, lamports: u64) -> Result<Committed, SendError> {
        let bank = self.bank();
        let ix =
            solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&self.faucet.pubkey()),
            &[&self.faucet],
            bank.last_blockhash(),
        );
        self.send(tx.into(), true)
    }

    /// Accounts owned by `program` that pass `filter`.
    pub fn program_accounts(
        &self,
        program: &Pubkey,
        filter: impl Fn(&AccountSharedData) -> bool,
    ) -> Vec<(Pubkey, AccountSharedData)> {
        self.bank()
            .get_filtered_program_accounts(program, filter, &ScanConfig::default())
            .unwrap_or_default()
    }
}

type Job = Box<dyn FnOnce(&mut Chain) + Send>;

enum Msg {
    Job(Job),
    Stop,
}

/// Cheap, cloneable access to the bank thread.
#[derive(Clone)]
pub struct BankHandle {
    tx: mpsc::Sender<Msg>,
}

/// The bank thread is gone (shut down or crashed).
#[derive(Debug, thiserror::Error)]
#[error("the bank thread is not running")]
pub struct BankClosed;

impl BankHandle {
    /// Runs `f` on the bank thread and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Chain) -> R + Send + 'static,
    ) -> Result<R, BankClosed> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Job(Box::new(move |chain| {
                let _ = reply.send(f(chain));
            })))
            .map_err(|_| BankClosed)?;
        rx.await.map_err(|_| BankClosed)
    }

    pub(crate) fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Starts the bank thread; returns its handle and join handle once the chain is open.
pub fn spawn(
    store: Store,
    faucet: Keypair,
) -> anyhow::Result<(BankHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let join = std::thread::Builder::new()
        .name("tessera-bank".into())
        .spawn(move || {
            let mut chain = match Chain::open(store, faucet) {
                Ok(c) => {
                    let _ = ready_tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            loop {
                match rx.recv_timeout(Duration::from_millis(SLOT_MS / 4)) {
                    Ok(Msg::Job(job)) => {
                        let run = std::panic::AssertUnwindSafe(|| job(&mut chain));
                        if std::panic::catch_unwind(run).is_err() {
                            tracing::error!("a bank request panicked; the request failed");
                        }
                    }
                    Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {}
                }
                chain.tick();
            }
            tracing::info!("bank thread stopped");
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((BankHandle { tx }, join)),
        Ok(Err(e)) => anyhow::bail!("opening the chain failed: {e}"),
        Err(_) => anyhow::bail!("the bank thread died while opening the chain"),
    }
}
