//! A real Solana runtime for the program's tests: `solana-program-test`'s bank with Tessera
//! as a native processor and the real SPL Token program (SBF) reached by CPI. Nothing mocked.
#![allow(deprecated)]

use anchor_lang::AccountDeserialize;
use solana_program_pack::Pack;
use solana_program_test::{processor, BanksClientError, ProgramTest, ProgramTestContext};
use solana_sdk::{
    clock::Clock,
    instruction::{Instruction, InstructionError},
    pubkey::Pubkey,
    signature::{Keypair, Signer},
    transaction::{Transaction, TransactionError},
};
use tessera_sdk::{ix, pda, Job, JobParams, NetworkParams, Node};

pub const START_TIME: i64 = 1_800_000_000;
/// When the slash tests register their nodes: before `START_TIME`, when their jobs are created
/// (`corroborate_tile` counts only witnesses registered before the job).
pub const EARLY: i64 = START_TIME - 60;
pub const FEE_BPS: u16 = 250;
pub const MIN_STAKE: u64 = 1_000;
pub const CHALLENGE_WINDOW: i64 = 3_600;
pub const UNSTAKE_COOLDOWN: i64 = 86_400;
pub const CLAIM_GRACE: i64 = 7 * 86_400;
pub const SETTLE_GRACE: i64 = 600;
pub const RESOLUTION_PERIOD: i64 = 7_200;
pub const DISPUTE_BOND: u64 = 500;
pub const SLASH_AMOUNT: u64 = 300;
/// 10%: a 16-tile job pays at most ⌈1.6⌉ = 2 verification renders.
pub const VERIFY_BPS: u16 = 1_000;
pub const PARAMS_TIMELOCK: i64 = tessera::constants::PARAMS_TIMELOCK;
/// The least an orchestrator's bond must hold for `post_receipt`.
pub const ORCHESTRATOR_BOND: u64 = 1_000;
/// What `Env::new` deposits into the test orchestrator's bond.
pub const BOND_DEPOSIT: u64 = 5_000;

pub struct Env {
    pub ctx: ProgramTestContext,
    pub mint: Keypair,
    pub mint_authority: Keypair,
    pub admin: Keypair,
    pub orchestrator: Keypair,
    pub treasury: Pubkey,
    /// Every token account created, to check that tokens are neither created nor lost.
    pub token_accounts: Vec<Pubkey>,
    pub minted: u64,
    pub node_keys: Vec<Pubkey>,
    /// Ids of the jobs created through `create_job`, and the next nonce it uses.
    pub job_ids: Vec<u64>,
    pub next_nonce: u64,
    /// Orchestrator keys whose bond vaults exist (`deposit_bond`).
    pub bonded: Vec<Pubkey>,
}

pub struct NodeFixture {
    pub operator: Keypair,
    pub key: Keypair,
    pub operator_token: Pubkey,
}

pub struct Artist {
    pub wallet: Keypair,
    pub token: Pubkey,
}

/// A 64×32 frame in 16-pixel tiles, two frames: 4 × 2 × 2 = 16 tiles.
pub fn small_job(deadline: i64) -> JobParams {
    JobParams {
        scene_hash: [7; 32],
        frame_start: 1,
        frame_end: 2,
        width: 64,
        height: 32,
        tile_size: 16,
        samples_per_pixel: 16,
        price_per_tile: 100,
        budget: 2_000,
        deadline,
        frame_rate_num: 24,
        frame_rate_den: 1,
    }
}

impl Env {
    /// A network with a fresh mint, its treasury and the default configuration.
    pub async fn new() -> Self {
        let mut env = Self::bare().await;
        let admin = env.admin.insecure_clone();
        env.send(
            &[ix::initialize_network(
                &admin.pubkey(),
                &env.mint.pubkey(),
                env.default_params(),
            )],
            &[&admin],
        )
        .await
        .expect("initialize_network");
        env.token_accounts.push(env.treasury);
        let orchestrator = env.orchestrator.pubkey();
        env.deposit_bond(&orchestrator, BOND_DEPOSIT)
            .await
            .expect("deposit_bond");
        env
    }

    /// A fresh depositor tops up `orchestrator`'s bond with `amount` newly minted tokens.
    pub async fn deposit_bond(
        &mut self,
        orchestrator: &Pubkey,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let depositor = self.funded().await;
        let token = self.token_account(&depositor.pubkey()).await;
        self.mint_to(&token, amount).await;
        let mint = self.mint.pubkey();
        let ix = ix::deposit_bond(&depositor.pubkey(), orchestrator, &mint, &token, amount);
        self.send(&[ix], &[&depositor]).await?;
        if !self.bonded.contains(orchestrator) {
            self.bonded.push(*orchestrator);
        }
        Ok(())
    }

