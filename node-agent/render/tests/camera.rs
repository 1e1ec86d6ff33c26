//! Camera rules: an orthographic camera keeps the image's aspect whatever xmag/ymag are.

mod common;
use common::*;
use serde_json::json;
use tessera_render::{Scene, TileRequest};

/// A unit square facing +Z at the origin (emissive white) and an orthographic camera at
/// z = 5 looking along −Z with the given magnifications.
fn square_scene(xmag: f32, ymag: f32) -> Scene {
    let mut b = Builder::default();
    let m = b.material(
        json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0]},
                              "emissiveFactor": [1.0, 1.0, 1.0]}),
    );
    b.quad(
        [
            [-0.5, -0.5, 0.0],
            [0.5, -0.5, 0.0],
            [0.5, 0.5, 0.0],
            [-0.5, 0.5, 0.0],
        ],
        m,
    );
    b.cameras.push(json!({"type": "orthographic",
        "orthographic": {"xmag": xmag, "ymag": ymag, "znear": 0.01, "zfar": 100.0}}));
    b.node(json!({"camera": 0, "translation": [0.0, 0.0, 5.0]}));
    Scene::from_bundle(&b.glb()).unwrap()
}

/// Width and height in pixels of the region where `inside(x, y)` holds, along the centre row
/// and column.
fn extent(w: u32, h: u32, inside: impl Fn(u32, u32) -> bool) -> (u32, u32) {
    let across = (0..w).filter(|&x| inside(x, h / 2)).count() as u32;
    let down = (0..h).filter(|&y| inside(w / 2, y)).count() as u32;
    (across, down)
}

const CASES: [(f32, f32, u32, u32); 6] = [
    (2.0, 0.5, 160, 90),
    (0.5, 2.0, 160, 90),
    (1.0, 1.0, 160, 90),
    (1.0, 1.0, 90, 160),
    (3.0, 0.7, 90, 160),
    (1.0, 1.0, 100, 100),
];

/// On the CPU, through the same ray generation as the shader: the square covers as many pixels
/// across as down at 16:9 and 9:16, and the longer image side spans 2·max(xmag, ymag).
#[test]
fn orthographic_square_stays_square_at_any_aspect_and_magnification() {
    for (xmag, ymag, w, h) in CASES {
        let scene = square_scene(xmag, ymag);
        let cam = *scene.camera();
        let hit = |x: u32, y: u32| {
            let (o, d) = cam.ray(x as f32 + 0.5, y as f32 + 0.5, w, h);
            scene.intersect(o, d).is_some()
        };
        let (across, down) = extent(w, h, hit);
        let expect = w.max(h) as f32 / (2.0 * xmag.max(ymag));
        assert!(
            across.abs_diff(down) <= 1,
            "xmag {xmag} ymag {ymag} at {w}×{h}: {across}×{down} px"
        );
        assert!(
            (across as f32 - expect).abs() <= 1.0,
            "xmag {xmag} ymag {ymag} at {w}×{h}: {across} px across, expected {expect}"
        );
    }
}

/// The same on the device: the emissive square's lit pixels.
#[test]
fn orthographic_square_renders_square_on_the_gpu() {
    let mut r = renderer();
    for (k, (xmag, ymag, w, h)) in [CASES[0], CASES[1], CASES[4]].into_iter().enumerate() {
        let (w, h) = (w / 2, h / 2);
        let scene = square_scene(xmag, ymag);
        let req = TileRequest {
            linear: true,
            ..TileRequest::whole_frame(w, h, 16, 0, 1)
        };
        let img = r.render_tile(&[k as u8; 32], &scene, &req).unwrap();
        let lin = img.linear.as_ref().unwrap();
        let lit = |x: u32, y: u32| lin[((y * w + x) * 4) as usize] > 0.5;
        let (across, down) = extent(w, h, lit);
        let expect = w.max(h) as f32 / (2.0 * xmag.max(ymag));
        assert!(
            across.abs_diff(down) <= 1 && (across as f32 - expect).abs() <= 1.0,
            "xmag {xmag} ymag {ymag} at {w}×{h}: {across}×{down} px, expected {expect}"
        );
    }
}
