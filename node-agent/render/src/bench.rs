//! The standard benchmark scene and the regions used to compare renders with Blender Cycles.

use crate::{RenderError, Renderer, Scene, TileRequest};
use std::time::Instant;

/// An axis-aligned image region in fractions of the frame (x0, y0, x1, y1), with the mean linear
/// luminance Blender Cycles 3.4 produced there for the shipped Cornell box.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub name: &'static str,
    pub rect: [f32; 4],
    pub cycles_luminance: f64,
}

impl Region {
    /// Pixel bounds (x0, y0, x1, y1) in a `w × h` frame.
    pub fn pixels(&self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        let f = |v: f32, n: u32| ((v * n as f32).round() as u32).min(n);
        (
            f(self.rect[0], w),
            f(self.rect[1], h),
            f(self.rect[2], w),
            f(self.rect[3], h),
        )
    }

    /// Mean linear luminance of this region in linear RGBA f32 pixels.
    pub fn luminance(&self, linear: &[f32], w: u32, h: u32) -> f64 {
        let (x0, y0, x1, y1) = self.pixels(w, h);
        let mut s = 0.0f64;
        for y in y0..y1 {
            for x in x0..x1 {
                let i = ((y * w + x) * 4) as usize;
                s += 0.2126 * linear[i] as f64
                    + 0.7152 * linear[i + 1] as f64
                    + 0.0722 * linear[i + 2] as f64;
            }
        }
        s / ((x1 - x0) * (y1 - y0)).max(1) as f64
    }
}

/// Walls, floor and ceiling of `assets/cornell.glb` seen from its camera (16:9 frame).
/// Cycles values: 480×270, 256 spp, 6 bounces (`benches/cycles.rs`, Blender 3.4.1).
pub const CORNELL_REGIONS: [Region; 5] = [
    Region {
        name: "back wall",
        rect: [0.45, 0.20, 0.55, 0.30],
        cycles_luminance: 0.2873,
    },
    Region {
        name: "left wall",
        rect: [0.22, 0.40, 0.26, 0.60],
        cycles_luminance: 0.0494,
    },
    Region {
        name: "right wall",
        rect: [0.74, 0.40, 0.78, 0.60],
        cycles_luminance: 0.0825,
    },
    Region {
        name: "floor",
        rect: [0.26, 0.90, 0.34, 0.97],
        cycles_luminance: 0.1820,
    },
    Region {
        name: "ceiling",
        rect: [0.35, 0.03, 0.65, 0.07],
        cycles_luminance: 0.0842,
    },
];

/// Result of one benchmark render.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub device: String,
    /// Driver name and version: two lavapipe builds report the same device and differ in speed.
    pub driver: String,
    pub seconds: f64,
    pub msamples_per_s: f64,
    /// Throughput relative to 10 Msamples/s = 100 points (higher is faster).
    pub score: f64,
    pub hash: [u8; 32],
}

/// Renders the standard scene once (after a small warm-up that uploads the scene and compiles
/// the pipeline) and measures the sampling throughput.
pub fn run_standard(
    renderer: &mut Renderer,
    width: u32,
    height: u32,
    spp: u32,
    bounces: u32,
) -> Result<BenchResult, RenderError> {
    let scene = Scene::from_bundle(crate::STANDARD_SCENE_GLB).expect("the shipped scene loads");
    let key = crate::pixel_hash(crate::STANDARD_SCENE_GLB);
    renderer.render_tile(
        &key,
        &scene,
        &TileRequest::whole_frame(64, 36, 1, bounces, 0),
    )?;
    let req = TileRequest::whole_frame(width, height, spp, bounces, 0);
    let t0 = Instant::now();
    let img = renderer.render_tile(&key, &scene, &req)?;
    let seconds = t0.elapsed().as_secs_f64();
    let msamples_per_s = width as f64 * height as f64 * spp as f64 / seconds / 1e6;
    Ok(BenchResult {
        device: renderer.device_name().to_owned(),
        driver: renderer.driver().to_owned(),
        seconds,
        msamples_per_s,
        score: msamples_per_s * 10.0,
        hash: img.hash,
    })
}