    /// The balance of `orchestrator`'s bond.
    pub async fn bond_balance(&mut self, orchestrator: &Pubkey) -> u64 {
        self.balance(&pda::bond_vault(orchestrator)).await
    }

    /// A runtime with the mint and a funded admin, but no network yet (`treasury` is the
    /// address `initialize_network` will create).
    pub async fn bare() -> Self {
        let mut pt = ProgramTest::new(
            "tessera",
            tessera::ID,
            processor!(tessera::native::process_instruction),
        );
        pt.prefer_bpf(false);
        let ctx = pt.start_with_context().await;
        let mut env = Env {
            ctx,
            mint: Keypair::new(),
            mint_authority: Keypair::new(),
            admin: Keypair::new(),
            orchestrator: Keypair::new(),
            treasury: Pubkey::default(),
            token_accounts: Vec::new(),
            minted: 0,
            node_keys: Vec::new(),
            job_ids: Vec::new(),
            next_nonce: 0,
            bonded: Vec::new(),
        };
        env.set_time(START_TIME).await;
        env.fund(&env.admin.pubkey()).await;
        env.create_mint().await;
        env.treasury = pda::treasury();
        env
    }

    pub fn default_params(&self) -> NetworkParams {
        NetworkParams {
            orchestrator: self.orchestrator.pubkey(),
            fee_bps: FEE_BPS,
            min_stake: MIN_STAKE,
            challenge_window: CHALLENGE_WINDOW,
            unstake_cooldown: UNSTAKE_COOLDOWN,
            claim_grace: CLAIM_GRACE,
            settle_grace: SETTLE_GRACE,
            resolution_period: RESOLUTION_PERIOD,
            dispute_bond: DISPUTE_BOND,
            slash_amount: SLASH_AMOUNT,
            verify_bps: VERIFY_BPS,
            orchestrator_bond: ORCHESTRATOR_BOND,
        }
    }

    /// Signs with the context payer (fee payer) plus `signers` and processes.
    pub async fn send(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        let payer = self.ctx.payer.insecure_clone();
        let mut all: Vec<&Keypair> = vec![&payer];
        all.extend_from_slice(signers);
        let tx = Transaction::new_signed_with_payer(
            ixs,
            Some(&payer.pubkey()),
            &all,
            self.ctx.last_blockhash,
        );
        self.ctx.banks_client.process_transaction(tx).await
    }

    /// The context payer's key (pays fees; may crank anything anyone may).
    pub fn payer(&self) -> Pubkey {
        self.ctx.payer.pubkey()
    }

    /// A fresh blockhash, so that an identical transaction is not refused as a duplicate.
    pub async fn refresh_blockhash(&mut self) {
        self.ctx.last_blockhash = self
            .ctx
            .get_new_latest_blockhash()
            .await
            .expect("blockhash");
    }

    /// Moves the clock. Also takes a fresh blockhash, so a transaction refused before the
    /// move is not answered from the status cache when sent again.
    pub async fn set_time(&mut self, unix_timestamp: i64) {
        self.refresh_blockhash().await;
        let mut clock: Clock = self.ctx.banks_client.get_sysvar().await.expect("clock");
        clock.unix_timestamp = unix_timestamp;
        self.ctx.set_sysvar(&clock);
    }

    pub async fn now(&mut self) -> i64 {
        let clock: Clock = self.ctx.banks_client.get_sysvar().await.expect("clock");
        clock.unix_timestamp
    }

    pub async fn fund(&mut self, to: &Pubkey) {
        let payer = self.ctx.payer.insecure_clone();
        let ix =
            solana_system_interface::instruction::transfer(&payer.pubkey(), to, 10_000_000_000);
        self.send(&[ix], &[]).await.expect("fund");
    }

    async fn create_mint(&mut self) {
        let mint = self.mint.insecure_clone();
        self.create_mint_at(&mint).await;
    }

    /// A second mint (same authority), for accounts of the wrong token.
    pub async fn other_mint(&mut self) -> Pubkey {
        let mint = Keypair::new();
        self.create_mint_at(&mint).await;
        mint.pubkey()
    }

