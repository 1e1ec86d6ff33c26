//! Sparse accessors and KHR_mesh_quantization, in files built here: each must load to the same
//! geometry as its plain float, dense twin.

mod common;
use common::*;
use serde_json::{json, Value};
use tessera_render::{ExtensionStatus, FrameRate, LoadOptions, Scene, SceneError};

/// A buffer view of raw bytes (4-byte aligned).
fn view(b: &mut Builder, bytes: &[u8]) -> usize {
    while !b.bin.len().is_multiple_of(4) {
        b.bin.push(0);
    }
    b.views
        .push(json!({"buffer": 0, "byteOffset": b.bin.len(), "byteLength": bytes.len()}));
    b.bin.extend_from_slice(bytes);
    b.views.len() - 1
}

fn accessor(b: &mut Builder, a: Value) -> usize {
    b.accessors.push(a);
    b.accessors.len() - 1
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

fn set_attribute(b: &mut Builder, node: usize, name: &str, acc: usize) {
    let mesh = b.nodes[node]["mesh"].as_u64().unwrap() as usize;
    b.meshes[mesh]["primitives"][0]["attributes"][name] = json!(acc);
}

/// Distances along a grid of rays straight down onto the scene (None: miss).
fn depth_grid(scene: &Scene) -> Vec<Option<f32>> {
    let mut out = Vec::new();
    for i in 0..9 {
        for j in 0..9 {
            let x = -2.0 + 0.5 * i as f32;
            let z = -2.0 + 0.5 * j as f32 + 0.01;
            out.push(scene.intersect([x, 5.0, z], [0.0, -1.0, 0.0]).map(|h| h.0));
        }
    }
    out
}

fn close(a: &[Option<f32>], b: &[Option<f32>], eps: f32) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= eps,
            (None, None) => true,
            _ => false,
        })
}

/// A floor quad with a morph target that lifts two corners by 1, weight 1.
fn morphed_floor(sparse: bool) -> Builder {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    let node = b.floor(1.0, m);
    let mesh = b.nodes[node]["mesh"].as_u64().unwrap() as usize;
    let target = if sparse {
        // Only vertices 1 and 2 move: 2 sparse entries over 4 zero deltas, no bufferView.
        let iv = view(
            &mut b,
            &[1u16, 2]
                .iter()
                .flat_map(|i| i.to_le_bytes())
                .collect::<Vec<_>>(),
        );
        let vv = view(&mut b, &f32_bytes(&[0.0, 1.0, 0.0, 0.0, 1.0, 0.0]));
        accessor(
            &mut b,
            json!({"componentType": 5126, "count": 4, "type": "VEC3",
                "min": [0.0, 0.0, 0.0], "max": [0.0, 1.0, 0.0],
                "sparse": {"count": 2, "indices": {"bufferView": iv, "componentType": 5123},
                           "values": {"bufferView": vv}}}),
        )
    } else {
        b.floats(
            &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            "VEC3",
            3,
        )
    };
    b.meshes[mesh]["primitives"][0]["targets"] = json!([{ "POSITION": target }]);
    b.meshes[mesh]["weights"] = json!([1.0]);
    b.ortho_down([0.0, 3.0, 0.0], 1.0);
    b
}

#[test]
fn sparse_morph_target_moves_the_same_vertices_as_its_dense_twin() {
    let dense = Scene::from_bundle(&morphed_floor(false).glb()).unwrap();
    let sparse = Scene::from_bundle(&morphed_floor(true).glb()).unwrap();
    assert_eq!(dense.bounds(), sparse.bounds());
    assert_eq!(sparse.bounds().1[1], 1.0, "the sparse deltas were applied");
    let (a, b) = (depth_grid(&dense), depth_grid(&sparse));
    assert!(close(&a, &b, 0.0), "{a:?}\n{b:?}");
}

