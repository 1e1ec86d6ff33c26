//! Frames that move: glTF node animation sampled at each frame's instant (CPU side, no GPU).

mod common;
use common::*;
use serde_json::json;
use tessera_render::{FrameRate, LoadOptions, Scene, SceneError};

/// Loads `glb` posed at `frame` (24 fps, frame 1 = t 0).
fn at(glb: &[u8], frame: u32) -> Scene {
    Scene::from_bundle_with(glb, &LoadOptions::at_frame(frame, FrameRate::DEFAULT)).unwrap()
}

/// Whether the only warning is about the neutral environment these unlit fixtures get.
fn no_warnings_but_the_light(s: &Scene) -> bool {
    s.warnings().iter().all(|w| w.contains("has no light"))
}

fn centre(s: &Scene) -> [f32; 3] {
    let (lo, hi) = s.bounds();
    [0, 1, 2].map(|k| 0.5 * (lo[k] + hi[k]))
}

fn assert_near(got: [f32; 3], want: [f32; 3], what: &str) {
    assert!(
        got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-4),
        "{what}: got {got:?}, want {want:?}"
    );
}

/// A unit cube (side 0.5) whose node is driven by one translation channel along x.
fn moving_cube(interpolation: &str, times: &[f32], xs: &[f32]) -> Vec<u8> {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let cube = b.cube(0.25, m);
    b.perspective([0.0, 0.0, 5.0], 0.8);
    let values: Vec<f32> = xs.iter().flat_map(|x| [*x, 0.0, 0.0]).collect();
    b.animate(cube, "translation", interpolation, times, &values);
    b.glb()
}

#[test]
fn frame_time_is_frame_minus_one_over_the_rate() {
    assert_eq!(LoadOptions::default().time, 0.0);
    assert_eq!(LoadOptions::at_frame(1, FrameRate::DEFAULT).time, 0.0);
    assert_eq!(LoadOptions::at_frame(49, FrameRate::DEFAULT).time, 2.0);
    let ntsc = FrameRate::new(30000, 1001).unwrap();
    assert_eq!(LoadOptions::at_frame(30001, ntsc).time, 1001.0);
}

#[test]
fn linear_translation_moves_the_cube_from_frame_1_to_frame_24() {
    // From x = 0 at t = 0 (frame 1) to x = 2 at t = 23/24 (frame 24).
    let glb = moving_cube("LINEAR", &[0.0, 23.0 / 24.0], &[0.0, 2.0]);
    let f1 = at(&glb, 1);
    let f24 = at(&glb, 24);
    assert_near(centre(&f1), [0.0, 0.0, 0.0], "frame 1");
    assert_near(centre(&f24), [2.0, 0.0, 0.0], "frame 24");
    assert_near(
        centre(&at(&glb, 12)),
        [2.0 * 11.0 / 23.0, 0.0, 0.0],
        "frame 12",
    );
    assert_near(
        centre(&at(&glb, 100)),
        [2.0, 0.0, 0.0],
        "after the last key",
    );
    assert_near(
        centre(&at(&glb, 0)),
        [0.0, 0.0, 0.0],
        "before the first key",
    );
    // A ray straight down at x = 2 hits the top face (y = 0.25) only once the cube is there.
    let down = ([2.0, 5.0, 0.0], [0.0, -1.0, 0.0]);
    assert!(f1.intersect(down.0, down.1).is_none());
    let (t, _) = f24
        .intersect(down.0, down.1)
        .expect("cube at x = 2 on frame 24");
    assert!((t - 4.75).abs() < 1e-4, "t = {t}");
    assert!(f1.is_animated());
    // No warning about ignored animations any more (only the unlit fixture's default light).
    assert!(no_warnings_but_the_light(&f24), "{:?}", f24.warnings());
}

#[test]
fn step_translation_jumps_at_its_key() {
    // x = 0 until t = 0.5 (frame 13), then x = 3.
    let glb = moving_cube("STEP", &[0.0, 0.5], &[0.0, 3.0]);
    assert_near(centre(&at(&glb, 1)), [0.0; 3], "frame 1");
    assert_near(
        centre(&at(&glb, 12)),
        [0.0; 3],
        "frame 12 (t = 11/24 < 0.5)",
    );
    assert_near(centre(&at(&glb, 13)), [3.0, 0.0, 0.0], "frame 13 (t = 0.5)");
    assert_near(centre(&at(&glb, 24)), [3.0, 0.0, 0.0], "frame 24");
}