    async fn create_mint_at(&mut self, mint: &Keypair) {
        let payer = self.ctx.payer.pubkey();
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let space = spl_token_interface::state::Mint::LEN;
        let ixs = [
            solana_system_interface::instruction::create_account(
                &payer,
                &mint.pubkey(),
                rent.minimum_balance(space),
                space as u64,
                &spl_token_interface::ID,
            ),
            spl_token_interface::instruction::initialize_mint2(
                &spl_token_interface::ID,
                &mint.pubkey(),
                &self.mint_authority.pubkey(),
                None,
                6,
            )
            .expect("mint ix"),
        ];
        self.send(&ixs, &[mint]).await.expect("create mint");
    }

    /// A token account of the network's mint owned by `owner`.
    pub async fn token_account(&mut self, owner: &Pubkey) -> Pubkey {
        let mint = self.mint.pubkey();
        self.token_account_of(&mint, owner).await
    }

    /// A token account of any mint owned by `owner`.
    pub async fn token_account_of(&mut self, mint: &Pubkey, owner: &Pubkey) -> Pubkey {
        let account = Keypair::new();
        let payer = self.ctx.payer.pubkey();
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let space = spl_token_interface::state::Account::LEN;
        let ixs = [
            solana_system_interface::instruction::create_account(
                &payer,
                &account.pubkey(),
                rent.minimum_balance(space),
                space as u64,
                &spl_token_interface::ID,
            ),
            spl_token_interface::instruction::initialize_account3(
                &spl_token_interface::ID,
                &account.pubkey(),
                mint,
                owner,
            )
            .expect("account ix"),
        ];
        self.send(&ixs, &[&account])
            .await
            .expect("create token account");
        if mint == &self.mint.pubkey() {
            self.token_accounts.push(account.pubkey());
        }
        account.pubkey()
    }

    pub async fn mint_to(&mut self, account: &Pubkey, amount: u64) {
        let authority = self.mint_authority.insecure_clone();
        let ix = spl_token_interface::instruction::mint_to(
            &spl_token_interface::ID,
            &self.mint.pubkey(),
            account,
            &authority.pubkey(),
            &[],
            amount,
        )
        .expect("mint_to ix");
        self.send(&[ix], &[&authority]).await.expect("mint_to");
        self.minted += amount;
    }

    /// Token balance; 0 for an account that does not exist (closed).
    pub async fn balance(&mut self, account: &Pubkey) -> u64 {
        match self
            .ctx
            .banks_client
            .get_account(*account)
            .await
            .expect("get_account")
        {
            Some(acc) if acc.owner == spl_token_interface::ID && !acc.data.is_empty() => {
                spl_token_interface::state::Account::unpack(&acc.data)
                    .expect("token account")
                    .amount
            }
            _ => 0,
        }
    }

    /// The SPL token account at `address` (mint, owner, amount), with its program owner.
    pub async fn token_state(
        &mut self,
        address: &Pubkey,
    ) -> (Pubkey, spl_token_interface::state::Account) {
        let acc = self
            .ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account")
            .expect("account exists");
        let state = spl_token_interface::state::Account::unpack(&acc.data).expect("token account");
        (acc.owner, state)
    }

    pub async fn exists(&mut self, address: &Pubkey) -> bool {
        self.ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account")
            .is_some()
    }

    pub async fn lamports(&mut self, address: &Pubkey) -> u64 {
        self.ctx
            .banks_client
            .get_balance(*address)
            .await
            .expect("get_balance")
    }

    pub async fn anchor<T: AccountDeserialize>(&mut self, address: &Pubkey) -> T {
        let acc = self
            .ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account")
            .expect("account exists");
        T::try_deserialize(&mut acc.data.as_slice()).expect("decode")
    }

    pub async fn job(&mut self, job_id: u64) -> Job {
        self.anchor(&pda::job(job_id)).await
    }

    pub async fn node(&mut self, node_key: &Pubkey) -> Node {
        self.anchor(&pda::node(node_key)).await
    }

    /// Every token of the mint sits in a known account: nothing created, nothing lost.
    pub async fn assert_conserved(&mut self) {
        let mut known = self.token_accounts.clone();
        known.extend(self.vaults().await);
        let mut total = 0;
        for acc in known {
            total += self.balance(&acc).await;
        }
        assert_eq!(total, self.minted, "tokens were created or lost");
    }

    /// Every program vault that may hold tokens (jobs so far, registered nodes).
    async fn vaults(&mut self) -> Vec<Pubkey> {
        let mut out: Vec<Pubkey> = self
            .job_ids
            .iter()
            .map(|id| pda::job_vault(&pda::job(*id)))
            .collect();
        out.extend(self.node_keys.iter().map(pda::stake_vault));
        out.extend(self.bonded.iter().map(pda::bond_vault));
        out
    }

