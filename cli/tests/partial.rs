//! A job that ends partial, through the binaries on loopback: one node agent renders (so a
//! tile drawn for a check waits for a second operator that never comes), it is killed mid-job,
//! the artist cancels. The orchestrator posts the receipt of the verified tiles, the artist
//! approves, `tessera job download` writes what the receipt holds (partial frames with the
//! missing tiles transparent) and says why the rest is missing, and `tessera audit` passes,
//! refund included. A covered tile whose served pixels were tampered with fails the download.
mod common;

use std::path::Path;

use common::{Net, SCENE};
use serde_json::Value;

/// 3 frames of 8 × 2 tiles of 32 px: enough tiles that one node is all but sure to be
/// drawn for a check (25 % each while new) that no second operator can render.
const TILES: u64 = 48;
const PER_FRAME: u32 = 16;
const ACROSS: u32 = 8;

fn manifest_of(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn a_job_cancelled_mid_render_downloads_and_audits_what_its_receipt_holds() {
    let mut net = Net::start();
    let (_, n0) = net.operator(0);
    let (artist, key) = net.funded("artist", "100");
    let a = Some(key.as_path());
    let artist_before = net.tokens_of(&artist);
    let treasury_before = net.network()["treasury_balance"].as_u64().unwrap();
    let agent = net.start_agent(&n0);
    let submitted = net
        .ok(
            a,
            &[
                "job",
                "submit",
                SCENE,
                "--frames",
                "1-3",
                "--size",
                "256x64",
                "--tile",
                "32",
                "--spp",
                "128",
                "--no-wait",
                "--output",
                "json",
            ],
        )
        .json();
    let job = submitted["job_id"].as_u64().unwrap();
    let job_s = job.to_string();
    let budget = submitted["budget"].as_u64().unwrap();
    net.wait_until(180, "the first 9 tiles", || {
        net.job_status(job)["orchestrator"]["counts"]["verified"]
            .as_u64()
            .unwrap_or(0)
            >= 9
    });
    // The node stops mid-job and the artist cancels: what was verified by then is paid.
    net.kill_agent(agent);
    net.ok(a, &["job", "cancel", &job_s]);
    net.wait_until(90, "the partial receipt", || {
        net.job_status(job)["chain"]["state"] == "rendered"
    });
    let chain = net.job_status(job)["chain"].clone();
    let covered = chain["tile_count"].as_u64().unwrap();
    assert!((9..TILES).contains(&covered), "{chain}");
    net.ok(a, &["job", "approve", &job_s]);

    // Download: frames in full as served, partial frames with their missing tiles
    // transparent, frames without a receipt tile not written.
    let dl = net.path("download");
    let download = |out: &Path, json: bool| {
        let mut args = vec!["job", "download", &job_s, "--out", out.to_str().unwrap()];
        if json {
            args.extend(["--output", "json"]);
        }
        net.tessera_as(a, &args)
    };
    let r = download(&dl, true);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    let partial = &report["partial"];
    assert_eq!(
        (partial["tiles"].as_u64(), partial["covered"].as_u64()),
        (Some(TILES), Some(covered)),
        "{report}"
    );
    assert_eq!(partial["written"].as_u64(), Some(covered));
    assert_eq!(partial["ended_by"], "cancelled");
    let mut seen = 0;
    let mut incomplete = 0;
    for f in report["frames"].as_array().unwrap() {
        let n = f["frame"].as_u64().unwrap();
        let file = dl.join(format!("frame-{n:04}.png"));
        let frame_covered = f["covered"].as_u64().unwrap();
        let missing = f["missing"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            frame_covered + missing.len() as u64,
            PER_FRAME as u64,
            "{f}"
        );
        seen += frame_covered;
        for m in &missing {
            let reason = m["reason"].as_str().unwrap();
            assert!(
                ["never_rendered", "unverified", "unsettled"].contains(&reason),
                "{f}"
            );
        }
        match f["status"].as_str().unwrap() {
            "complete" => assert!(missing.is_empty() && file.exists(), "{f}"),
            "partial" => {
                incomplete += 1;
                assert_eq!(f["verified"], true, "{f}");
                let img = image::open(&file).unwrap().to_rgba8();
                assert_eq!(img.dimensions(), (256, 64));
                for m in &missing {
                    let t = m["tile"].as_u64().unwrap() as u32;
                    let (x, y) = ((t % ACROSS) * 32, (t / ACROSS) * 32);
                    for (dx, dy) in [(0, 0), (31, 31), (16, 7)] {
                        assert_eq!(img.get_pixel(x + dx, y + dy).0, [0, 0, 0, 0], "{f}");
                    }
                }
            }
            "not_covered" => {
                incomplete += 1;
                assert!(frame_covered == 0 && !file.exists(), "{f}");
            }
            other => panic!("frame {n}: {other}: {f}"),
        }
    }
    assert_eq!(seen, covered);
    assert!(incomplete >= 1);

    // The same in words: each missing tile's reason, and the summary line.
    let r = download(&net.path("download-text"), false);
    assert_eq!(r.code, 0, "{}", r.stderr);
    eprintln!("download:\n{}", r.stdout);
    assert!(
        r.stdout.contains(&format!(
            "partial: {covered} of {TILES} tiles (the job was cancelled)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("before the job was cancelled"),
        "{}",
        r.stdout
    );

    // The audit, from the files and from the orchestrator: consistent, and the refund covers
    // every missing tile.
    let verdict = net
        .ok(
            None,
            &[
                "audit",
                &job_s,
                "--frames",
                dl.to_str().unwrap(),
                "--manifest",
                dl.join("manifest.json").to_str().unwrap(),
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(verdict["verdict"], "pass", "{verdict}");
    let coverage = &verdict["coverage"];
    assert_eq!(coverage["covered"].as_u64(), Some(covered), "{verdict}");
    let price = chain["price_per_tile"].as_u64().unwrap();
    assert_eq!(
        coverage["uncovered_price"].as_u64(),
        Some((TILES - covered) * price)
    );
    let said = net.ok(None, &["audit", &job_s]);
    eprintln!("audit:\n{}", said.stdout);
    assert!(
        said.stdout.contains(&format!(
            "partial: {covered} of {TILES} tiles in the receipt"
        )),
        "{}",
        said.stdout
    );

    // Every token accounted for: the artist paid the receipt's payouts and the fee on them,
    // the rest of the budget (the missing tiles among it) came back, as the audit says.
    let total_payout = chain["total_payout"].as_u64().unwrap();
    let fee = net.network()["treasury_balance"].as_u64().unwrap() - treasury_before;
    assert_eq!(fee, total_payout * 250 / 10_000);
    assert_eq!(artist_before - net.tokens_of(&artist), total_payout + fee);
    assert_eq!(
        coverage["refund"].as_u64(),
        Some(budget - total_payout - fee)
    );

    // A partial frame's covered tile tampered with in the files fails the audit.
    let frame = report["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["covered"].as_u64().unwrap() > 0)
        .unwrap()
        .clone();
    let first = (0..PER_FRAME)
        .find(|t| {
            !frame["missing"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["tile"] == *t)
        })
        .unwrap();
    let n = frame["frame"].as_u64().unwrap();
    let bad = net.path("tampered");
    std::fs::create_dir_all(&bad).unwrap();
    for e in std::fs::read_dir(&dl).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bad.join(e.file_name())).unwrap();
    }
    let path = bad.join(format!("frame-{n:04}.png"));
    let mut img = image::open(&path).unwrap().to_rgba8();
    let (x, y) = ((first % ACROSS) * 32 + 3, (first / ACROSS) * 32 + 3);
    img.get_pixel_mut(x, y).0[1] ^= 0x40;
    img.save(&path).unwrap();
    let r = net.tessera(&[
        "audit",
        &job_s,
        "--frames",
        bad.to_str().unwrap(),
        "--manifest",
        bad.join("manifest.json").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("pixel hash expected"), "{}", r.stderr);

    // Pixels in a tile the receipt does not hold (painted into a partial frame's files) fail
    // the audit at `uncovered_blank`, naming the frame and the tile. Only when a frame is
    // partial: the node may have stopped on a frame boundary.
    let painted = report["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "partial")
        .cloned();
    if let Some(frame) = painted {
        let n = frame["frame"].as_u64().unwrap();
        let t = frame["missing"][0]["tile"].as_u64().unwrap() as u32;
        let dir = net.path("painted");
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dl).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        let path = dir.join(format!("frame-{n:04}.png"));
        let mut img = image::open(&path).unwrap().to_rgba8();
        let (x, y) = ((t % ACROSS) * 32 + 5, (t / ACROSS) * 32 + 5);
        img.get_pixel_mut(x, y).0 = [200, 10, 10, 255];
        img.save(&path).unwrap();
        let r = net.tessera(&[
            "audit",
            &job_s,
            "--frames",
            dir.to_str().unwrap(),
            "--manifest",
            dir.join("manifest.json").to_str().unwrap(),
        ]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stdout.contains("FAIL uncovered_blank"), "{}", r.stdout);
        assert!(
            r.stderr.contains(&format!(
                "frame {n} has pixels in tile {t} the receipt does not hold"
            )),
            "{}",
            r.stderr
        );
        eprintln!("painted audit:\n{}{}", r.stdout, r.stderr);
    }

    // The orchestrator serving other pixels for a covered tile: that frame fails, is not
    // written, and the download exits non-zero with one line.
    let tile = manifest_of(&dl)["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["frame"] == n && t["tile"] == first)
        .unwrap()
        .clone();
    let blob = tile["blob"]
        .as_str()
        .expect("blob references after settlement");
    let blob_path = net.path("blobs").join(&blob[..2]).join(blob);
    let served = std::fs::read(&blob_path).unwrap();
    let mut png = image::load_from_memory_with_format(&served, image::ImageFormat::Png)
        .unwrap()
        .to_rgba8();
    png.get_pixel_mut(3, 3).0[1] ^= 0x40;
    png.save_with_format(&blob_path, image::ImageFormat::Png)
        .unwrap();
    let again = net.path("download-tampered");
    let r = download(&again, false);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("do not match the on-chain receipt"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains(&format!("tile {first} (node ")) && r.stdout.contains("FAILED"),
        "{}",
        r.stdout
    );
    assert!(!again.join(format!("frame-{n:04}.png")).exists());
    eprintln!("tampered download:\n{}{}", r.stdout, r.stderr);
}
