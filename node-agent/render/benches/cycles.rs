//! Tessera vs Blender Cycles (CPU) on the shipped Cornell box, in one run on one machine.
//!
//!     cargo bench -p tessera-render --bench cycles [-- --size 960x540]
//!
//! `--size WxH` sets the throughput and tile size (default 1920×1080) for a quicker run.
//! Environment: BENCH_WIDTH/BENCH_HEIGHT/BENCH_SPP/BENCH_BOUNCES (default 1920×1080, 16 spp, 6),
//! BENCH_AGREE_WIDTH/HEIGHT/SPP for the brightness-agreement pair (default 480×270, 256 spp),
//! BENCH_TILES (default "64,128,256"), BENCH_REPEATS for the throughput pair (default 2, best
//! of). Cycles is skipped with a message when `blender` is absent.

mod common;

use common::{cycles, env_u32, load_average, shared_bench_dir};
use std::time::Instant;
use tessera_render::bench::CORNELL_REGIONS;
use tessera_render::{DeviceOptions, Renderer, Scene, TileRequest, STANDARD_SCENE_GLB};

fn render_tiled(
    r: &mut Renderer,
    key: &[u8; 32],
    scene: &Scene,
    full: &TileRequest,
    tile: u32,
) -> (f64, Vec<u8>) {
    let (w, h) = (full.frame_width, full.frame_height);
    let mut frame = vec![0u8; (w * h * 4) as usize];
    let t0 = Instant::now();
    for y in (0..h).step_by(tile as usize) {
        for x in (0..w).step_by(tile as usize) {
            let (tw, th) = (tile.min(w - x), tile.min(h - y));
            let t = r
                .render_tile(key, scene, &full.tile(x, y, tw, th))
                .expect("tile");
            for row in 0..th {
                let s = (row * tw * 4) as usize;
                let d = (((y + row) * w + x) * 4) as usize;
                frame[d..d + (tw * 4) as usize].copy_from_slice(&t.rgba8[s..s + (tw * 4) as usize]);
            }
        }
    }
    (t0.elapsed().as_secs_f64(), frame)
}

/// `--size WxH` (or `--size=WxH`) from the command line; cargo's own `--bench` is ignored.
fn size_arg() -> Option<(u32, u32)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--size=")
            .map(str::to_owned)
            .or_else(|| (a == "--size").then(|| args.get(i + 1).cloned()).flatten())
    })?;
    let (w, h) = value.split_once(['x', 'X', '×'])?;
    match (w.trim().parse(), h.trim().parse()) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => {
            eprintln!("--size {value}: expected WIDTHxHEIGHT");
            std::process::exit(2)
        }
    }
}

fn main() {
    let (w, h) =
        size_arg().unwrap_or((env_u32("BENCH_WIDTH", 1920), env_u32("BENCH_HEIGHT", 1080)));
    let (spp, bounces) = (env_u32("BENCH_SPP", 16), env_u32("BENCH_BOUNCES", 6));
    let (aw, ah, aspp) = (
        env_u32("BENCH_AGREE_WIDTH", 480),
        env_u32("BENCH_AGREE_HEIGHT", 270),
        env_u32("BENCH_AGREE_SPP", 256),
    );
    let repeats = env_u32("BENCH_REPEATS", 2).max(1);
    let tiles: Vec<u32> = std::env::var("BENCH_TILES")
        .unwrap_or_else(|_| "64,128,256".into())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();

    let cornell = shared_bench_dir().join("cornell.glb");
    let scene = Scene::from_bundle(STANDARD_SCENE_GLB).expect("scene");
    let key = tessera_render::pixel_hash(STANDARD_SCENE_GLB);
    let mut r = Renderer::new(&DeviceOptions::default()).expect("Vulkan device");
    // Warm-up: upload and pipeline compilation are not part of the throughput.
    r.render_tile(
        &key,
        &scene,
        &TileRequest::whole_frame(64, 36, 1, bounces, 0),
    )
    .unwrap();

    // Tessera and Cycles alternate, best of `repeats` each: the machine is shared, and a load
    // spike then slows one run of each rather than deciding the ratio.
    let full = TileRequest::whole_frame(w, h, spp, bounces, 0);
    let samples = w as f64 * h as f64 * spp as f64;
    let mut t_whole = f64::INFINITY;
    let mut whole = None;
    let mut cyc: Option<f64> = None;
    let mut runs = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        let img = r.render_tile(&key, &scene, &full).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        t_whole = t_whole.min(secs);
        whole = Some(img);
        let c = cycles(&cornell, w, h, spp, bounces).map(|(msps, _)| msps);
        runs.push((samples / secs / 1e6, c));
        if let Some(c) = c {
            cyc = Some(cyc.map_or(c, |best: f64| best.max(c)));
        }
    }
    let whole = whole.expect("at least one run");
    let tess = samples / t_whole / 1e6;

    println!("\n## Throughput: cornell.glb {w}×{h}, {spp} spp, {bounces} bounces");
    println!(
        "(best of {repeats}, Tessera and Cycles alternating; driver: {})",
        r.driver()
    );
    println!("| renderer | device | seconds | Msamples/s |");
    println!("|---|---|---|---|");
    println!(
        "| Tessera | {} | {t_whole:.2} | {tess:.3} |",
        r.device_name()
    );
    match cyc {
        Some(c) => {
            println!(
                "| Cycles (CPU) | blender | {:.2} | {c:.3} |",
                samples / c / 1e6
            );
            println!(
                "\nratio Tessera / Cycles: {:.2}× (goal: 3×, issue 13; machine load avg {})",
                tess / c,
                load_average()
            );
            let each: Vec<String> = runs
                .iter()
                .filter_map(|(t, c)| c.map(|c| format!("{t:.3}/{c:.3} = {:.2}×", t / c)))
                .collect();
            println!("runs (Tessera/Cycles Msamples/s): {}", each.join(", "));
        }
        None => println!("| Cycles (CPU) | skipped | – | – |"),
    }

    println!("\n## Whole frame vs tiles ({w}×{h}, {spp} spp)");
    println!("| tiles | seconds | Msamples/s | bytes equal whole frame |");
    println!("|---|---|---|---|");
    println!("| whole frame | {t_whole:.2} | {tess:.3} | – |");
    for t in tiles {
        let (secs, frame) = render_tiled(&mut r, &key, &scene, &full, t);
        println!(
            "| {t}×{t} | {secs:.2} | {:.3} | {} |",
            samples / secs / 1e6,
            frame == whole.rgba8
        );
    }

    println!("\n## Brightness agreement ({aw}×{ah}, {aspp} spp, mean linear luminance)");
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(aw, ah, aspp, bounces, 1)
    };
    let ours = r.render_tile(&key, &scene, &req).unwrap();
    let lin = ours.linear.as_ref().unwrap();
    let theirs = cycles(&cornell, aw, ah, aspp, bounces);
    println!("| region | Tessera | Cycles | difference |");
    println!("|---|---|---|---|");
    let mut all_ok = true;
    for reg in CORNELL_REGIONS {
        let a = reg.luminance(lin, aw, ah);
        match &theirs {
            Some((_, c)) => {
                let b = reg.luminance(c, aw, ah);
                let d = (a - b) / b;
                all_ok &= d.abs() <= 0.10;
                println!("| {} | {a:.4} | {b:.4} | {:+.1}% |", reg.name, d * 100.0);
            }
            None => println!("| {} | {a:.4} | – | – |", reg.name),
        }
    }
    if theirs.is_some() {
        println!(
            "\nall regions within 10%: {}",
            if all_ok { "yes" } else { "NO" }
        );
    }
}