    pub async fn artist(&mut self, tokens: u64) -> Artist {
        let wallet = Keypair::new();
        self.fund(&wallet.pubkey()).await;
        let token = self.token_account(&wallet.pubkey()).await;
        self.mint_to(&token, tokens).await;
        Artist { wallet, token }
    }

    /// Registers a node staking `stake` (operator holds `stake + 10_000` before).
    pub async fn register_node(&mut self, stake: u64) -> NodeFixture {
        let operator = Keypair::new();
        self.fund(&operator.pubkey()).await;
        let operator_token = self.token_account(&operator.pubkey()).await;
        self.register_node_of(operator, operator_token, stake).await
    }

    /// Registers another node key of an existing operator (one stake per key).
    pub async fn register_node_of(
        &mut self,
        operator: Keypair,
        operator_token: Pubkey,
        stake: u64,
    ) -> NodeFixture {
        let key = Keypair::new();
        // A second identical mint in the same block would be the same transaction.
        self.refresh_blockhash().await;
        self.mint_to(&operator_token, stake + 10_000).await;
        let ix = ix::register_node(
            &operator.pubkey(),
            &key.pubkey(),
            &self.mint.pubkey(),
            &operator_token,
            stake,
            1234,
            "lavapipe".into(),
        );
        self.send(&[ix], &[&operator, &key])
            .await
            .expect("register_node");
        self.node_keys.push(key.pubkey());
        NodeFixture {
            operator,
            key,
            operator_token,
        }
    }

    /// Creates a job for `artist` with a fresh nonce; returns its id.
    pub async fn create_job(
        &mut self,
        artist: &Artist,
        params: JobParams,
    ) -> Result<u64, BanksClientError> {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        self.create_job_with_nonce(artist, nonce, params).await
    }

    /// Creates the job `(artist, nonce)`; returns its id.
    pub async fn create_job_with_nonce(
        &mut self,
        artist: &Artist,
        nonce: u64,
        params: JobParams,
    ) -> Result<u64, BanksClientError> {
        let id = pda::job_id(&artist.wallet.pubkey(), nonce);
        let ix = ix::create_job(
            &artist.wallet.pubkey(),
            &self.mint.pubkey(),
            &artist.token,
            nonce,
            params,
        );
        let wallet = artist.wallet.insecure_clone();
        self.send(&[ix], &[&wallet]).await?;
        if !self.job_ids.contains(&id) {
            self.job_ids.push(id);
        }
        Ok(id)
    }

    pub async fn post(
        &mut self,
        job_id: u64,
        receipt: tessera_sdk::ReceiptParams,
    ) -> Result<(), BanksClientError> {
        let orch = self.orchestrator.insecure_clone();
        self.send(
            &[ix::post_receipt(&orch.pubkey(), job_id, receipt, &[])],
            &[&orch],
        )
        .await
    }

    /// Posts a receipt that locks the stake of `nodes` (the nodes that worked on the job).
    pub async fn post_locking(
        &mut self,
        job_id: u64,
        receipt: tessera_sdk::ReceiptParams,
        nodes: &[Pubkey],
    ) -> Result<(), BanksClientError> {
        let orch = self.orchestrator.insecure_clone();
        self.send(
            &[ix::post_receipt(&orch.pubkey(), job_id, receipt, nodes)],
            &[&orch],
        )
        .await
    }
}

/// The custom error code of a failed transaction.
pub fn custom_code<T: std::fmt::Debug>(result: Result<T, BanksClientError>) -> u32 {
    match result {
        Err(BanksClientError::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(c),
        ))) => c,
        Err(BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, InstructionError::Custom(c)),
            ..
        }) => c,
        other => panic!("expected a custom program error, got {other:?}"),
    }
}

/// Asserts the transaction failed with Tessera error `e`.
#[track_caller]
pub fn assert_tessera<T: std::fmt::Debug>(
    result: Result<T, BanksClientError>,
    e: tessera::errors::TesseraError,
) {
    let code = custom_code(result);
    assert_eq!(
        code,
        u32::from(e),
        "expected {e:?}, got {}",
        tessera_sdk::program_error::describe(code)
    );
}

/// Asserts the transaction failed with Anchor error `e` (constraints, signer checks, account checks).
#[track_caller]
pub fn assert_anchor<T: std::fmt::Debug>(
    result: Result<T, BanksClientError>,
    e: anchor_lang::error::ErrorCode,
) {
    let code = custom_code(result);
    assert_eq!(
        code,
        u32::from(e),
        "expected {e:?}, got {}",
        tessera_sdk::program_error::describe(code)
    );
}

