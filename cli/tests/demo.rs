//! README command 1 as a test: `scripts/demo.sh` (on binaries already built) drives a job
//! through the real commands and ends with a passing audit and every node paid.
use std::process::Command;

#[test]
fn readme_demo_script_runs_end_to_end() {
    let data = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("bash")
        .arg("scripts/demo.sh")
        .current_dir(root)
        .env("DEMO_SKIP_BUILD", "1")
        .env("DATA", data.path().join("demo"))
        .env("FRAMES", "1")
        .env("SIZE", "128x64")
        .env("TILE", "32")
        .env("SPP", "4")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("PASS: the frames, the manifest and the chain agree"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1/1 frames match the on-chain tile root"),
        "{stdout}"
    );
    // 8 tiles at 0.01, and up to ⌈8 × 30%⌉ = 3 check renders at the same price: both
    // nodes' claims together are the whole payout, 0.08 to 0.11.
    let claimed: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("earnings"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(claimed.len(), 2, "{stdout}");
    let sum: f64 = claimed.iter().sum();
    let renders = (sum / 0.01).round();
    assert!(
        (8.0..=11.0).contains(&renders) && (sum - renders * 0.01).abs() < 1e-9,
        "{claimed:?}"
    );
    assert!(data.path().join("demo/download/frame-0001.png").exists());
}