/// A sparse accessor over a bufferView: the listed elements replace the dense ones.
#[test]
fn sparse_positions_replace_the_listed_vertices() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    let node = b.floor(1.0, m);
    let base = b.floats(
        &[
            -1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, -1.0, -1.0, 0.0, -1.0,
        ],
        "VEC3",
        3,
    );
    let iv = view(&mut b, &[2u8, 0, 0, 0]);
    let vv = view(&mut b, &f32_bytes(&[1.0, 2.0, -1.0]));
    b.accessors[base]["sparse"] = json!({"count": 1, "indices": {"bufferView": iv, "componentType": 5121}, "values": {"bufferView": vv}});
    b.accessors[base]["max"] = json!([1.0, 2.0, 1.0]);
    set_attribute(&mut b, node, "POSITION", base);
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    assert_eq!(scene.bounds(), ([-1.0, 0.0, -1.0], [1.0, 2.0, 1.0]));

    // Indices out of range, or not strictly increasing, are data errors.
    for (indices, what) in [
        ([7u8, 0, 0, 0], "out of range"),
        ([2, 2, 0, 0], "increasing"),
    ] {
        let mut bad = Builder {
            ..Default::default()
        };
        let m = bad.material(diffuse([0.5; 3]));
        let node = bad.floor(1.0, m);
        let base = bad.floats(
            &[
                -1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, -1.0, -1.0, 0.0, -1.0,
            ],
            "VEC3",
            3,
        );
        let count = if what == "increasing" { 2 } else { 1 };
        let iv = view(&mut bad, &indices);
        let vv = view(&mut bad, &f32_bytes(&[1.0, 2.0, -1.0, 1.0, 2.0, -1.0]));
        bad.accessors[base]["sparse"] = json!({"count": count, "indices": {"bufferView": iv, "componentType": 5121}, "values": {"bufferView": vv}});
        set_attribute(&mut bad, node, "POSITION", base);
        match Scene::from_bundle(&bad.glb()) {
            Err(e @ SceneError::Data { .. }) => assert!(e.to_string().contains("sparse"), "{e}"),
            Err(e) => panic!("expected a data error, got {e}"),
            Ok(_) => panic!("sparse indices {indices:?} were accepted"),
        }
    }
}

/// Sparse triangle indices: the floor's second triangle is degenerate (0, 2, 2) in the buffer
/// and made whole (0, 2, 3) by one sparse entry, so it hits where the dense floor hits.
#[test]
fn sparse_triangle_indices_replace_the_listed_corners() {
    let mut dense = Builder::default();
    let m = dense.material(diffuse([0.5; 3]));
    dense.floor(1.0, m);
    let want = depth_grid(&Scene::from_bundle(&dense.glb()).unwrap());

    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    b.floor(1.0, m);
    let idx = b.indices(&[0, 1, 2, 0, 2, 2]);
    b.meshes[0]["primitives"][0]["indices"] = json!(idx);
    let half = depth_grid(&Scene::from_bundle(&b.glb()).unwrap());
    assert_ne!(
        half, want,
        "the degenerate twin must miss where the second triangle was"
    );
    let iv = view(&mut b, &[5u8, 0, 0, 0]);
    let vv = view(&mut b, &3u32.to_le_bytes());
    b.accessors[idx]["sparse"] = json!({"count": 1, "indices": {"bufferView": iv, "componentType": 5121}, "values": {"bufferView": vv}});
    let got = depth_grid(&Scene::from_bundle(&b.glb()).unwrap());
    assert!(close(&got, &want, 1e-6), "{got:?} vs {want:?}");
}

/// A sparse animation output: keys (0, 0, 0) and (0, 0, 0) in the buffer, the second replaced
/// by (2, 0, 0), so at t = 1 s (frame 25 at 24 fps) the floor has moved by 2 along x, as its
/// dense twin has.
#[test]
fn sparse_animation_outputs_move_the_node_as_their_dense_twin() {
    let build = |sparse: bool| {
        let mut b = Builder::default();
        let m = b.material(diffuse([0.5; 3]));
        let node = b.floor(1.0, m);
        let second = if sparse { 0.0 } else { 2.0 };
        b.animate(
            node,
            "translation",
            "LINEAR",
            &[0.0, 1.0],
            &[0.0, 0.0, 0.0, second, 0.0, 0.0],
        );
        if sparse {
            let output = b.samplers[0]["output"].as_u64().unwrap() as usize;
            let iv = view(&mut b, &[1u8, 0, 0, 0]);
            let vv = view(&mut b, &f32_bytes(&[2.0, 0.0, 0.0]));
            b.accessors[output]["sparse"] = json!({"count": 1, "indices": {"bufferView": iv, "componentType": 5121}, "values": {"bufferView": vv}});
        }
        b.glb()
    };
    let at = |glb: &[u8], frame| {
        Scene::from_bundle_with(glb, &LoadOptions::at_frame(frame, FrameRate::DEFAULT))
            .unwrap()
            .bounds()
    };
    let (dense, sparse) = (build(false), build(true));
    assert_eq!(at(&sparse, 25), at(&dense, 25));
    assert_eq!(at(&sparse, 25), ([1.0, 0.0, -1.0], [3.0, 0.0, 1.0]));
    assert_eq!(at(&sparse, 1), ([-1.0, 0.0, -1.0], [1.0, 0.0, 1.0]));
}

