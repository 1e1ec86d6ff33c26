//! Every refusal is one line on stderr and a non-zero exit, and nothing was sent: the
//! artist's balance and the network's next job id do not move.
mod common;

use common::{Net, Run, SCENE};

/// One `error: ...` line naming the problem, nothing else on stderr.
fn refused(r: &Run, code: i32, phrase: &str) {
    assert_eq!(r.code, code, "exit code; stderr: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(phrase),
        "{:?} not in {:?}",
        phrase,
        lines[0]
    );
}

#[test]
fn bad_input_is_refused_with_one_line_before_any_transaction() {
    let net = Net::start();
    let (artist, key) = net.funded("artist", "1");
    let a = Some(key.as_path());
    let next_id = || net.network()["jobs_created"].as_u64().unwrap();
    let id_before = next_id();
    // `job submit` of a 16-tile job (budget 0.164), with some flags replaced or added.
    let job = |extra: &[&str]| {
        let mut flags = vec![
            ("--frames", "1-2"),
            ("--size", "128x64"),
            ("--tile", "32"),
            ("--spp", "4"),
        ];
        let mut rest = vec![];
        for pair in extra.chunks(2) {
            match (flags.iter_mut().find(|(f, _)| *f == pair[0]), pair) {
                (Some(slot), [_, v]) => slot.1 = v,
                _ => rest.extend_from_slice(pair),
            }
        }
        let mut v = vec!["job", "submit", SCENE, "--no-wait"];
        for (f, x) in &flags {
            v.extend([*f, *x]);
        }
        v.extend(rest);
        net.tessera_as(a, &v)
    };

    // Input errors exit 2.
    refused(&job(&["--size", "0x64"]), 2, "--size 0x64 is out of range");
    refused(&job(&["--tile", "8"]), 2, "--tile 8 is out of range");
    refused(&job(&["--spp", "0"]), 2, "--spp 0 is out of range");
    refused(&job(&["--price", "abc"]), 2, "not a token amount");
    refused(
        &job(&["--budget", "0.001"]),
        2,
        "is below price × (tiles + verification renders) + fee",
    );
    let garbage = net.path("broken.glb");
    std::fs::write(&garbage, b"glTF not really").unwrap();
    let r = net.tessera_as(
        a,
        &["job", "submit", garbage.to_str().unwrap(), "--no-wait"],
    );
    refused(&r, 2, "does not load");
    refused(
        &net.tessera_as(a, &["job", "quote", "/no/such/scene.glb"]),
        2,
        "cannot read the scene",
    );
    let missing = net.path("nobody.json");
    refused(
        &net.tessera_as(Some(&missing), &["job", "approve", "1"]),
        2,
        "does not exist (create one with",
    );
    refused(
        &net.tessera(&["job", "status", "999"]),
        2,
        "job 999 does not exist",
    );

    // Money: the budget of 400 tiles and ⌈400 × 30%⌉ = 120 verification renders at 0.01 is
    // 5.2 tokens + 2.5% = 5.33; the artist holds 1.
    let r = job(&["--size", "640x640", "--frames", "1"]);
    refused(&r, 1, "insufficient balance: the budget is 5.330000 tokens");
    assert!(r.stderr.contains("(missing 4.330000)"), "{}", r.stderr);

    // Services down.
    let r = net.tessera_as(
        a,
        &[
            "--orchestrator",
            "http://127.0.0.1:9",
            "job",
            "submit",
            SCENE,
            "--size",
            "64x64",
            "--tile",
            "32",
            "--no-wait",
        ],
    );
    refused(&r, 1, "cannot reach the orchestrator at http://127.0.0.1:9");
    refused(
        &net.tessera(&["--url", "http://127.0.0.1:9", "job", "status", "0"]),
        1,
        "cannot reach the RPC at http://127.0.0.1:9",
    );
    // Commands whose first chain read is an account (not the network config) too.
    let out = net.path("never");
    for r in [
        net.tessera(&["--url", "http://127.0.0.1:9", "audit", "0"]),
        net.tessera_as(
            a,
            &[
                "--url",
                "http://127.0.0.1:9",
                "job",
                "download",
                "0",
                "--out",
            ]
            .into_iter()
            .chain([out.to_str().unwrap()])
            .collect::<Vec<_>>(),
        ),
    ] {
        refused(&r, 1, "cannot reach the RPC at http://127.0.0.1:9");
        assert!(!r.stderr.contains("AccountNotFound"), "{}", r.stderr);
    }
    assert!(!out.exists(), "nothing was written");
    assert_eq!(next_id(), id_before, "no job was created by any refusal");
    assert_eq!(net.tokens_of(&artist), 1_000_000, "no token moved");

    // Wrong state: an open job cannot be approved, finalized, closed or disputed; cancel works.
    let submitted = job(&["--output", "json"]);
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    let id = submitted.json()["job_id"].as_u64().unwrap().to_string();
    // 16 tiles and up to 5 verification renders at 0.01, + 2.5%.
    assert_eq!(net.tokens_of(&artist), 1_000_000 - 215_250);
    refused(
        &net.tessera_as(a, &["job", "approve", &id]),
        1,
        "is open; only a rendered job",
    );
    refused(
        &net.tessera_as(a, &["job", "finalize", &id]),
        1,
        "is open; only a rendered job",
    );
    refused(
        &net.tessera_as(a, &["job", "close", &id]),
        1,
        "only a settled or resolved job",
    );
    refused(
        &net.tessera_as(a, &["job", "dispute", &id, "--reason", "missing"]),
        1,
        "is open",
    );
    let (_, other) = net.funded("other", "1");
    refused(
        &net.tessera_as(Some(&other), &["job", "cancel", &id]),
        2,
        "belongs to artist",
    );
    // Cancel only asks: the orchestrator has the settle grace (30 s here) to post the receipt
    // of verified tiles (none: no node renders here); the refund opens after it.
    net.ok(a, &["job", "cancel", &id]);
    let st = net.job_status(id.parse().unwrap());
    assert_eq!(st["chain"]["state"], "cancel-requested");
    refused(
        &net.tessera_as(a, &["job", "refund", &id]),
        1,
        "may still post the receipt",
    );
    // 16 tiles and up to 5 verification renders at 0.01, + 2.5%.
    assert_eq!(net.tokens_of(&artist), 1_000_000 - 215_250);
    net.ok(None, &["dev", "advance-clock", "31"]);
    net.ok(a, &["job", "refund", &id]);
    assert_eq!(
        net.tokens_of(&artist),
        1_000_000,
        "no receipt in the grace: the refund returned everything"
    );

    // Operators: stake below the minimum, more than the wallet holds, unknown node.
    let (_, op) = net.funded("op", "1");
    let node = net.path("n.json");
    let o = Some(op.as_path());
    refused(
        &net.tessera_as(
            o,
            &[
                "node",
                "register",
                "--stake",
                "0.5",
                "--node-keypair",
                node.to_str().unwrap(),
            ],
        ),
        2,
        "below the network's minimum stake 1.000000",
    );
    refused(
        &net.tessera_as(
            o,
            &[
                "node",
                "register",
                "--stake",
                "3",
                "--node-keypair",
                node.to_str().unwrap(),
            ],
        ),
        1,
        "(missing 2.000000)",
    );
    refused(
        &net.tessera_as(
            o,
            &["node", "status", "--node-keypair", node.to_str().unwrap()],
        ),
        2,
        "does not exist",
    );
    assert!(
        !node.exists(),
        "a refused registration leaves no node key behind"
    );
    refused(
        &net.tessera(&["node", "status", "--node-key", &artist]),
        1,
        "is not registered",
    );
}