#[test]
fn cubic_spline_translation_follows_the_hermite_curve() {
    // Keys at t = 0 (x = 0, out-tangent 6 units/s) and t = 1 (x = 1, in-tangent 0):
    // at s = 0.5, x = 0.125·1·6 + 0.5·1 = 1.25 (overshoots, unlike LINEAR's 0.5).
    let glb = moving_cube(
        "CUBICSPLINE",
        &[0.0, 1.0],
        &[
            /* in */ 0.0, /* value */ 0.0, /* out */ 6.0, 0.0, 1.0, 0.0,
        ],
    );
    assert_near(centre(&at(&glb, 1)), [0.0; 3], "frame 1");
    assert_near(
        centre(&at(&glb, 13)),
        [1.25, 0.0, 0.0],
        "frame 13 (t = 0.5)",
    );
    assert_near(centre(&at(&glb, 25)), [1.0, 0.0, 0.0], "frame 25 (t = 1)");
    assert_near(centre(&at(&glb, 40)), [1.0, 0.0, 0.0], "after the last key");
    // Frame 24 (t = 23/24) against the formula.
    let s = 23.0f32 / 24.0;
    let x = (s * s * s - 2.0 * s * s + s) * 6.0 + (-2.0 * s * s * s + 3.0 * s * s);
    assert_near(centre(&at(&glb, 24)), [x, 0.0, 0.0], "frame 24");
}

#[test]
fn rotation_channel_slerps_a_child_around_its_parent() {
    // A parent turning 0° → 90° about +Y over t 0…1 carries a cube placed at x = 2.
    // The second key is written as −q (the same rotation): the short arc must still be taken.
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let cube = b.cube(0.25, m);
    b.nodes[cube]["translation"] = json!([2.0, 0.0, 0.0]);
    let parent = b.node(json!({"children": [cube]}));
    b.perspective([0.0, 0.0, 5.0], 0.8);
    let h = std::f32::consts::FRAC_1_SQRT_2;
    b.animate(
        parent,
        "rotation",
        "LINEAR",
        &[0.0, 1.0],
        &[0.0, 0.0, 0.0, 1.0, 0.0, -h, 0.0, -h],
    );
    let glb = b.glb();
    for (frame, deg) in [(1, 0.0f32), (7, 22.5), (13, 45.0), (25, 90.0), (30, 90.0)] {
        let a = deg.to_radians();
        // R_y(a)·(2, 0, 0) = (2 cos a, 0, −2 sin a).
        let want = [2.0 * a.cos(), 0.0, -2.0 * a.sin()];
        assert_near(centre(&at(&glb, frame)), want, &format!("frame {frame}"));
    }
}

#[test]
fn animated_camera_moves_with_its_node() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    b.cube(0.25, m);
    b.perspective([0.0, 0.0, 5.0], 0.8);
    let cam = b.nodes.len() - 1;
    b.animate(
        cam,
        "translation",
        "LINEAR",
        &[0.0, 1.0],
        &[0.0, 0.0, 5.0, 0.0, 0.0, 9.0],
    );
    let glb = b.glb();
    assert_eq!(at(&glb, 1).camera().position, [0.0, 0.0, 5.0]);
    let mid = at(&glb, 13).camera().position;
    assert!((mid[2] - 7.0).abs() < 1e-5, "{mid:?}");
    assert_eq!(at(&glb, 25).camera().position, [0.0, 0.0, 9.0]);
    // The camera still looks down −Z: a ray along its view hits the cube's front face (z = 0.25).
    let s = at(&glb, 25);
    let (t, _) = s
        .intersect(s.camera().position, s.camera().forward)
        .unwrap();
    assert!((t - 8.75).abs() < 1e-4, "t = {t}");
}

