//! The README's run command, as a test: `tessera-demo` drives a whole job through the local
//! chain, the orchestrator and real `node-agent run` processes on Vulkan (lavapipe works).
//! Ignored by plain `cargo test` because it needs a Vulkan driver and the node-agent binary;
//! `scripts/test.sh` (CI) builds node-agent and runs it.
use std::process::Command;

#[test]
#[ignore = "needs a Vulkan device and a built node-agent (scripts/test.sh runs it)"]
fn demo_renders_a_job_and_pays_every_node() {
    let agent = std::env::var("NODE_AGENT_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/node-agent").into()
    });
    let dir = std::env::temp_dir().join(format!("tessera-demo-test-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_tessera-demo"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "--frames",
            "1",
            "--width",
            "128",
            "--height",
            "64",
            "--tile-size",
            "32",
            "--spp",
            "4",
        ])
        .arg("--node-agent")
        .arg(&agent)
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .expect("run tessera-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 4 × 2 tiles of 32 px at 0.01 token each, every one proved against the chain.
    assert!(
        stdout.contains("8 tiles proved against the on-chain tile root"),
        "{stdout}"
    );
    assert!(
        stdout.contains("nodes earned 0.080000 for 8 tiles"),
        "{stdout}"
    );
    let png = std::fs::read(dir.join("frame-1.png")).expect("frame written");
    assert!(png.starts_with(b"\x89PNG"));
    let _ = std::fs::remove_dir_all(&dir);
}
