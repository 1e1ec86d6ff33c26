//! `node-agent check`, run as the built binary on generated scenes (CPU only, no GPU needed).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("node-agent-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn glb(json: &Value, bin: &[u8]) -> Vec<u8> {
    tessera_render::encode_glb(json, bin)
}

/// One triangle that slides along x from t = 0 to t = 47/24 (frames 1–48), a named camera and
/// a point light. The binary buffer: positions (36 bytes), key times (8), translations (24).
fn animated_scene() -> (Value, Vec<u8>) {
    let mut bin = Vec::new();
    for f in [0.0f32, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0] {
        bin.extend(f.to_le_bytes());
    }
    for f in [0.0f32, 47.0 / 24.0] {
        bin.extend(f.to_le_bytes());
    }
    for f in [0.0f32, 0.0, 0.0, 2.0, 0.0, 0.0] {
        bin.extend(f.to_le_bytes());
    }
    let doc = json!({
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0, 1, 2]}],
        "nodes": [
            {"mesh": 0},
            {"name": "Cam", "camera": 0, "translation": [0.0, 0.0, 5.0]},
            {"translation": [0.0, 3.0, 3.0], "extensions": {"KHR_lights_punctual": {"light": 0}}}
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "cameras": [{"type": "perspective", "perspective": {"yfov": 0.8, "znear": 0.01}}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
             "min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 0.0]},
            {"bufferView": 1, "componentType": 5126, "count": 2, "type": "SCALAR",
             "min": [0.0], "max": [47.0 / 24.0]},
            {"bufferView": 2, "componentType": 5126, "count": 2, "type": "VEC3"}
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36},
            {"buffer": 0, "byteOffset": 36, "byteLength": 8},
            {"buffer": 0, "byteOffset": 44, "byteLength": 24}
        ],
        "buffers": [{"byteLength": bin.len()}],
        "animations": [{
            "channels": [{"sampler": 0, "target": {"node": 0, "path": "translation"}}],
            "samplers": [{"input": 1, "output": 2, "interpolation": "LINEAR"}]
        }],
        "extensionsUsed": ["KHR_lights_punctual"],
        "extensions": {"KHR_lights_punctual": {"lights": [{"type": "point", "intensity": 100.0}]}}
    });
    (doc, bin)
}

fn check(path: &Path, extra: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_node-agent"))
        .arg("check")
        .arg(path)
        .args(["--output", "json"])
        .args(extra)
        // No Vulkan driver may be touched: point the loader at nothing.
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

#[test]
fn check_reports_an_animated_scene() {
    let dir = tmpdir("anim");
    let path = dir.join("anim.glb");
    let (doc, bin) = animated_scene();
    std::fs::write(&path, glb(&doc, &bin)).unwrap();

    let (out, r) = check(&path, &[]);
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["ok"], json!(true));
    assert_eq!(r["triangles"], json!(1));
    assert_eq!(r["textures"], json!(0));
    assert_eq!(r["texture_bytes"], json!(0));
    assert_eq!(r["lights"], json!({"punctual": 1, "emissive_triangles": 0}));
    assert_eq!(r["cameras"], json!([{"node": "Cam", "name": null}]));
    assert_eq!(r["camera"], json!("Cam"));
    assert_eq!(r["animated"], json!(true));
    assert_eq!(r["animation_frames"], json!(48));
    assert_eq!(r["fps"], json!(24.0));
    assert!((r["animation_seconds"].as_f64().unwrap() - 47.0 / 24.0).abs() < 1e-6);
    assert_eq!(r["frames_checked"], json!([1, 48]));
    assert_eq!(
        r["extensions"],
        json!([{"name": "KHR_lights_punctual", "status": "supported"}])
    );
    assert_eq!(r["warnings"], json!([]));

    // An explicit range, and the automatic camera on request.
    let (out, r) = check(&path, &["--frames", "5-10", "--camera", "auto"]);
    assert!(out.status.success());
    assert_eq!(r["frames_checked"], json!([5, 10]));
    assert_eq!(r["camera"], json!("auto"));
    assert!(r["warnings"][0].as_str().unwrap().contains("automatic"));

    // The text report says the same for people.
    let out = Command::new(env!("CARGO_BIN_EXE_node-agent"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("triangles   1"), "{text}");
    assert!(text.contains("48 frames at 24 fps"), "{text}");
    assert!(text.contains("using Cam"), "{text}");
}

#[test]
fn check_uses_defaults_for_a_bare_static_scene() {
    let dir = tmpdir("bare");
    let path = dir.join("bare.glb");
    let (mut doc, bin) = animated_scene();
    let o = doc.as_object_mut().unwrap();
    for k in ["animations", "cameras", "extensions", "extensionsUsed"] {
        o.remove(k);
    }
    doc["nodes"] = json!([{"mesh": 0}]);
    doc["scenes"] = json!([{"nodes": [0]}]);
    std::fs::write(&path, glb(&doc, &bin)).unwrap();
    let (out, r) = check(&path, &[]);
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["camera"], json!("auto"));
    assert_eq!(r["cameras"], json!([]));
    assert_eq!(r["animated"], json!(false));
    assert_eq!(r["animation_seconds"], json!(null));
    assert_eq!(r["animation_frames"], json!(1));
    assert_eq!(r["frames_checked"], json!([1]));
    assert_eq!(r["environment"], json!("color"));
    let w = r["warnings"].to_string();
    assert!(w.contains("automatic") && w.contains("no light"), "{w}");
}

