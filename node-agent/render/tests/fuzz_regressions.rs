//! Inputs `tests/fuzz.rs` found that panicked the loader, minimized: each must be an error.

mod common;
use common::*;
use serde_json::json;
use tessera_render::Scene;

fn expect_gltf_error(bytes: &[u8], what: &str) -> String {
    let outcome = std::panic::catch_unwind(|| Scene::from_bundle(bytes).map(|_| ()));
    match outcome {
        Err(_) => panic!("{what}: the loader panicked"),
        Ok(Ok(())) => panic!("{what}: loaded"),
        Ok(Err(e)) => e.to_string(),
    }
}

/// gltf's own validation indexed the POSITION accessor without a bounds check.
#[test]
fn position_accessor_out_of_range_is_an_error() {
    let doc = json!({"asset": {"version": "2.0"},
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}]});
    let e = expect_gltf_error(&serde_json::to_vec(&doc).unwrap(), "POSITION 0 of none");
    assert!(e.contains("accessor 0 out of range"), "{e}");
}

/// Channel targets are not validated by gltf, whose `property()` and `node()` then unwrap.
#[test]
fn animation_target_with_a_bad_path_or_node_is_an_error() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    let node = b.floor(1.0, m);
    b.animate(node, "translation", "LINEAR", &[0.0, 1.0], &[0.0; 6]);
    let good = b.json(None);
    Scene::from_bundle(&glb_from(&good, &b.bin)).expect("the fixture loads");
    let mut bad_path = good.clone();
    bad_path["animations"][0]["channels"][0]["target"]["path"] = json!("CUBICSPLINE");
    let e = expect_gltf_error(&glb_from(&bad_path, &b.bin), "target path CUBICSPLINE");
    assert!(e.contains("unknown target path"), "{e}");
    let mut bad_node = good;
    bad_node["animations"][0]["channels"][0]["target"]["node"] = json!(7);
    let e = expect_gltf_error(&glb_from(&bad_node, &b.bin), "target node 7");
    assert!(e.contains("target node 7 out of range"), "{e}");
}