#[test]
fn scale_channel_and_static_nodes_keep_their_transform() {
    // A scaled cube beside a static one: only the animated node changes.
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let grow = b.cube(0.25, m);
    let still = b.cube(0.25, m);
    b.nodes[still]["translation"] = json!([10.0, 0.0, 0.0]);
    b.perspective([0.0, 0.0, 5.0], 0.8);
    b.animate(
        grow,
        "scale",
        "LINEAR",
        &[0.0, 1.0],
        &[1.0, 1.0, 1.0, 3.0, 3.0, 3.0],
    );
    let glb = b.glb();
    assert!(at(&glb, 1).is_animated());
    let (lo1, hi1) = at(&glb, 1).bounds();
    let (lo2, hi2) = at(&glb, 25).bounds();
    assert_near(lo1, [-0.25; 3], "frame 1 min");
    assert_near(hi1, [10.25, 0.25, 0.25], "frame 1 max");
    assert_near(lo2, [-0.75; 3], "frame 25 min");
    assert_near(hi2, [10.25, 0.75, 0.75], "frame 25 max");
}

#[test]
fn bad_animation_data_is_an_error_not_a_guess() {
    // Times running backwards.
    let glb = moving_cube("LINEAR", &[1.0, 0.0], &[0.0, 2.0]);
    let e = Scene::from_bundle(&glb).err().expect("decreasing times");
    assert!(matches!(e, SceneError::Data { .. }), "{e}");
    // Fewer outputs than keys.
    let glb = moving_cube("LINEAR", &[0.0, 1.0, 2.0], &[0.0, 2.0]);
    assert!(Scene::from_bundle(&glb).is_err());
    // CUBICSPLINE needs three outputs per key.
    let glb = moving_cube("CUBICSPLINE", &[0.0, 1.0], &[0.0, 2.0]);
    assert!(Scene::from_bundle(&glb).is_err());
    // An animated node given as a matrix.
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let cube = b.cube(0.25, m);
    b.nodes[cube]["matrix"] = json!([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    b.perspective([0.0, 0.0, 5.0], 0.8);
    b.animate(cube, "translation", "LINEAR", &[0.0, 1.0], &[0.0; 6]);
    let e = Scene::from_bundle(&b.glb())
        .err()
        .expect("matrix on an animated node");
    assert!(e.to_string().contains("matrix"), "{e}");
    // A time that is not a number.
    let glb = moving_cube("LINEAR", &[0.0, 1.0], &[0.0, 2.0]);
    let opts = LoadOptions {
        time: f64::NAN,
        ..Default::default()
    };
    assert!(Scene::from_bundle_with(&glb, &opts).is_err());
}

/// A grey cube on a floor, seen from above, lit by a point light; `animated` moves the cube
/// from x = −1 (frame 1) to x = +1 (frame 24).
fn cube_on_floor(animated: bool) -> Vec<u8> {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    b.floor(3.0, m);
    let cube = b.cube(0.4, m);
    b.nodes[cube]["translation"] = json!([-1.0, 0.4, 0.0]);
    b.ortho_down([0.0, 5.0, 0.0], 2.0);
    b.point_light([0.0, 3.0, 0.0], 2000.0);
    if animated {
        b.animate(
            cube,
            "translation",
            "LINEAR",
            &[0.0, 23.0 / 24.0],
            &[-1.0, 0.4, 0.0, 1.0, 0.4, 0.0],
        );
    }
    b.glb()
}

/// Renders `glb` posed at `frame`, uploading under a key per (scene, frame) as node agents do.
fn render_frame(r: &mut tessera_render::Renderer, glb: &[u8], frame: u32) -> [u8; 32] {
    let scene = at(glb, frame);
    let mut key = *blake3::hash(glb).as_bytes();
    key[..4].copy_from_slice(&frame.to_le_bytes());
    let req = tessera_render::TileRequest {
        frame,
        ..tessera_render::TileRequest::whole_frame(32, 32, 4, 2, 3)
    };
    r.render_tile(&key, &scene, &req).unwrap().hash
}

#[test]
fn gpu_frames_of_an_animated_scene_differ_and_of_a_static_scene_do_not() {
    let mut r = renderer();
    let (moving, still) = (cube_on_floor(true), cube_on_floor(false));
    let m1 = render_frame(&mut r, &moving, 1);
    let m24 = render_frame(&mut r, &moving, 24);
    let s1 = render_frame(&mut r, &still, 1);
    let s24 = render_frame(&mut r, &still, 24);
    assert_ne!(m1, m24, "the cube moved between frames 1 and 24");
    assert_eq!(
        s1, s24,
        "a static scene gives the same bytes on every frame"
    );
    // At frame 1 the animation holds the cube where the static scene has it: same bytes.
    assert_eq!(m1, s1);
    // And the same frame again re-renders the same bytes.
    assert_eq!(render_frame(&mut r, &moving, 24), m24);
}

#[test]
fn gpu_animated_light_moves_with_its_node() {
    // A point light rising from 1 to 4 above a floor: the floor below gets darker (1/d²).
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    b.floor(3.0, m);
    b.ortho_down([0.0, 5.0, 0.0], 0.1);
    b.point_light([0.0, 1.0, 0.0], 500.0);
    let light = b.nodes.len() - 1;
    b.animate(
        light,
        "translation",
        "LINEAR",
        &[0.0, 1.0],
        &[0.0, 1.0, 0.0, 0.0, 4.0, 0.0],
    );
    let glb = b.glb();
    let mut r = renderer();
    let mean = |r: &mut tessera_render::Renderer, frame: u32| {
        let req = tessera_render::TileRequest {
            linear: true,
            ..tessera_render::TileRequest::whole_frame(16, 16, 16, 0, 1)
        };
        let img = r
            .render_tile(&[frame as u8; 32], &at(&glb, frame), &req)
            .unwrap();
        mean_linear(&img, 0, 0, 16, 16)[0]
    };
    let (near, far) = (mean(&mut r, 1), mean(&mut r, 25));
    // Directly below a point light at height d the irradiance is I/d²: 16× less at d = 4
    // (the view is ±0.1 wide, so the slant costs under 2% at d = 1).
    let ratio = near / far;
    assert!(
        (ratio - 16.0).abs() < 0.8,
        "near {near}, far {far}, ratio {ratio}"
    );
}

/// A floor (y = 0, side 2) with two morph targets: up by 1, and along x by 1.
fn morphing_floor(b: &mut Builder) -> usize {
    let m = b.material(diffuse([0.8; 3]));
    let floor = b.floor(1.0, m);
    b.morph_target(floor, &[0.0, 1.0, 0.0].repeat(4), None);
    b.morph_target(floor, &[1.0, 0.0, 0.0].repeat(4), None);
    b.perspective([0.0, 3.0, 5.0], 0.8);
    floor
}

#[test]
fn morph_targets_use_mesh_then_node_then_animated_weights() {
    // Mesh weights only.
    let mut b = Builder::default();
    let floor = morphing_floor(&mut b);
    let mesh = b.nodes[floor]["mesh"].as_u64().unwrap() as usize;
    b.meshes[mesh]["weights"] = json!([0.25, 0.5]);
    let s = at(&b.glb(), 1);
    assert!(!s.is_animated());
    assert_near(centre(&s), [0.5, 0.25, 0.0], "mesh weights");
    // Node weights override the mesh's.
    b.nodes[floor]["weights"] = json!([0.75, 0.0]);
    assert_near(centre(&at(&b.glb(), 30)), [0.0, 0.75, 0.0], "node weights");
    // No weights anywhere: the base shape.
    let mut b = Builder::default();
    morphing_floor(&mut b);
    assert_near(centre(&at(&b.glb(), 1)), [0.0; 3], "no weights");
    // An animated weights channel (two targets per key) overrides both.
    let mut b = Builder::default();
    let floor = morphing_floor(&mut b);
    b.nodes[floor]["weights"] = json!([0.75, 0.75]);
    b.animate(
        floor,
        "weights",
        "LINEAR",
        &[0.0, 1.0],
        &[0.0, 1.0, 1.0, 0.0],
    );
    let glb = b.glb();
    assert!(at(&glb, 1).is_animated());
    assert_near(
        centre(&at(&glb, 1)),
        [1.0, 0.0, 0.0],
        "frame 1: weights (0, 1)",
    );
    assert_near(
        centre(&at(&glb, 7)),
        [0.75, 0.25, 0.0],
        "frame 7: weights (¼, ¾)",
    );
    assert_near(
        centre(&at(&glb, 25)),
        [0.0, 1.0, 0.0],
        "frame 25: weights (1, 0)",
    );
    assert!(
        no_warnings_but_the_light(&at(&glb, 7)),
        "{:?}",
        at(&glb, 7).warnings()
    );
    // STEP and CUBICSPLINE weights (zero tangents: smoothstep, ½ at the middle).
    let mut b = Builder::default();
    let floor = morphing_floor(&mut b);
    b.animate(floor, "weights", "STEP", &[0.0, 1.0], &[0.0, 0.0, 1.0, 1.0]);
    assert_near(centre(&at(&b.glb(), 24)), [0.0; 3], "STEP before its key");
    assert_near(
        centre(&at(&b.glb(), 25)),
        [1.0, 1.0, 0.0],
        "STEP at its key",
    );
    let mut b = Builder::default();
    let floor = morphing_floor(&mut b);
    let (z, one) = ([0.0, 0.0], [1.0, 1.0]);
    let keys: Vec<f32> = [z, z, z, z, one, z].concat();
    b.animate(floor, "weights", "CUBICSPLINE", &[0.0, 1.0], &keys);
    assert_near(
        centre(&at(&b.glb(), 13)),
        [0.5, 0.5, 0.0],
        "CUBICSPLINE middle",
    );
}

#[test]
fn bad_morph_data_is_an_error() {
    // A target with fewer deltas than vertices.
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let floor = b.floor(1.0, m);
    b.morph_target(floor, &[0.0, 1.0, 0.0].repeat(3), None);
    b.perspective([0.0, 3.0, 5.0], 0.8);
    assert!(Scene::from_bundle(&b.glb()).is_err());
    // A weights channel whose outputs are not keys × targets.
    let mut b = Builder::default();
    let floor = morphing_floor(&mut b);
    b.animate(floor, "weights", "LINEAR", &[0.0, 1.0], &[0.0, 1.0, 1.0]);
    let e = Scene::from_bundle(&b.glb())
        .err()
        .expect("3 outputs for 2 keys × 2 targets");
    assert!(matches!(e, SceneError::Data { .. }), "{e}");
}

#[test]
fn gpu_morph_target_normals_shade_the_surface() {
    // A floor lit from straight above (light and view along its normal). A NORMAL delta tilts
    // the shading normal by 60° at weight 1: the diffuse term falls to cos 60° = ½. Roughness
    // ¼ makes Burley's retro-reflection factor exactly 1 here (F90 = ½ + 2·¼·cos² 0 = 1).
    let mut b = Builder::default();
    let mut mat = diffuse([0.8; 3]);
    mat["pbrMetallicRoughness"]["roughnessFactor"] = json!(0.25);
    let m = b.material(mat);
    let floor = b.floor(3.0, m);
    let (s60, c60) = (60f32.to_radians().sin(), 60f32.to_radians().cos());
    b.morph_target(floor, &[0.0; 12], Some(&[s60, c60 - 1.0, 0.0].repeat(4)));
    b.ortho_down([0.0, 5.0, 0.0], 0.1);
    b.point_light([0.0, 1.0, 0.0], 500.0);
    b.animate(floor, "weights", "LINEAR", &[0.0, 1.0], &[0.0, 1.0]);
    let glb = b.glb();
    let mut r = renderer();
    let mut mean = |frame: u32| {
        let req = tessera_render::TileRequest {
            linear: true,
            ..tessera_render::TileRequest::whole_frame(16, 16, 16, 0, 1)
        };
        let img = r
            .render_tile(&[frame as u8; 32], &at(&glb, frame), &req)
            .unwrap();
        mean_linear(&img, 0, 0, 16, 16)[0]
    };
    let (flat, tilted) = (mean(1), mean(25));
    let ratio = flat / tilted;
    assert!(
        (ratio - 2.0).abs() < 0.05,
        "flat {flat}, tilted {tilted}, ratio {ratio}"
    );
}