/// The instruction with `key` no longer marked as signer (to send it without that signature).
pub fn without_signer(mut ix: Instruction, key: &Pubkey) -> Instruction {
    for meta in &mut ix.accounts {
        if &meta.pubkey == key {
            meta.is_signer = false;
        }
    }
    ix
}

/// The instruction with every `old` account replaced by `new` (substitution attacks).
pub fn replace_account(mut ix: Instruction, old: &Pubkey, new: &Pubkey) -> Instruction {
    let mut found = false;
    for meta in &mut ix.accounts {
        if &meta.pubkey == old {
            meta.pubkey = *new;
            found = true;
        }
    }
    assert!(found, "{old} is not an account of the instruction");
    ix
}

impl Env {
    pub async fn network(&mut self) -> tessera::state::Network {
        self.anchor(&pda::network()).await
    }

    /// Sends `update_network` signed by the admin (parameters are only proposed).
    pub async fn update(
        &mut self,
        update: tessera_sdk::NetworkUpdate,
    ) -> Result<(), BanksClientError> {
        let admin = self.admin.insecure_clone();
        self.refresh_blockhash().await;
        self.send(&[ix::update_network(&admin.pubkey(), update)], &[&admin])
            .await
    }

    /// Proposes `update`, waits out the timelock and applies it.
    pub async fn update_now(
        &mut self,
        update: tessera_sdk::NetworkUpdate,
    ) -> Result<(), BanksClientError> {
        self.update(update).await?;
        self.advance(PARAMS_TIMELOCK).await;
        self.send(&[ix::apply_network_update()], &[]).await
    }

    pub async fn set_paused(&mut self, paused: bool) {
        self.update(tessera_sdk::NetworkUpdate {
            paused: Some(paused),
            ..Default::default()
        })
        .await
        .expect("pause");
    }

    /// The artist approves job `id` (fee to the current treasury).
    pub async fn approve(&mut self, artist: &Artist, id: u64) -> Result<(), BanksClientError> {
        let wallet = artist.wallet.insecure_clone();
        let treasury = self.treasury;
        self.send(
            &[ix::approve_job(
                &wallet.pubkey(),
                id,
                &treasury,
                &artist.token,
            )],
            &[&wallet],
        )
        .await
    }

    /// The artist disputes job `id`, paying the bond.
    pub async fn dispute(&mut self, artist: &Artist, id: u64) -> Result<(), BanksClientError> {
        let wallet = artist.wallet.insecure_clone();
        self.send(
            &[ix::dispute_job(&wallet.pubkey(), id, &artist.token, 7)],
            &[&wallet],
        )
        .await
    }

    /// The artist asks to cancel job `id`.
    pub async fn cancel(&mut self, artist: &Artist, id: u64) -> Result<(), BanksClientError> {
        let wallet = artist.wallet.insecure_clone();
        self.send(&[ix::cancel_job(&wallet.pubkey(), id)], &[&wallet])
            .await
    }

    /// Anyone refunds job `id` (no receipt in time).
    pub async fn expire(&mut self, artist: &Artist, id: u64) -> Result<(), BanksClientError> {
        let ix = ix::expire_job(&artist.wallet.pubkey(), id, &artist.token);
        self.send(&[ix], &[]).await
    }

    /// Moves the clock forward by `seconds`.
    pub async fn advance(&mut self, seconds: i64) {
        let now = self.now().await;
        self.set_time(now + seconds).await;
    }

    /// A keypair with lamports to sign and pay rent.
    pub async fn funded(&mut self) -> Keypair {
        let kp = Keypair::new();
        self.fund(&kp.pubkey()).await;
        kp
    }
}

impl Env {
    /// Sends lamports to `to` from the fee payer (e.g. to pre-fund a PDA before it exists).
    pub async fn prefund(&mut self, to: &Pubkey, lamports: u64) {
        let payer = self.ctx.payer.pubkey();
        let ix = solana_system_interface::instruction::transfer(&payer, to, lamports);
        self.send(&[ix], &[]).await.expect("prefund");
    }
}
/// Asserts the transaction failed in the system program because the account to create
/// already exists (`SystemError::AccountAlreadyInUse`, custom code 0).
#[track_caller]
pub fn assert_already_in_use<T: std::fmt::Debug>(result: Result<T, BanksClientError>) {
    assert_eq!(custom_code(result), 0, "expected AccountAlreadyInUse");
}
