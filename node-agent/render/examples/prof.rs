//! Quick throughput probe on the shipped Cornell box, for comparing shader changes:
//!
//!     cargo run --release -p tessera-render --example prof -- W H SPP BOUNCES [REPEATS] [TILE]
//!
//! Prints the best of REPEATS (default 3) runs; TILE > 0 renders TILE×TILE tiles instead of
//! one whole-frame request. Set MESA_SHADER_CACHE_DISABLE=true for reproducible timings.
//! PROF_SCENE=NAME renders one of `tessera_render::bench_scenes` (textured, mechanical,
//! emissive, million) instead of the Cornell box; PROF_GLB=PATH renders that `.glb` file.

use std::time::Instant;
use tessera_render::{DeviceOptions, Renderer, Scene, TileRequest, STANDARD_SCENE_GLB};

fn main() {
    let a: Vec<u32> = std::env::args()
        .skip(1)
        .map(|s| {
            s.parse()
                .expect("numbers: W H SPP BOUNCES [REPEATS] [TILE]")
        })
        .collect();
    assert!(a.len() >= 4, "usage: prof W H SPP BOUNCES [REPEATS] [TILE]");
    let (w, h, spp, b) = (a[0], a[1], a[2], a[3]);
    let reps = a.get(4).copied().unwrap_or(3).max(1);
    let tile = a.get(5).copied().unwrap_or(0);
    let scene_name = std::env::var("PROF_SCENE").ok().filter(|s| !s.is_empty());
    let glb = match (std::env::var_os("PROF_GLB"), scene_name) {
        (Some(path), _) => std::fs::read(path).expect("PROF_GLB: a readable .glb file"),
        (None, Some(name)) => {
            tessera_render::bench_scenes::by_name(&name)
                .expect("PROF_SCENE: textured, mechanical, emissive or million")
                .glb
        }
        (None, None) => STANDARD_SCENE_GLB.to_vec(),
    };
    let scene = Scene::from_bundle(&glb).expect("scene");
    let key = tessera_render::pixel_hash(&glb);
    let mut r = Renderer::new(&DeviceOptions::default()).expect("Vulkan device");
    let warm = TileRequest::whole_frame(64, 36, 1, b, 0);
    r.render_tile(&key, &scene, &warm).expect("warm-up");
    let full = TileRequest::whole_frame(w, h, spp, b, 0);
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    let mut hash = String::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        let c0 = cpu_seconds();
        if tile == 0 {
            let img = r.render_tile(&key, &scene, &full).expect("render");
            hash = img.hash[..6].iter().map(|x| format!("{x:02x}")).collect();
        } else {
            for y in (0..h).step_by(tile as usize) {
                for x in (0..w).step_by(tile as usize) {
                    let t = full.tile(x, y, tile.min(w - x), tile.min(h - y));
                    r.render_tile(&key, &scene, &t).expect("render");
                }
            }
            hash = "(tiled)".into();
        }
        best = best.min(t0.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - c0);
    }
    let msps = w as f64 * h as f64 * spp as f64 / best / 1e6;
    println!(
        "{w}x{h} spp={spp} bounces={b} tile={tile}: {best:.3} s, {msps:.3} Msamples/s, cpu {best_cpu:.3} s, hash {hash} ({})",
        r.driver()
    );
}

/// User + system CPU time of this process (all threads, lavapipe's workers included), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