/// The floor quad's corners as normalised shorts (±1 → ±32767) with a node scale of 1.5 that
/// dequantises them, signed-byte normals, and UVs as unnormalised unsigned bytes with a
/// KHR_texture_transform-free scale of 1 (0 and 1 are exact): the same triangles as floats.
fn quantized_floor(declare: bool) -> Builder {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    let node = b.floor(1.0, m);
    let q: Vec<i16> = vec![
        -32767, 0, 32767, 32767, 0, 32767, 32767, 0, -32767, -32767, 0, -32767,
    ];
    let pv = view(
        &mut b,
        &q.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
    );
    let p = accessor(
        &mut b,
        json!({"bufferView": pv, "componentType": 5122, "normalized": true, "count": 4, "type": "VEC3",
            "min": [-32767, 0, -32767], "max": [32767, 0, 32767]}),
    );
    // Normals: (0, 127, 0) signed bytes, padded to 4 bytes per element.
    let nv = view(&mut b, &[0u8, 127, 0, 0].repeat(4));
    b.views[nv]["byteStride"] = json!(4);
    let n = accessor(
        &mut b,
        json!({"bufferView": nv, "componentType": 5120, "normalized": true, "count": 4, "type": "VEC3"}),
    );
    let tv = view(&mut b, &[0u8, 1, 1, 1, 1, 0, 0, 0]);
    let t = accessor(
        &mut b,
        json!({"bufferView": tv, "componentType": 5121, "count": 4, "type": "VEC2"}),
    );
    set_attribute(&mut b, node, "POSITION", p);
    set_attribute(&mut b, node, "NORMAL", n);
    set_attribute(&mut b, node, "TEXCOORD_0", t);
    b.nodes[node]["scale"] = json!([1.5, 1.5, 1.5]);
    if declare {
        b.extensions.push("KHR_mesh_quantization");
    }
    b.ortho_down([0.0, 3.0, 0.0], 1.0);
    b
}

#[test]
fn quantized_attributes_dequantise_through_the_node_transform() {
    let mut plain = Builder::default();
    let m = plain.material(diffuse([0.5; 3]));
    let node = plain.floor(1.0, m);
    plain.nodes[node]["scale"] = json!([1.5, 1.5, 1.5]);
    plain.ortho_down([0.0, 3.0, 0.0], 1.0);
    let plain = Scene::from_bundle(&plain.glb()).unwrap();

    let mut q = quantized_floor(true);
    let quant = Scene::from_bundle(&q.glb()).unwrap();
    assert!(quant
        .extensions()
        .contains(&("KHR_mesh_quantization".into(), ExtensionStatus::Supported)));
    assert_eq!(quant.bounds(), plain.bounds());
    let (a, b) = (depth_grid(&plain), depth_grid(&quant));
    assert!(close(&a, &b, 1e-6), "{a:?}\n{b:?}");

    // Also when the extension is required.
    q.extensions.clear();
    let mut j = q.json(None);
    j["extensionsUsed"] = json!(["KHR_mesh_quantization"]);
    j["extensionsRequired"] = json!(["KHR_mesh_quantization"]);
    assert!(Scene::from_bundle(&glb_from(&j, &q.bin)).is_ok());

    // Without the extension, integer positions are refused and the message says why.
    let e = Scene::from_bundle(&quantized_floor(false).glb())
        .err()
        .expect("integer positions without KHR_mesh_quantization");
    assert!(
        e.to_string()
            .contains("integers only with KHR_mesh_quantization"),
        "{e}"
    );
}

/// Unnormalised unsigned-byte positions (0…2 grid units) with a node scale and offset
/// (glTF's dequantisation matrix) land where float positions do.
#[test]
fn unnormalised_byte_positions_are_integers_scaled_by_the_node() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    let node = b.floor(1.0, m);
    let pv = view(&mut b, &[0u8, 0, 2, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    b.views[pv]["byteStride"] = json!(4);
    let p = accessor(
        &mut b,
        json!({"bufferView": pv, "componentType": 5121, "count": 4, "type": "VEC3",
            "min": [0, 0, 0], "max": [2, 0, 2]}),
    );
    set_attribute(&mut b, node, "POSITION", p);
    b.nodes[node]["scale"] = json!([0.5, 0.5, 0.5]);
    b.nodes[node]["translation"] = json!([-0.5, 0.0, -0.5]);
    b.extensions.push("KHR_mesh_quantization");
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    assert_eq!(scene.bounds(), ([-0.5, 0.0, -0.5], [0.5, 0.0, 0.5]));
}
