//! A whole job through real HTTP JSON-RPC: the local development chain, the SDK's
//! `ChainClient` (solana-client) and the migrations, with a restart of the chain in the middle.
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tessera_localnet::{Config, Localnet};
use tessera_migrations::{bootstrap, Options};
use tessera_sdk::client::ChainClient;
use tessera_sdk::receipt::{Receipt, TileRecord};
use tessera_sdk::{ix, pda, token, Job, JobParams, JobState, NetworkParams};

const SOL: u64 = 1_000_000_000;

async fn funded(client: &ChainClient) -> Keypair {
    let k = Keypair::new();
    client
        .airdrop(&k.pubkey(), 10 * SOL)
        .await
        .expect("airdrop");
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_job_over_json_rpc_survives_a_chain_restart() {
    let dir = std::env::temp_dir().join(format!("tessera-chain-lifecycle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bind = "127.0.0.1:0".parse().unwrap();
    let net = Localnet::start(Config::new(&dir, bind))
        .await
        .expect("localnet");
    let client = ChainClient::new(net.url(), CommitmentConfig::confirmed());
    let admin = net.faucet().insecure_clone();
    let orchestrator = funded(&client).await;

    // Bootstrap twice: the second run finds the network and changes nothing.
    let opts = Options {
        mint: None,
        decimals: 6,
        params: NetworkParams {
            orchestrator: orchestrator.pubkey(),
            fee_bps: 500,
            min_stake: 1_000,
            challenge_window: 60,
            unstake_cooldown: 3_600,
            claim_grace: 3_600,
            settle_grace: 60,
            resolution_period: 600,
            dispute_bond: 1_000,
            slash_amount: 100,
            verify_bps: 2_500,
            orchestrator_bond: 1_000,
        },
        bond_deposit: 5_000,
        state_dir: dir.join("migrations"),
    };
    let first = bootstrap(&client, &admin, &opts).await.expect("bootstrap");
    let second = bootstrap(&client, &admin, &opts)
        .await
        .expect("bootstrap again");
    assert!(first.created && !second.created);
    assert_eq!(first.mint, second.mint);
    let mint: Pubkey = first.mint.parse().unwrap();
    let treasury: Pubkey = first.treasury.parse().unwrap();

    // Two staked nodes and a funded artist.
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let operator = funded(&client).await;
        let key = Keypair::new();
        let acct = client
            .create_token_account(&operator, &mint, &operator.pubkey())
            .await
            .unwrap();
        client
            .send_instructions(
                &admin,
                &[token::mint_to(&mint, &acct, &admin.pubkey(), 1_500)],
                &[],
            )
            .await
            .unwrap();
        let reg = ix::register_node(
            &operator.pubkey(),
            &key.pubkey(),
            &mint,
            &acct,
            1_000,
            500,
            "lavapipe".into(),
        );
        client
            .send_instructions(&operator, &[reg], &[&key])
            .await
            .unwrap();
        nodes.push((operator, key, acct));
    }
    let artist = funded(&client).await;
    let artist_token = client
        .create_token_account(&artist, &mint, &artist.pubkey())
        .await
        .unwrap();
    client
        .send_instructions(
            &admin,
            &[token::mint_to(
                &mint,
                &artist_token,
                &admin.pubkey(),
                10_000,
            )],
            &[],
        )
        .await
        .unwrap();

    // A 64×64 frame in 32-pixel tiles: 4 tiles at 1 000 each; fee 5% = 200. The budget also
    // covers the verification share: ⌈4 × 25%⌉ = 1 render, so ≥ 5 000 + 250.
    // The local chain's clock follows wall time: a deadline ten days out.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let deadline = now + 10 * 24 * 3600;
    let params = JobParams {
        scene_hash: [9; 32],
        frame_start: 0,
        frame_end: 0,
        width: 64,
        height: 64,
        tile_size: 32,
        samples_per_pixel: 8,
        price_per_tile: 1_000,
        budget: 6_000,
        deadline,
        frame_rate_num: 24,
        frame_rate_den: 1,
    };
    let create_sig = client
        .send_instructions(
            &artist,
            &[ix::create_job(
                &artist.pubkey(),
                &mint,
                &artist_token,
                0,
                params,
            )],
            &[],
        )
        .await
        .unwrap();
    let job_id = pda::job_id(&artist.pubkey(), 0);
    let job_key = pda::job(job_id);
    assert_eq!(
        client
            .token_balance(&pda::job_vault(&job_key))
            .await
            .unwrap(),
        6_000
    );

    // Restart the chain: accounts and the transaction's status survive.
    net.shutdown().await;
    let net = Localnet::start(Config::new(&dir, bind))
        .await
        .expect("localnet restart");
    let client = ChainClient::new(net.url(), CommitmentConfig::confirmed());
    let job: Job = client
        .get_anchor_account(&job_key)
        .await
        .unwrap()
        .expect("job after restart");
    assert_eq!((job.state, job.budget), (JobState::Open, 6_000));
    let status = client
        .rpc()
        .get_signature_statuses(&[create_sig])
        .await
        .unwrap()
        .value[0]
        .clone();
    assert!(status.expect("status after restart").err.is_none());
    assert_eq!(client.token_balance(&artist_token).await.unwrap(), 4_000);

    // Receipt: node 0 rendered tiles 0..3, node 1 tile 3.
    let tiles = (0..4)
        .map(|t| TileRecord {
            frame: 0,
            tile: t,
            node: nodes[usize::from(t == 3)].1.pubkey(),
            pixel_hash: [t as u8; 32],
        })
        .collect();
    let receipt = Receipt::build(&job_key, &job, tiles).unwrap();
    client
        .send_instructions(
            &orchestrator,
            &[ix::post_receipt(
                &orchestrator.pubkey(),
                job_id,
                receipt.params().unwrap(),
                &[],
            )],
            &[],
        )
        .await
        .unwrap();
    client
        .send_instructions(
            &artist,
            &[ix::approve_job(
                &artist.pubkey(),
                job_id,
                &treasury,
                &artist_token,
            )],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(client.token_balance(&treasury).await.unwrap(), 200);
    assert_eq!(
        client.token_balance(&artist_token).await.unwrap(),
        4_000 + 1_800
    );

    for (operator, key, acct) in &nodes {
        let (leaf, proof) = receipt.payout_proof(&key.pubkey()).unwrap();
        let claim = ix::claim_payout(
            &operator.pubkey(),
            job_id,
            &key.pubkey(),
            acct,
            leaf.amount,
            leaf.tiles,
            proof,
        );
        client
            .send_instructions(operator, &[claim], &[])
            .await
            .unwrap();
    }
    assert_eq!(
        client.token_balance(&nodes[0].2).await.unwrap(),
        500 + 3_000
    );
    assert_eq!(
        client.token_balance(&nodes[1].2).await.unwrap(),
        500 + 1_000
    );

    // The job stays open while its tile root can still convict a node (receipt + window +
    // resolution period = 660 s of wall time here): close_job is refused over JSON-RPC too.
    let close = client
        .send_instructions(
            &artist,
            &[ix::close_job(&artist.pubkey(), job_id, &artist_token)],
            &[],
        )
        .await;
    assert!(close.is_err(), "close_job before the slash window ended");
    assert!(client
        .get_anchor_account::<Job>(&job_key)
        .await
        .unwrap()
        .is_some());
    // Everything minted is accounted for: 2 × 1 500 + 10 000.
    let mut total = client.token_balance(&treasury).await.unwrap()
        + client.token_balance(&artist_token).await.unwrap()
        + client
            .token_balance(&pda::job_vault(&job_key))
            .await
            .unwrap();
    for (_, key, acct) in &nodes {
        total += client.token_balance(acct).await.unwrap()
            + client
                .token_balance(&pda::stake_vault(&key.pubkey()))
                .await
                .unwrap();
    }
    assert_eq!(total, 13_000);
    net.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
