//! Skins: linear blend skinning on the CPU at each frame's pose (no GPU).

mod common;
use common::*;
use serde_json::json;
use tessera_render::{FrameRate, LoadOptions, Scene, SceneError};

const EPS: f32 = 1e-5;

fn at(glb: &[u8], frame: u32) -> Result<Scene, SceneError> {
    Scene::from_bundle_with(glb, &LoadOptions::at_frame(frame, FrameRate::DEFAULT))
}

fn assert_near(got: [f32; 3], want: [f32; 3], what: &str) {
    assert!(
        got.iter().zip(&want).all(|(g, w)| (g - w).abs() < EPS),
        "{what}: got {got:?}, want {want:?}"
    );
}

/// How the two-bone fixture spells its weights.
#[derive(Clone, Copy, PartialEq)]
enum Weights {
    /// One set, weights summing to 1.
    Plain,
    /// One set, the halfway vertex weighted (1, 1): normalised to (0.5, 0.5).
    Unnormalised,
    /// The halfway vertex's second influence in JOINTS_1/WEIGHTS_1.
    TwoSets,
}

/// A strip along +x in the plane y = 0 (x = 0, 1, 1.5, 2; z = ±0.1), skinned to two bones:
/// bone 0 at the origin, bone 1 at x = 1 (its child). Vertices at x ≤ 1 follow bone 0, x = 2
/// bone 1, x = 1.5 both by half. Bone 1 turns 90° about +z from frame 1 (t = 0) to frame 25
/// (t = 1). The mesh node's own translation (100, 0, 0) must be ignored.
fn two_bone(weights: Weights) -> Builder {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let xs = [0.0f32, 1.0, 1.5, 2.0];
    let mut pos = Vec::new();
    let mut nrm = Vec::new();
    for x in xs {
        for z in [-0.1f32, 0.1] {
            pos.extend([x, 0.0, z]);
            nrm.extend([0.0, 1.0, 0.0]);
        }
    }
    let mut idx = Vec::new();
    for i in 0..3u32 {
        let (a, c) = (2 * i, 2 * i + 2);
        idx.extend([a, a + 1, c + 1, a, c + 1, c]);
    }
    let w_of_x = |x: f32| -> [f32; 4] {
        if x <= 1.0 {
            [1.0, 0.0, 0.0, 0.0]
        } else if x < 2.0 {
            match weights {
                Weights::Plain => [0.5, 0.5, 0.0, 0.0],
                Weights::Unnormalised => [1.0, 1.0, 0.0, 0.0],
                Weights::TwoSets => [0.5, 0.0, 0.0, 0.0],
            }
        } else {
            [0.0, 1.0, 0.0, 0.0]
        }
    };
    let w0: Vec<f32> = xs
        .iter()
        .flat_map(|&x| [w_of_x(x), w_of_x(x)])
        .flatten()
        .collect();
    let j0: Vec<u16> = (0..8).flat_map(|_| [0u16, 1, 0, 0]).collect();
    let p = b.floats(&pos, "VEC3", 3);
    let n = b.floats(&nrm, "VEC3", 3);
    let i = b.indices(&idx);
    let j = b.ushorts(&j0, "VEC4", 4);
    let w = b.floats(&w0, "VEC4", 4);
    let mut attributes = json!({"POSITION": p, "NORMAL": n, "JOINTS_0": j, "WEIGHTS_0": w});
    if weights == Weights::TwoSets {
        // Set 1: the x = 1.5 vertices (4 and 5) get their other half from bone 1.
        let j1: Vec<u16> = (0..8).flat_map(|_| [1u16, 0, 0, 0]).collect();
        let w1: Vec<f32> = (0..8)
            .flat_map(|v| [if v == 4 || v == 5 { 0.5 } else { 0.0 }, 0.0, 0.0, 0.0])
            .collect();
        attributes["JOINTS_1"] = json!(b.ushorts(&j1, "VEC4", 4));
        attributes["WEIGHTS_1"] = json!(b.floats(&w1, "VEC4", 4));
    }
    b.meshes
        .push(json!({"primitives": [{"attributes": attributes, "indices": i, "material": m}]}));
    let mesh = b.meshes.len() - 1;
    let bone1 = b.node(json!({"name": "bone1", "translation": [1.0, 0.0, 0.0]}));
    let bone0 = b.node(json!({"name": "bone0", "children": [bone1]}));
    #[rustfmt::skip]
    let ibm = [
        1.0, 0.0, 0.0, 0.0,  0.0, 1.0, 0.0, 0.0,  0.0, 0.0, 1.0, 0.0,  0.0, 0.0, 0.0, 1.0,
        1.0, 0.0, 0.0, 0.0,  0.0, 1.0, 0.0, 0.0,  0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 1.0,
    ];
    let ibm = b.floats(&ibm, "MAT4", 16);
    b.skins
        .push(json!({"joints": [bone0, bone1], "inverseBindMatrices": ibm, "skeleton": bone0}));
    b.node(json!({"mesh": mesh, "skin": 0, "translation": [100.0, 0.0, 0.0]}));
    let h = std::f32::consts::FRAC_1_SQRT_2;
    b.animate(
        bone1,
        "rotation",
        "LINEAR",
        &[0.0, 1.0],
        &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, h, h],
    );
    b.perspective([0.0, 0.0, 5.0], 0.8);
    b.point_light([0.0, 5.0, 5.0], 100.0);
    b
}

