//! Crashes mid-job: a node agent killed with SIGKILL while it renders, and the orchestrator
//! killed with SIGKILL and restarted on the same files. The job still completes, every
//! tile is paid exactly once to the node whose render was accepted, and the audit passes.
mod common;

use common::{Net, SCENE};

#[test]
fn kill_nine_of_an_agent_and_the_orchestrator_mid_job() {
    let mut net = Net::start();
    let (_, n0) = net.operator(0);
    let (_, n1) = net.operator(1);
    let (_, key) = net.funded("artist", "100");
    let a = Some(key.as_path());
    let agent0 = net.start_agent(&n0);
    net.start_agent(&n1);
    // 2 frames of 6 × 4 tiles.
    let submitted = net
        .ok(
            a,
            &[
                "job",
                "submit",
                SCENE,
                "--frames",
                "1-2",
                "--size",
                "192x128",
                "--tile",
                "32",
                "--spp",
                "16",
                "--no-wait",
                "--output",
                "json",
            ],
        )
        .json();
    let job = submitted["job_id"].as_u64().unwrap();
    let verified = |net: &Net| {
        net.job_status(job)["orchestrator"]["counts"]["verified"]
            .as_u64()
            .unwrap_or(0)
    };

    // An artist watching can detach with Ctrl-C; the job keeps rendering.
    let watch = std::process::Command::new(common::bin("tessera"))
        .env("TESSERA_CONFIG", net.path("config.yml"))
        .args([
            "--url",
            &net.rpc,
            "--orchestrator",
            &net.orchestrator_url(),
            "job",
            "watch",
            &job.to_string(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    net.wait_until(120, "the first tiles", || verified(&net) >= 3);
    let sigint = std::process::Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(sigint.success());
    let detached = watch.wait_with_output().unwrap();
    assert!(detached.status.success(), "watch exits 0 on Ctrl-C");
    let said = String::from_utf8_lossy(&detached.stderr);
    assert!(said.contains("detached; job"), "{said}");
    // Agent 0 is leasing continuously, so it is almost surely mid-tile.
    net.kill_agent(agent0);
    net.wait_until(120, "progress without agent 0", || verified(&net) >= 10);
    net.kill_orchestrator();
    std::thread::sleep(std::time::Duration::from_secs(1));
    net.start_orchestrator();
    // The operator restarts agent 0 without automatic claims, and claims by hand below.
    net.start_agent_with(&n0, &["--no-claim"]);
    net.wait_until(300, "the receipt", || {
        net.job_status(job)["orchestrator"]["state"] == "posted"
    });

    let status = net.job_status(job);
    assert_eq!(status["chain"]["state"], "rendered");
    assert_eq!(status["chain"]["tile_count"], 48);
    // Each paid render (48 tiles and the agreeing check renders) at 0.01.
    let renders = status["chain"]["render_count"].as_u64().unwrap();
    assert!(renders >= 48, "{status}");
    assert_eq!(status["chain"]["total_payout"], renders * 10_000);
    // Settling by the clock instead of an approval: finalize is refused while the challenge
    // window is open, a dispute after it closed, then anyone may finalize.
    let id = job.to_string();
    let r = net.tessera_as(a, &["job", "finalize", &id]);
    assert!(
        r.code == 1 && r.stderr.contains("challenge window of job"),
        "{}",
        r.stderr
    );
    net.ok(None, &["dev", "advance-clock", "3601"]);
    let r = net.tessera_as(a, &["job", "dispute", &id, "--reason", "artifacts"]);
    assert!(
        r.code == 1 && r.stderr.contains("it can no longer be disputed"),
        "{}",
        r.stderr
    );
    net.ok(Some(&net.key("operator-1")), &["job", "finalize", &id]);
    net.wait_until(90, "agent 1's automatic claim", || {
        net.job_status(job)["chain"]["claimed_count"] == 1
    });
    let op0 = net.key("operator-0");
    let node0 = n0.to_str().unwrap();
    let status = net
        .ok(
            Some(&op0),
            &[
                "node",
                "status",
                "--node-keypair",
                node0,
                "--output",
                "json",
            ],
        )
        .json();
    let claimable = status["claimable_total"].as_u64().unwrap();
    assert!(claimable > 0, "{status}");
    let claimed = net
        .ok(
            Some(&op0),
            &[
                "node",
                "claim",
                "--all",
                "--node-keypair",
                node0,
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(claimed["claimed_now"].as_u64().unwrap(), claimable);
    let again = net
        .ok(
            Some(&op0),
            &[
                "node",
                "claim",
                "--job",
                &id,
                "--node-keypair",
                node0,
                "--output",
                "json",
            ],
        )
        .json();
    assert_eq!(again["claims"][0]["outcome"], "already-claimed");
    assert_eq!(again["claimed_now"], 0);
    let c = &net.job_status(job)["chain"];
    assert_eq!(c["claimed_count"], c["node_count"]);
    let verdict = net
        .ok(None, &["audit", &job.to_string(), "--output", "json"])
        .json();
    assert_eq!(verdict["verdict"], "pass", "{verdict}");
}
