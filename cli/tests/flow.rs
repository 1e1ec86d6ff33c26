//! The whole network through its binaries on loopback: an artist submits, two node agents
//! render on lavapipe, the artist watches previews (no clean frame before settlement),
//! approves and downloads, the agents claim on their own, an auditor checks everything from
//! files, every token is accounted for.
mod common;

use std::path::Path;

use common::{Net, SCENE};
use serde_json::Value;

const JOB_FLAGS: [&str; 10] = [
    "--frames",
    "1-2",
    "--size",
    "128x64",
    "--tile",
    "32",
    "--spp",
    "8",
    "--fps",
    "30000/1001",
];

fn job_args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["job", cmd, SCENE];
    v.extend_from_slice(&JOB_FLAGS);
    v.extend_from_slice(extra);
    v
}

fn tampered(src: &Path, dst: &Path, edit: impl FnOnce(&Path)) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    edit(dst);
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut Value)) {
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
}

fn flip_hex(s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    b[0] = if b[0] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

#[test]
fn submit_render_download_approve_claim_audit() {
    let mut net = Net::start();
    let (_, n0) = net.operator(0);
    let (_, n1) = net.operator(1);
    let (artist, artist_key) = net.funded("artist", "100");
    let a = Some(artist_key.as_path());
    let operators: Vec<String> = ["operator-0", "operator-1"]
        .iter()
        .map(|n| {
            net.ok(
                None,
                &[
                    "balance",
                    "-k",
                    net.key(n).to_str().unwrap(),
                    "--output",
                    "json",
                ],
            )
            .json()["wallet"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let before: Vec<u64> = operators.iter().map(|o| net.tokens_of(o)).collect();
    let artist_before = net.tokens_of(&artist);
    let treasury_before = net.network()["treasury_balance"].as_u64().unwrap();

    // Quote: 2 frames × (4 × 2) tiles, 0.01 per tile, up to ⌈16 × 30%⌉ = 5 verification
    // renders at the same price, 2.5% fee on both.
    let quote = net
        .ok(a, &[job_args("quote", &["--output", "json"])].concat())
        .json();
    assert_eq!(quote["tiles"], 16);
    assert_eq!(quote["cost"], 160_000);
    assert_eq!(quote["verification_renders"], 5);
    assert_eq!(quote["verification"], 50_000);
    assert_eq!(quote["fee"], 5_250);
    assert_eq!(quote["budget"], 215_250);
    assert_eq!(quote["scored_nodes"], 2);
    assert!(quote["estimated_seconds"].as_f64().unwrap() > 0.0);

    net.start_agent(&n0);
    net.start_agent(&n1);
    let submitted = net
        .ok(a, &job_args("submit", &["--no-wait", "--output", "json"]))
        .json();
    let job = submitted["job_id"].as_u64().unwrap();
    let job_s = job.to_string();
    assert_eq!(submitted["budget"], 215_250);
    assert_eq!(submitted["scene_uploaded"], true);

    // Watch until the receipt is on-chain, writing previews as frames complete: until the
    // job is settled the orchestrator serves only reduced-resolution previews.
    let frames = net.path("frames");
    let watch = |out: &Path| {
        net.ok(
            a,
            &[
                "job",
                "watch",
                &job_s,
                "--out",
                out.to_str().unwrap(),
                "--output",
                "json",
            ],
        )
        .json()
    };
    let watched = watch(&frames);
    assert_eq!(watched["state"], "posted");
    assert_eq!(watched["tiles_verified"], 16);
    for f in ["preview-0001.png", "preview-0002.png"] {
        let (w, h) = image::image_dimensions(frames.join(f)).unwrap();
        assert_eq!((w, h), (32, 16), "{f} is a quarter of each edge");
    }
    assert!(
        !frames.join("frame-0001.png").exists(),
        "no clean frame before settlement"
    );

    let status = net.job_status(job);
    assert_eq!(status["chain"]["state"], "rendered");
    assert_eq!(status["chain"]["tile_count"], 16);
    assert_eq!(status["chain"]["frame_rate"], "30000/1001");
    assert_eq!(status["orchestrator"]["state"], "posted");
    assert_eq!(status["orchestrator"]["counts"]["verified"], 16);

    // Downloading before settlement is refused: approve (or finalize) first.
    let dl = net.path("download");
    let download = |net: &Net| {
        net.tessera_as(
            a,
            &[
                "job",
                "download",
                &job_s,
                "--out",
                dl.to_str().unwrap(),
                "--output",
                "json",
            ],
        )
    };
    let r = download(&net);
    assert!(
        r.code == 1 && r.stderr.contains("clean frames only once it is settled"),
        "{}",
        r.stderr
    );

    // Cancelling a rendered job is refused before any transaction.
    let r = net.tessera_as(a, &["job", "cancel", &job_s]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("only an open job"), "{}", r.stderr);

    net.ok(a, &["job", "approve", &job_s]);
    let r = net.tessera_as(a, &["job", "approve", &job_s]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("is settled"), "{}", r.stderr);
    let r = net.tessera_as(a, &["job", "dispute", &job_s, "--reason", "artifacts"]);
    assert!(
        r.code != 0 && r.stderr.contains("is settled"),
        "{}",
        r.stderr
    );

    // Settled: download verifies every frame, and watch now writes the clean frames.
    let r = download(&net);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json()["frames"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["verified"] == true && f["status"] == "complete" && f["covered"] == 8));
    assert!(r.json().get("partial").is_none(), "a full receipt");
    let clean = net.path("frames-settled");
    watch(&clean);
    assert_eq!(
        std::fs::read(dl.join("frame-0001.png")).unwrap(),
        std::fs::read(clean.join("frame-0001.png")).unwrap()
    );
    assert_eq!(
        image::image_dimensions(clean.join("frame-0002.png")).unwrap(),
        (128, 64)
    );

    // The agents claim on their own once the job settles.
    net.wait_until(90, "automatic claims", || {
        let c = &net.job_status(job)["chain"];
        c["claimed_count"] == c["node_count"]
    });
    let chain = net.job_status(job)["chain"].clone();
    let total_payout = chain["total_payout"].as_u64().unwrap();
    // Every paid render at the price: the 16 tiles and the check renders that agreed.
    let renders = chain["render_count"].as_u64().unwrap();
    assert!((16..=21).contains(&renders), "{chain}");
    assert_eq!(total_payout, renders * 10_000);

    // The audit from files, without the orchestrator, and from the orchestrator.
    let manifest = dl.join("manifest.json");
    let verdict = net
        .ok(
            None,
            &[
                "audit",
                &job_s,
                "--frames",
                dl.to_str().unwrap(),
                "--manifest",
                manifest.to_str().unwrap(),
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(verdict["verdict"], "pass");
    assert_eq!(verdict["claims_on_chain"], 2);
    net.ok(None, &["audit", &job_s]);

    let audit_fails = |name: &str, expect: &str, edit: &dyn Fn(&Path)| {
        let dir = net.path(name);
        tampered(&dl, &dir, edit);
        let r = net.tessera(&[
            "audit",
            &job_s,
            "--frames",
            dir.to_str().unwrap(),
            "--manifest",
            dir.join("manifest.json").to_str().unwrap(),
        ]);
        assert_eq!(r.code, 1, "{name}: {}", r.stdout);
        assert!(
            r.stdout.contains("FAIL") && r.stderr.contains(expect),
            "{name}: {}",
            r.stderr
        );
    };
    audit_fails("pixel", "pixel hash expected", &|d| {
        let path = d.join("frame-0002.png");
        let mut img = image::open(&path).unwrap().to_rgba8();
        let p = img.get_pixel_mut(70, 40);
        p[0] = p[0].wrapping_add(1);
        img.save(&path).unwrap();
    });
    audit_fails("tile-hash", "pixel hash expected", &|d| {
        edit_manifest(d, |m| {
            let h = m["tiles"][3]["pixel_hash"].as_str().unwrap().to_string();
            m["tiles"][3]["pixel_hash"] = flip_hex(&h).into();
        })
    });
    audit_fails("payout", "payout", &|d| {
        edit_manifest(d, |m| {
            let amount = m["payouts"][0]["amount"].as_u64().unwrap();
            m["payouts"][0]["amount"] = (amount + 10_000).into();
        })
    });
    audit_fails("other-job", "another job", &|d| {
        edit_manifest(d, |m| {
            m["job_id"] = (job + 1).into();
            m["job_key"] = tessera_sdk::pda::job(job + 1).to_string().into();
        })
    });
    audit_fails("missing-tile", "missing", &|d| {
        edit_manifest(d, |m| {
            m["tiles"].as_array_mut().unwrap().remove(5);
        })
    });

    // The tile root is slash evidence until receipt + challenge window + resolution period:
    // closing the job (and its account) waits for that, even with every payout claimed.
    let r = net.tessera_as(a, &["job", "close", &job_s]);
    assert!(
        r.code != 0 && r.stderr.contains("evidence for slashing its nodes for"),
        "{}",
        r.stderr
    );
    net.ok(None, &["job", "status", &job_s]);

    // Every token accounted for: the artist paid payouts + fee (the rest of the budget, the
    // unused verification share, refunded), operators got their leaves, the treasury the fee, no token created.
    let after: Vec<u64> = operators.iter().map(|o| net.tokens_of(o)).collect();
    let gains: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let artist_paid = artist_before - net.tokens_of(&artist);
    let fee = net.network()["treasury_balance"].as_u64().unwrap() - treasury_before;
    assert_eq!(fee, total_payout * 250 / 10_000);
    assert_eq!(gains.iter().sum::<u64>(), total_payout);
    assert_eq!(artist_paid, total_payout + fee);
    let leaves: Vec<u64> =
        serde_json::from_str::<Value>(&std::fs::read_to_string(&manifest).unwrap()).unwrap()
            ["payouts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["amount"].as_u64().unwrap())
            .collect();
    assert_eq!(leaves.iter().sum::<u64>(), total_payout);
    for g in &gains {
        assert!(
            leaves.contains(g),
            "operator gain {g} is not a payout leaf {leaves:?}"
        );
    }
    let status = net
        .ok(
            Some(&net.key("operator-0")),
            &[
                "node",
                "status",
                "--node-keypair",
                n0.to_str().unwrap(),
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(status["stake"], 2_000_000);
    assert_eq!(status["claimed_total"], gains[0]);

    // The artist's one job stays listed (settled) until its slash window lets it close;
    // the config file gives defaults to every command.
    let list = net.ok(a, &["job", "list", "--output", "json"]).json();
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{list}");
    net.ok(
        None,
        &["config", "set", "keypair", artist_key.to_str().unwrap()],
    );
    let got = net.ok(None, &["config", "get", "keypair"]);
    assert_eq!(got.stdout.trim(), artist_key.to_str().unwrap());
    let mine = net.ok(None, &["balance", "--output", "json"]).json();
    assert_eq!(mine["wallet"], artist.as_str());

    // The operator records a measured benchmark score (node-agent bench on this machine).
    let updated = net
        .ok(
            Some(&net.key("operator-1")),
            &[
                "node",
                "update",
                "--benchmark",
                "--node-keypair",
                n1.to_str().unwrap(),
                "--output",
                "json",
            ],
        )
        .json();
    assert!(
        updated["benchmark_score"].as_u64().unwrap() > 0,
        "{updated}"
    );
}
