//! A node agent's automatic contest over real HTTP JSON-RPC: the orchestrator (played by the
//! test) posts a receipt whose payout leaf pays a node 6 of the 8 tiles the tile tree credits
//! it; the node rebuilds the tree from the manifest, finds the shortfall and proves it with
//! the same workflow `node-agent run` follows (`tessera_sdk::contest`), counting too a render
//! the orchestrator acknowledged to it but credited to the other node (`prove_ack`).
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use tessera_localnet::{Config, Localnet};
use tessera_migrations::{bootstrap, Options};
use tessera_sdk::client::ChainClient;
use tessera_sdk::contest::{contest, plan, plan_with_acks, Acknowledged, ContestOutcome};
use tessera_sdk::manifest::{Manifest, ManifestPayout, ManifestTile};
use tessera_sdk::merkle::{self, MerkleTree};
use tessera_sdk::receipt::{Receipt, TileRecord};
use tessera_sdk::{hex, ix, pda, token, Contest, Job, JobParams, NetworkParams};

const SOL: u64 = 1_000_000_000;

async fn funded(client: &ChainClient) -> Keypair {
    let k = Keypair::new();
    client
        .airdrop(&k.pubkey(), 10 * SOL)
        .await
        .expect("airdrop");
    k
}

/// The manifest of `receipt`'s tiles with the payout tree `pay` the orchestrator posted.
fn manifest(id: u64, receipt: &Receipt, pay: &[(Pubkey, u64, u32)], tree: &MerkleTree) -> Manifest {
    let params = receipt.params().unwrap();
    let hexes = |p: Vec<[u8; 32]>| p.iter().map(|h| hex::encode(h)).collect::<Vec<_>>();
    Manifest {
        job_id: id,
        job_key: pda::job(id).to_string(),
        state: "posted".into(),
        tile_root: hex::encode(&params.tile_root),
        payout_root: hex::encode(&tree.root()),
        total_payout: pay.iter().map(|p| p.1).sum(),
        tile_count: params.tile_count,
        node_count: pay.len() as u32,
        render_count: params.render_count,
        receipt_signature: None,
        tiles: receipt
            .tiles
            .iter()
            .map(|t| ManifestTile {
                frame: t.frame,
                tile: t.tile,
                node: t.node.to_string(),
                pixel_hash: hex::encode(&t.pixel_hash),
                signature: Signature::default().to_string(),
                blob: None,
                proof: receipt.tile_proof(t.frame, t.tile).map(|(_, p)| hexes(p)),
                role: None,
                missing: None,
            })
            .collect(),
        verifications: Vec::new(),
        payouts: pay
            .iter()
            .enumerate()
            .map(|(i, (node, amount, tiles))| ManifestPayout {
                node: node.to_string(),
                amount: *amount,
                tiles: *tiles,
                proof: tree.proof(i).map(hexes),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_paid_short_contests_over_json_rpc_and_is_made_whole() {
    let dir = std::env::temp_dir().join(format!("tessera-chain-contest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = Localnet::start(Config::new(&dir, "127.0.0.1:0".parse().unwrap()))
        .await
        .expect("localnet");
    let client = ChainClient::new(net.url(), CommitmentConfig::confirmed());
    let admin = net.faucet().insecure_clone();
    let orchestrator = funded(&client).await;
    let opts = Options {
        mint: None,
        decimals: 6,
        params: NetworkParams {
            orchestrator: orchestrator.pubkey(),
            fee_bps: 250,
            min_stake: 1_000,
            challenge_window: 3_600,
            unstake_cooldown: 86_400,
            claim_grace: 3_600,
            settle_grace: 60,
            resolution_period: 600,
            dispute_bond: 1_000,
            slash_amount: 100,
            verify_bps: 1_000,
            orchestrator_bond: 1_000,
        },
        bond_deposit: 5_000,
        state_dir: dir.join("migrations"),
    };
    let addresses = bootstrap(&client, &admin, &opts).await.expect("bootstrap");
    let mint: Pubkey = addresses.mint.parse().unwrap();

    // Two nodes; their keys hold SOL (a node key pays its contest's transactions).
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let operator = funded(&client).await;
        let key = funded(&client).await;
        let acct = client
            .create_token_account(&operator, &mint, &operator.pubkey())
            .await
            .unwrap();
        let mint_ix = token::mint_to(&mint, &acct, &admin.pubkey(), 1_000);
        client
            .send_instructions(&admin, &[mint_ix], &[])
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
        nodes.push((operator, key));
    }
    let artist = funded(&client).await;
    let artist_token = client
        .create_token_account(&artist, &mint, &artist.pubkey())
        .await
        .unwrap();
    let mint_ix = token::mint_to(&mint, &artist_token, &admin.pubkey(), 5_000);
    client
        .send_instructions(&admin, &[mint_ix], &[])
        .await
        .unwrap();

    // 16 tiles at 100; budget 16 + ⌈1.6⌉ renders × 100 + 2.5% = 1 845.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let params = JobParams {
        scene_hash: [9; 32],
        frame_start: 1,
        frame_end: 1,
        width: 64,
        height: 64,
        tile_size: 16,
        samples_per_pixel: 8,
        price_per_tile: 100,
        budget: 2_000,
        deadline: now + 86_400,
        frame_rate_num: 24,
        frame_rate_den: 1,
    };
    let create = ix::create_job(&artist.pubkey(), &mint, &artist_token, 0, params);
    client
        .send_instructions(&artist, &[create], &[])
        .await
        .unwrap();
    let id = pda::job_id(&artist.pubkey(), 0);
    let job_key = pda::job(id);
    let job: Job = client.get_anchor_account(&job_key).await.unwrap().unwrap();

    // Each node renders 8 tiles; the payout tree pays b for 6.
    let (a, b) = (nodes[0].1.pubkey(), nodes[1].1.pubkey());
    let tiles = (0..16)
        .map(|t| TileRecord {
            frame: 1,
            tile: t,
            node: if t % 2 == 0 { a } else { b },
            pixel_hash: [t as u8; 32],
        })
        .collect();
    let receipt = Receipt::build(&job_key, &job, tiles).unwrap();
    let pay = [(a, 800, 8), (b, 600, 6)];
    let leaves = pay
        .iter()
        .map(|(n, amount, t)| merkle::payout_leaf(&job_key, n, *amount, *t))
        .collect();
    let tree = MerkleTree::new(leaves).unwrap();
    let mut p = receipt.params().unwrap();
    (p.payout_root, p.total_payout) = (tree.root(), 1_400);
    let post = ix::post_receipt(&orchestrator.pubkey(), id, p, &[]);
    client
        .send_instructions(&orchestrator, &[post], &[])
        .await
        .unwrap();
    let job: Job = client.get_anchor_account(&job_key).await.unwrap().unwrap();
    let manifest = manifest(id, &receipt, &pay, &tree);

    // a is paid what the tree credits; b is 200 short, and the orchestrator acknowledged b's
    // render of tile 2, which the receipt credits to a (with another hash). Acknowledgements
    // signed by another key, or of a tile the receipt credits to b itself, do not count.
    assert_eq!(plan(&job_key, &job, &manifest, &a).unwrap(), None);
    let ack = |signer: &Keypair, tile: u32, hash: [u8; 32]| Acknowledged {
        frame: 1,
        tile,
        pixel_hash: hash,
        signature: signer
            .sign_message(&tessera_sdk::protocol::ack_message(
                &job_key, 1, tile, &b, &hash,
            ))
            .as_ref()
            .try_into()
            .unwrap(),
    };
    let acked = [
        ack(&orchestrator, 2, [0xB2; 32]),
        ack(&nodes[1].1, 4, [0xB4; 32]),
        ack(&orchestrator, 3, [3; 32]),
    ];
    let case = plan_with_acks(&job_key, &job, &manifest, &b, &acked)
        .unwrap()
        .expect("b is short");
    assert_eq!(
        (case.owed, case.paid, case.leaves.len(), case.acks.len()),
        (900, 600, 8, 1)
    );
    assert_eq!((case.acks[0].0.tile, case.acks[0].0.credited_node), (2, a));
    let outcome = contest(&client, &nodes[1].1, id, &case).await.unwrap();
    // Owed 900 against a leaf of 600: the 200 of room the receipt left under its cap of 16
    // renders, and the other 100 from the orchestrator's bond.
    assert!(
        matches!(
            outcome,
            ContestOutcome::Upheld {
                owed: 900,
                paid: 200,
                paid_from_bond: 100,
                ..
            }
        ),
        "{outcome:?}"
    );
    let operator_ata = token::associated_account(&nodes[1].0.pubkey(), &mint);
    assert_eq!(client.token_balance(&operator_ata).await.unwrap(), 300);
    let bond = client
        .token_balance(&pda::bond_vault(&orchestrator.pubkey()))
        .await
        .unwrap();
    assert_eq!(bond, 5_000 - 100);
    let c: Contest = client
        .get_anchor_account(&pda::contest(&job_key, &b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.proven, c.upheld), (9, true));
    // A second run (a restarted agent) changes nothing.
    let again = contest(&client, &nodes[1].1, id, &case).await.unwrap();
    assert_eq!(
        again,
        ContestOutcome::AlreadyResolved {
            owed: 900,
            paid: 200,
            paid_from_bond: 100
        }
    );
    net.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
