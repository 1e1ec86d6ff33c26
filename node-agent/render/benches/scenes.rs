//! Tessera vs Blender Cycles (CPU) on generated real-sized scenes (`tessera_render::bench_scenes`):
//! a textured 109 k-triangle mesh, a mechanical model of 125 k triangles in 224 parts, twenty
//! emissive textures, and 1 M triangles. The two renderers alternate at the same size, spp and
//! bounces; each row gives Msamples/s, the ratio and the mean linear luminance of both images.
//!
//!     cargo bench -p tessera-render --bench scenes
//!
//! Environment: BENCH_WIDTH/BENCH_HEIGHT/BENCH_SPP/BENCH_BOUNCES (default 480×270, 64 spp, 6
//! bounces, the sizes of issue 13), BENCH_REPEATS (default 1; best of), BENCH_SCENES (names,
//! comma-separated; default all), BENCH_FRAMES (frames of the 1 M-triangle animation to pose,
//! default 3; 0: none). Cycles is skipped with a message when `blender` is absent.

mod common;

use common::{cycles, env_u32, load_average};
use std::time::Instant;
use tessera_render::{
    bench_scenes, DeviceOptions, FrameRate, LoadOptions, Renderer, Scene, TileRequest,
};

/// Mean luminance of linear RGBA; both images go through 8-bit sRGB first (Cycles' PNG is
/// clipped to [0, 1], so Tessera's bytes are compared, not its unclamped radiance).
fn mean_luminance(linear: &[f32]) -> f64 {
    let n = linear.len() / 4;
    linear
        .chunks_exact(4)
        .map(|p| 0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64)
        .sum::<f64>()
        / n.max(1) as f64
}

fn main() {
    let (w, h) = (env_u32("BENCH_WIDTH", 480), env_u32("BENCH_HEIGHT", 270));
    let (spp, bounces) = (env_u32("BENCH_SPP", 64), env_u32("BENCH_BOUNCES", 6));
    let repeats = env_u32("BENCH_REPEATS", 1).max(1);
    let only: Option<Vec<String>> = std::env::var("BENCH_SCENES")
        .ok()
        .map(|s| s.split(',').map(|n| n.trim().to_owned()).collect());
    let dir = std::env::temp_dir().join("tessera-bench-scenes");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut r = Renderer::new(&DeviceOptions::default()).expect("Vulkan device");
    let samples = w as f64 * h as f64 * spp as f64;

    println!("\n## Scenes: {w}×{h}, {spp} spp, {bounces} bounces (best of {repeats}, alternating)");
    println!("Tessera on {} ({})", r.device_name(), r.driver());
    println!("| scene | triangles | textures | load s | Tessera s | Tessera Msamples/s | Cycles s | Cycles Msamples/s | ratio | luminance Tessera / Cycles | load avg |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut million = None;
    for (name, _) in bench_scenes::SCENES {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == name)) {
            continue;
        }
        let s = bench_scenes::by_name(name).expect("listed");
        let path = dir.join(format!("{}.glb", s.name));
        std::fs::write(&path, &s.glb).expect("write scene");
        let scene = Scene::from_bundle(&s.glb).expect("generated scene loads");
        let load_s = scene.load_timings().total_s;
        let key = tessera_render::pixel_hash(&s.glb);
        // Warm-up: upload and pipeline compilation are not part of the throughput.
        let t0 = Instant::now();
        r.render_tile(
            &key,
            &scene,
            &TileRequest::whole_frame(64, 36, 1, bounces, 0),
        )
        .expect("warm-up");
        let upload_s = t0.elapsed().as_secs_f64();
        let req = TileRequest::whole_frame(w, h, spp, bounces, 0);
        let (mut best_t, mut best_c) = (f64::INFINITY, None::<f64>);
        let (mut ours, mut theirs) = (None, None);
        for _ in 0..repeats {
            let t0 = Instant::now();
            let img = r.render_tile(&key, &scene, &req).expect("render");
            best_t = best_t.min(t0.elapsed().as_secs_f64());
            ours = Some(img);
            if let Some((msps, lin)) = cycles(&path, w, h, spp, bounces) {
                best_c = Some(best_c.map_or(msps, |b| b.max(msps)));
                theirs = Some(lin);
            }
        }
        let tess = samples / best_t / 1e6;
        let lum_t = mean_luminance(
            &ours
                .as_ref()
                .map(|i| srgb8_to_linear(&i.rgba8))
                .unwrap_or_default(),
        );
        let (cyc_cols, ratio, lum) = match (best_c, &theirs) {
            (Some(c), Some(lin)) => {
                let lum_c = mean_luminance(lin);
                (
                    format!("{:.2} | {c:.3}", samples / c / 1e6),
                    format!("{:.2}×", tess / c),
                    format!(
                        "{lum_t:.4} / {lum_c:.4} ({:+.1}%)",
                        (lum_t - lum_c) / lum_c * 100.0
                    ),
                )
            }
            _ => ("– | –".into(), "–".into(), format!("{lum_t:.4} / –")),
        };
        println!(
            "| {} | {} | {} | {load_s:.2} (+{upload_s:.2} upload) | {best_t:.2} | {tess:.3} | {cyc_cols} | {ratio} | {lum} | {} |",
            s.name,
            scene.triangle_count(),
            scene.texture_count(),
            load_avg(),
        );
        if s.name == "million" {
            million = Some(s.glb);
        }
    }
    println!("(load s: parse, decode, pose, BVH build on the CPU; upload: first dispatch incl. shader compilation)");

    // Posing per frame: the animated 1 M-triangle scene loaded at each frame's instant, as a node
    // does for every frame of an animated job.
    let frames = env_u32("BENCH_FRAMES", 3);
    if frames > 0 {
        let glb = million.unwrap_or_else(bench_scenes::million);
        let rate = FrameRate::new(24, 1).expect("24 fps");
        println!("\n## Pose + BVH per frame, million ({frames} frames at 24 fps)");
        println!("| frame | pose s | posed geometry s | BVH s | whole load s |");
        println!("|---|---|---|---|---|");
        for k in 0..frames {
            let frame = 1 + k * 23 / frames.max(2).saturating_sub(1).max(1);
            let scene = Scene::from_bundle_with(&glb, &LoadOptions::at_frame(frame, rate))
                .expect("posed scene");
            let t = scene.load_timings();
            println!(
                "| {frame} | {:.3} | {:.3} | {:.3} | {:.3} |",
                t.pose_s, t.walk_s, t.bvh_s, t.total_s
            );
        }
    }
}

fn srgb8_to_linear(rgba8: &[u8]) -> Vec<f32> {
    rgba8
        .iter()
        .map(|&v| {
            let v = v as f32 / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect()
}

fn load_avg() -> String {
    load_average()
}