#[test]
fn rotating_the_second_bone_moves_its_vertices_and_blends_the_halfway_ones() {
    let glb = two_bone(Weights::Plain).glb();
    // Frame 1 (t = 0): the bind pose, where the mesh was modelled; the node's (100, 0, 0) is ignored.
    let rest = at(&glb, 1).unwrap();
    assert_eq!(rest.triangle_count(), 6);
    assert!(rest.is_animated());
    let (lo, hi) = rest.bounds();
    assert_near(lo, [0.0, 0.0, -0.1], "rest min");
    assert_near(hi, [2.0, 0.0, 0.1], "rest max");

    // Frame 25 (t = 1): bone 1 has turned 90° about z around (1, 0, 0). The tip (x = 2) is at
    // (1, 1); the halfway vertex lands halfway between where each bone alone would put it,
    // (1.5, 0) by bone 0 and (1, 0.5) by bone 1: (1.25, 0.25), now the largest x.
    let bent = at(&glb, 25).unwrap();
    let (lo, hi) = bent.bounds();
    assert_near(lo, [0.0, 0.0, -0.1], "bent min");
    assert_near(hi, [1.25, 1.0, 0.1], "bent max");
    assert!(bent.warnings().is_empty(), "{:?}", bent.warnings());

    // A ray along −x at y = 0.6 crosses the bent part (1.25, 0.25)–(1, 1) at x = 1.25 − 0.25·(0.35/0.75).
    let side = ([5.0, 0.6, 0.0], [-1.0, 0.0, 0.0]);
    assert!(rest.intersect(side.0, side.1).is_none(), "flat at rest");
    let (t, _) = bent.intersect(side.0, side.1).expect("the bent tip");
    let x = 1.25 - 0.25 * (0.35 / 0.75);
    assert!((t - (5.0 - x)).abs() < 1e-4, "t = {t}");
    // The part on bone 0 does not move: a ray straight down at x = 0.5 hits it at y = 0 in both.
    for s in [&rest, &bent] {
        let (t, _) = s
            .intersect([0.5, 5.0, 0.0], [0.0, -1.0, 0.0])
            .expect("bone 0 part");
        assert!((t - 5.0).abs() < 1e-4, "t = {t}");
    }
    // Halfway through (frame 13, t = 0.5): bone 1 at 45°, the tip at (1 + cos 45°, sin 45°).
    let (_, hi) = at(&glb, 13).unwrap().bounds();
    let h = std::f32::consts::FRAC_1_SQRT_2;
    assert!((hi[1] - h).abs() < 1e-5, "{hi:?}");
}

#[test]
fn weights_are_normalised_and_every_set_counts() {
    for variant in [Weights::Unnormalised, Weights::TwoSets] {
        let (_, hi) = at(&two_bone(variant).glb(), 25).unwrap().bounds();
        assert_near(hi, [1.25, 1.0, 0.1], "bent max");
    }
}