#[test]
fn operator_stakes_unstakes_after_the_cooldown_and_withdraws() {
    let net = Net::start();
    let (wallet, node) = net.operator(0);
    let (w, n) = (Some(wallet.as_path()), node.to_str().unwrap());
    let op = net.ok(w, &["balance", "--output", "json"]).json()["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(net.tokens_of(&op), 3_000_000);
    let added = net
        .ok(
            w,
            &[
                "node",
                "add-stake",
                "1.5",
                "--node-keypair",
                n,
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(added["stake"], 3_500_000);
    refused(
        &net.tessera_as(w, &["node", "add-stake", "9", "--node-keypair", n]),
        1,
        "(missing 7.500000)",
    );
    refused(
        &net.tessera_as(w, &["node", "withdraw", "--node-keypair", n]),
        1,
        "no unstake is pending",
    );
    refused(
        &net.tessera_as(w, &["node", "unstake", "4", "--node-keypair", n]),
        2,
        "not 4.000000",
    );
    let unstaking = net
        .ok(
            w,
            &[
                "node",
                "unstake",
                "1",
                "--node-keypair",
                n,
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(unstaking["unstake_amount"], 1_000_000);
    refused(
        &net.tessera_as(w, &["node", "withdraw", "--node-keypair", n]),
        1,
        "the unstake cooldown ends in",
    );
    // Someone else's wallet cannot manage this node.
    let (_, other) = net.funded("other", "1");
    refused(
        &net.tessera_as(Some(&other), &["node", "unstake", "1", "--node-keypair", n]),
        2,
        "pass the operator's --keypair",
    );
    // The cooldown (7 200 s here) must exceed the challenge window plus the resolution period.
    net.ok(None, &["dev", "advance-clock", "7201"]);
    let withdrawn = net
        .ok(
            w,
            &["node", "withdraw", "--node-keypair", n, "--output", "json"],
        )
        .json();
    assert_eq!(withdrawn["stake"], 2_500_000);
    assert_eq!(withdrawn["unstake_amount"], 0);
    assert_eq!(net.tokens_of(&op), 3_000_000 - 1_500_000 + 1_000_000);
}
