//! Camera rules: an orthographic camera keeps the image's aspect whatever xmag/ymag are; a
//! perspective camera's yfov is the vertical field of view whatever its aspectRatio is.

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

/// The square at z = 0 seen by a perspective camera at z = 5 with yfov and aspectRatio.
fn perspective_square(yfov: f32, aspect: Option<f32>) -> Scene {
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
    let mut p = json!({"yfov": yfov, "znear": 0.01});
    if let Some(a) = aspect {
        p["aspectRatio"] = json!(a);
    }
    b.cameras
        .push(json!({"type": "perspective", "perspective": p}));
    b.node(json!({"camera": 0, "translation": [0.0, 0.0, 5.0]}));
    Scene::from_bundle(&b.glb()).unwrap()
}

/// As Blender 3.4's importer does (sensor fit Vertical, angle_y = yfov, aspectRatio unused): the
/// image's own aspect wins. A unit square at distance 5 spans h / (2·5·tan(yfov/2)) pixels down
/// and the same across (square pixels), at 16:9 and 9:16, whether aspectRatio is absent, 0.5, 1
/// or 3; the rays are bit-identical.
#[test]
fn perspective_aspect_ratio_is_not_used_the_image_aspect_wins() {
    let yfov = 0.4f32;
    for (w, h) in [(160u32, 90u32), (90, 160)] {
        let reference = perspective_square(yfov, None);
        let rays = |s: &Scene| -> Vec<([f32; 3], [f32; 3])> {
            (0..w)
                .step_by(7)
                .flat_map(|x| (0..h).step_by(5).map(move |y| (x, y)))
                .map(|(x, y)| s.camera().ray(x as f32 + 0.5, y as f32 + 0.5, w, h))
                .collect()
        };
        for aspect in [Some(0.5f32), Some(1.0), Some(3.0)] {
            let scene = perspective_square(yfov, aspect);
            assert_eq!(
                rays(&scene),
                rays(&reference),
                "aspectRatio {aspect:?} changed the rays at {w}×{h}"
            );
            let cam = *scene.camera();
            let hit = |x: u32, y: u32| {
                let (o, d) = cam.ray(x as f32 + 0.5, y as f32 + 0.5, w, h);
                scene.intersect(o, d).is_some()
            };
            let (across, down) = extent(w, h, hit);
            let expect = h as f32 / (2.0 * 5.0 * (yfov / 2.0).tan());
            assert!(
                across.abs_diff(down) <= 1 && (down as f32 - expect).abs() <= 1.0,
                "aspectRatio {aspect:?} at {w}×{h}: {across}×{down} px, expected {expect} down"
            );
        }
    }
}