#[test]
fn missing_inverse_bind_matrices_are_identity() {
    // One joint at y = 3 and no inverseBindMatrices: J = world(joint), the strip moves up by 3.
    let mut b = two_bone(Weights::Plain);
    let joint = b.node(json!({"translation": [0.0, 3.0, 0.0]}));
    b.skins[0] = json!({ "joints": [joint] });
    // Every influence to joint 0 (the only one now).
    let mesh = &mut b.meshes[0]["primitives"][0]["attributes"];
    let j_acc = mesh["JOINTS_0"].as_u64().unwrap() as usize;
    let view = b.accessors[j_acc]["bufferView"].as_u64().unwrap() as usize;
    let off = b.views[view]["byteOffset"].as_u64().unwrap() as usize;
    let len = b.views[view]["byteLength"].as_u64().unwrap() as usize;
    b.bin[off..off + len].fill(0);
    b.channels.clear();
    b.samplers.clear();
    let s = at(&b.glb(), 1).unwrap();
    let (lo, hi) = s.bounds();
    assert_near(lo, [0.0, 3.0, -0.1], "min");
    assert_near(hi, [2.0, 3.0, 0.1], "max");
    assert!(!s.is_animated());
}

#[test]
fn bad_skin_data_is_an_error_not_a_panic() {
    let expect_err = |b: &Builder, want: &str| {
        let e = at(&b.glb(), 25)
            .err()
            .unwrap_or_else(|| panic!("{want}: accepted"));
        assert!(e.to_string().contains(want), "{want}: {e}");
    };
    let attr = |b: &Builder, name: &str| {
        b.meshes[0]["primitives"][0]["attributes"][name]
            .as_u64()
            .unwrap() as usize
    };

    // A joint index past the skin's two joints (on a vertex with weight).
    let mut b = two_bone(Weights::Plain);
    let j0: Vec<u16> = (0..8).flat_map(|_| [0u16, 7, 0, 0]).collect();
    let acc = b.ushorts(&j0, "VEC4", 4);
    b.meshes[0]["primitives"][0]["attributes"]["JOINTS_0"] = json!(acc);
    expect_err(&b, "joint 7");

    // WEIGHTS_0 with fewer elements than vertices.
    let mut b = two_bone(Weights::Plain);
    let w = attr(&b, "WEIGHTS_0");
    b.accessors[w]["count"] = json!(5);
    expect_err(&b, "WEIGHTS_0 5");

    // JOINTS_1 without WEIGHTS_1.
    let mut b = two_bone(Weights::TwoSets);
    b.meshes[0]["primitives"][0]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("WEIGHTS_1");
    expect_err(&b, "JOINTS_1 and WEIGHTS_1");

    // No JOINTS_0/WEIGHTS_0 at all on a skinned mesh.
    let mut b = two_bone(Weights::Plain);
    let a = b.meshes[0]["primitives"][0]["attributes"]
        .as_object_mut()
        .unwrap();
    a.remove("JOINTS_0");
    a.remove("WEIGHTS_0");
    expect_err(&b, "without JOINTS_0");

    // One inverse bind matrix for two joints.
    let mut b = two_bone(Weights::Plain);
    let ibm = b.skins[0]["inverseBindMatrices"].as_u64().unwrap() as usize;
    b.accessors[ibm]["count"] = json!(1);
    expect_err(&b, "1 inverse bind matrices for 2 joints");

    // A negative weight.
    let mut b = two_bone(Weights::Plain);
    let w: Vec<f32> = (0..8).flat_map(|_| [1.0f32, -0.5, 0.0, 0.0]).collect();
    let acc = b.floats(&w, "VEC4", 4);
    b.meshes[0]["primitives"][0]["attributes"]["WEIGHTS_0"] = json!(acc);
    expect_err(&b, "weight -0.5");

    // A joint that is not in the scene (an index past the nodes is caught by the glTF parser).
    let mut b = two_bone(Weights::Plain);
    b.skins[0]["joints"] = json!([99, 1]);
    assert!(at(&b.glb(), 1).is_err());

    // JOINTS as floats.
    let mut b = two_bone(Weights::Plain);
    let j = attr(&b, "JOINTS_0");
    b.accessors[j]["componentType"] = json!(5126);
    b.accessors[j]["count"] = json!(4);
    expect_err(&b, "JOINTS must be VEC4");
}
