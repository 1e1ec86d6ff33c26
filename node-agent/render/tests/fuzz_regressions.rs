//! Inputs `tests/fuzz.rs` found that panicked the loader, minimized: each must be an error.

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
