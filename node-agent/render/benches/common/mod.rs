//! What both benchmarks share: running Blender Cycles through `cycles_render.py`, the load average.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn shared_bench_dir() -> PathBuf {
    std::env::var("TESSERA_SHARED_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench"))
}

/// Renders `scene` with cycles_render.py; returns (Msamples/s, linear RGBA of the render).
pub fn cycles(scene: &Path, w: u32, h: u32, spp: u32, bounces: u32) -> Option<(f64, Vec<f32>)> {
    let dir = shared_bench_dir();
    let stem = scene
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scene");
    let out = std::env::temp_dir().join(format!("tessera-cycles-{stem}-{w}x{h}-{spp}.png"));
    let run = Command::new("blender")
        .args(["-b", "--factory-startup", "--python"])
        .arg(dir.join("cycles_render.py"))
        .arg("--")
        .arg(scene)
        .args([
            w.to_string(),
            h.to_string(),
            spp.to_string(),
            bounces.to_string(),
        ])
        .arg(&out)
        .output();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            println!("Cycles skipped: cannot run blender ({e}); apt-get install -y blender python3-numpy");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&run.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("CYCLES ")) else {
        println!(
            "Cycles failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        return None;
    };
    let msps: f64 = line.split("msamples_per_s=").nth(1)?.trim().parse().ok()?;
    let img = image::open(&out).ok()?.to_rgb8();
    let lin = img
        .pixels()
        .flat_map(|p| {
            let f = |v: u8| {
                let v = v as f32 / 255.0;
                if v <= 0.04045 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            [f(p.0[0]), f(p.0[1]), f(p.0[2]), 1.0]
        })
        .collect();
    Some((msps, lin))
}

/// The 1-minute load average (Linux), to record how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