#[test]
fn check_fails_with_every_problem_of_a_broken_scene() {
    let dir = tmpdir("broken");
    let path = dir.join("broken.glb");
    let (mut doc, bin) = animated_scene();
    doc["extensionsUsed"] = json!(["KHR_lights_punctual", "KHR_draco_mesh_compression"]);
    doc["extensionsRequired"] = json!(["KHR_draco_mesh_compression"]);
    doc["meshes"][0]["primitives"][0]["mode"] = json!(1); // lines
    std::fs::write(&path, glb(&doc, &bin)).unwrap();
    let (out, r) = check(&path, &[]);
    assert!(
        !out.status.success(),
        "a scene that would not render must fail"
    );
    assert_eq!(r["ok"], json!(false));
    assert_eq!(r["frame"], json!(1));
    let problems = r["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{r:#}");
    assert_eq!(
        problems[0]["extension"],
        json!("KHR_draco_mesh_compression")
    );
    assert!(problems[0]["fix"]
        .as_str()
        .unwrap()
        .contains("without Draco"));
    assert!(problems[1]["detail"].as_str().unwrap().contains("Lines"));
    assert_eq!(
        r["extensions"],
        json!([{"name": "KHR_draco_mesh_compression", "status": "refused"}])
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("would not render"), "{stderr}");

    // Not a scene at all.
    let junk = dir.join("junk.glb");
    std::fs::write(&junk, b"not a scene").unwrap();
    let (out, r) = check(&junk, &[]);
    assert!(!out.status.success());
    assert_eq!(r["ok"], json!(false));
    assert!(r["error"].as_str().unwrap().contains("glTF"), "{r:#}");
    assert_eq!(r["problems"], json!([]));
    // A missing file.
    let (out, r) = check(&dir.join("missing.glb"), &[]);
    assert!(!out.status.success());
    assert!(
        r["error"].as_str().unwrap().contains("missing.glb"),
        "{r:#}"
    );
}

/// Every extension of issue 12 is listed as supported; the ones still refused (Draco, meshopt,
/// WebP, specular-glossiness) each get a problem naming the extension and the Blender fix.
#[test]
fn check_lists_the_material_and_mesh_extensions() {
    let dir = tmpdir("exts");
    let (mut doc, bin) = animated_scene();
    let supported = [
        "KHR_lights_punctual",
        "KHR_materials_transmission",
        "KHR_materials_volume",
        "KHR_materials_ior",
        "KHR_materials_clearcoat",
        "KHR_materials_sheen",
        "KHR_materials_specular",
        "KHR_mesh_quantization",
    ];
    doc["extensionsUsed"] = json!(supported);
    doc["materials"] = json!([{"extensions": {
        "KHR_materials_transmission": {"transmissionFactor": 1.0},
        "KHR_materials_volume": {"thicknessFactor": 1.0, "attenuationColor": [0.5, 0.5, 0.5], "attenuationDistance": 2.0},
        "KHR_materials_ior": {"ior": 1.4},
        "KHR_materials_clearcoat": {"clearcoatFactor": 1.0},
        "KHR_materials_sheen": {"sheenColorFactor": [1.0, 1.0, 1.0]},
        "KHR_materials_specular": {"specularFactor": 0.5}
    }}]);
    doc["meshes"][0]["primitives"][0]["material"] = json!(0);
    let path = dir.join("exts.glb");
    std::fs::write(&path, glb(&doc, &bin)).unwrap();
    let (out, r) = check(&path, &[]);
    assert!(out.status.success(), "{r:#}");
    let listed: Vec<(String, String)> = r["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for name in supported {
        assert!(
            listed.contains(&(name.to_string(), "supported".to_string())),
            "{name}: {listed:?}"
        );
    }

    for (name, fix) in [
        ("KHR_draco_mesh_compression", "Compression off"),
        ("EXT_meshopt_compression", "without meshopt"),
        ("EXT_texture_webp", "PNG/JPEG"),
        ("KHR_materials_pbrSpecularGlossiness", "metallic-roughness"),
    ] {
        let (mut doc, bin) = animated_scene();
        doc["extensionsUsed"] = json!(["KHR_lights_punctual", name]);
        doc["extensionsRequired"] = json!([name]);
        let path = dir.join(format!("{name}.glb"));
        std::fs::write(&path, glb(&doc, &bin)).unwrap();
        let (out, r) = check(&path, &[]);
        assert!(!out.status.success(), "{name} must be refused");
        let p = &r["problems"][0];
        assert_eq!(p["extension"], json!(name), "{r:#}");
        assert!(p["fix"].as_str().unwrap().contains(fix), "{name}: {p}");
        assert_eq!(
            r["extensions"],
            json!([{"name": name, "status": "refused"}])
        );
    }
}
