//! Scene loading without a GPU: the shipped scene, textured fixtures, bundles, hostile inputs.

mod common;
use common::*;
use serde_json::json;
use tessera_render::{Scene, SceneError, STANDARD_SCENE_GLB};

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-render-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x * 60) as u8, (y * 60) as u8, 128, 255])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A textured quad scene, camera and a point light; images referenced by URI.
fn textured() -> Builder {
    let mut b = Builder::default();
    b.images.push(json!({"uri": "tex.png"}));
    b.textures.push(json!({"source": 0}));
    let m = b.material(
        json!({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0}}),
    );
    b.floor(1.0, m);
    b.perspective([0.0, 0.5, 3.0], 0.8);
    b.point_light([0.0, 2.0, 0.0], 100.0);
    b
}

#[test]
fn shipped_cornell_box_loads() {
    let s = Scene::from_bundle(STANDARD_SCENE_GLB).unwrap();
    assert_eq!(s.triangle_count(), 2244);
    assert!(
        !s.is_animated(),
        "a static scene: one load serves every frame"
    );
    assert_eq!(
        s.light_count(),
        2,
        "the emissive quad is two triangle lights"
    );
    assert_eq!(s.material_count(), 5, "4 materials + the default");
    assert!(s.bvh_node_count() > 100);
    let cam = s.camera();
    assert_eq!(cam.position, [0.0, 1.0, 3.0]);
    assert!((cam.forward[2] + 1.0).abs() < 1e-6);
    // A ray from the camera straight ahead hits the back wall (z = −2.5 in the Blender export).
    let (t, _) = s.intersect(cam.position, cam.forward).expect("hit");
    assert!(t > 3.0 && t < 6.0, "t = {t}");
}

#[test]
fn gltf_with_external_buffer_and_texture_loads_from_path_and_tar() {
    let b = textured();
    let dir = tmpdir("ext");
    let gltf = serde_json::to_vec_pretty(&b.json(Some("scene.bin"))).unwrap();
    std::fs::write(dir.join("scene.gltf"), &gltf).unwrap();
    std::fs::write(dir.join("scene.bin"), &b.bin).unwrap();
    std::fs::write(dir.join("tex.png"), png(4, 3)).unwrap();
    let s = Scene::from_path(&dir.join("scene.gltf")).unwrap();
    assert_eq!(s.triangle_count(), 2);
    assert_eq!(s.texture_count(), 1);
    assert_eq!(s.light_count(), 1);

    // The same files as a tar bundle, in a sub-directory.
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("scene/scene.gltf", gltf.clone()),
        ("scene/scene.bin", b.bin.clone()),
        ("scene/tex.png", png(4, 3)),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let bytes = tar.into_inner().unwrap();
    let s2 = Scene::from_bundle(&bytes).unwrap();
    assert_eq!(s2.triangle_count(), 2);
    assert_eq!(s2.texture_count(), 1);
    std::fs::write(dir.join("bundle.tar"), &bytes).unwrap();
    assert_eq!(
        Scene::from_path(&dir.join("bundle.tar"))
            .unwrap()
            .texture_count(),
        1
    );

    // A missing texture is an error naming the file.
    std::fs::remove_file(dir.join("tex.png")).unwrap();
    let e = Scene::from_path(&dir.join("scene.gltf")).err().unwrap();
    assert!(e.to_string().contains("tex.png"), "{e}");
}

#[test]
fn environment_from_scene_extras() {
    let mut b = textured();
    b.images.clear();
    b.textures.clear();
    b.materials[0] = diffuse([0.5, 0.5, 0.5]);
    b.scene_extras =
        Some(json!({"tessera_environment": {"color": [0.1, 0.2, 0.3], "strength": 2.0}}));
    let s = Scene::from_bundle(&b.glb()).unwrap();
    match s.environment() {
        tessera_render::Environment::Color(c) => assert_eq!(*c, [0.2, 0.4, 0.6]),
        e => panic!("unexpected environment {e:?}"),
    }
}

fn expect_err(bytes: &[u8], what: &str) -> SceneError {
    match Scene::from_bundle(bytes) {
        Ok(_) => panic!("{what}: hostile input was accepted"),
        Err(e) => e,
    }
}

#[test]
fn truncated_and_garbage_inputs_fail_cleanly() {
    for cut in (0..STANDARD_SCENE_GLB.len()).step_by(997) {
        expect_err(&STANDARD_SCENE_GLB[..cut], "truncated glb");
    }
    expect_err(b"not a scene at all", "garbage");
    let mut flipped = STANDARD_SCENE_GLB.to_vec();
    flipped[30] ^= 0xff; // corrupt the JSON
    expect_err(&flipped, "corrupt json");
}

#[test]
fn out_of_range_index_is_rejected() {
    let mut b = Builder::default();
    let m = b.material(diffuse([1.0; 3]));
    b.quad(
        [[0.0; 3], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        m,
    );
    b.perspective([0.0, 0.0, 3.0], 0.8);
    // Overwrite the index data (last 24 bytes) with an index past the 4 vertices.
    let n = b.bin.len();
    b.bin[n - 4..].copy_from_slice(&1_000_000u32.to_le_bytes());
    let e = expect_err(&b.glb(), "index");
    assert!(e.to_string().contains("out of range"), "{e}");
}

#[test]
fn absurd_counts_and_sizes_are_rejected() {
    let mut b = Builder::default();
    let m = b.material(diffuse([1.0; 3]));
    b.quad(
        [[0.0; 3], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        m,
    );
    b.perspective([0.0, 0.0, 3.0], 0.8);
    let mut j = b.json(None);
    j["accessors"][0]["count"] = json!(4_000_000_000u64);
    expect_err(&glb_from(&j, &b.bin), "accessor count");
    let mut j = b.json(None);
    j["buffers"][0]["byteLength"] = json!(1u64 << 40);
    let e = expect_err(&glb_from(&j, &b.bin), "buffer length");
    assert!(
        matches!(
            e,
            SceneError::Limit(_) | SceneError::Data { .. } | SceneError::Gltf(_)
        ),
        "{e}"
    );
    let mut j = b.json(None);
    j["bufferViews"][0]["byteOffset"] = json!(u32::MAX);
    expect_err(&glb_from(&j, &b.bin), "view offset");
}

#[test]
fn huge_texture_is_rejected_before_decoding() {
    // A PNG header that claims 100 000 × 100 000 pixels.
    let mut fake = png(1, 1);
    fake[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    fake[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let mut b = textured();
    b.images[0] = json!({"uri": "data:image/png;base64,".to_owned() + &base64_encode(&fake)});
    let e = expect_err(&b.glb(), "huge texture");
    assert!(
        matches!(e, SceneError::Limit(_) | SceneError::Image { .. }),
        "{e}"
    );
}

#[test]
fn arrays_over_the_device_storage_range_are_refused_while_loading() {
    use tessera_render::{LoadOptions, SceneLimits};
    let with = |max_array_bytes| LoadOptions {
        limits: SceneLimits {
            max_array_bytes,
            ..Default::default()
        },
        ..Default::default()
    };
    // The Cornell box: 2244 triangles × 64 bytes of shading records = 143 616 bytes.
    assert!(Scene::from_bundle_with(STANDARD_SCENE_GLB, &with(143_616)).is_ok());
    let Err(e) = Scene::from_bundle_with(STANDARD_SCENE_GLB, &with(143_615)) else {
        panic!("loaded over the limit")
    };
    let m = e.to_string();
    assert!(matches!(e, SceneError::Limit(_)), "{m}");
    assert!(m.contains("maxStorageBufferRange of 143615 bytes"), "{m}");
    assert!(m.contains("shading records"), "{m}");
    // A 16×16 texture (1024 bytes of texels) against a 1000-byte range.
    let mut b = textured();
    b.images[0] =
        json!({"uri": "data:image/png;base64,".to_owned() + &base64_encode(&png(16, 16))});
    let Err(e) = Scene::from_bundle_with(&b.glb(), &with(1000)) else {
        panic!("loaded over the limit")
    };
    assert!(
        e.to_string().contains("16×16") && e.to_string().contains("1024 bytes"),
        "{e}"
    );
    assert!(Scene::from_bundle_with(&b.glb(), &with(1024)).is_ok());
}

#[test]
fn unsupported_features_are_reported() {
    let mut b = textured();
    b.extensions.push("KHR_materials_iridescence");
    let e = expect_err(&b.glb(), "extension");
    assert!(e.to_string().contains("KHR_materials_iridescence"), "{e}");

    let mut b = textured();
    b.meshes[0]["primitives"][0]["mode"] = json!(1); // lines
    assert!(matches!(
        expect_err(&b.glb(), "lines"),
        SceneError::Unsupported(_)
    ));

    let mut b = textured();
    b.materials[0]["pbrMetallicRoughness"]["baseColorTexture"]["texCoord"] = json!(2);
    assert!(matches!(
        expect_err(&b.glb(), "TEXCOORD_2"),
        SceneError::Unsupported(_)
    ));
}

#[test]
fn every_unsupported_feature_is_reported_at_once() {
    let mut b = textured();
    b.extensions.push("KHR_draco_mesh_compression");
    b.extensions.push("EXT_texture_webp");
    b.materials[0]["pbrMetallicRoughness"]["baseColorTexture"]["texCoord"] = json!(2);
    b.meshes[0]["primitives"][0]["mode"] = json!(1); // lines
    let mut j = b.json(None);
    j["extensionsRequired"] = json!(["KHR_draco_mesh_compression"]);
    let e = expect_err(&glb_from(&j, &b.bin), "four problems");
    let SceneError::Unsupported(problems) = &e else {
        panic!("expected Unsupported, got {e}");
    };
    assert_eq!(problems.len(), 4, "{e}");
    assert_eq!(e.problems(), problems.as_slice());
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "a count, then one problem per line:\n{text}"
    );
    assert_eq!(lines[0], "4 unsupported glTF features:");
    for want in [
        "extension KHR_draco_mesh_compression: required but not supported (export without Draco compression",
        "extension EXT_texture_webp: not supported (export textures as PNG/JPEG",
        "mesh 0 primitive 0: mode Lines",
        "material 0: TEXCOORD_2 (only TEXCOORD_0 and TEXCOORD_1)",
    ] {
        assert!(lines.iter().any(|l| l.contains(want)), "{want:?} missing in\n{text}");
    }
    assert_eq!(
        problems[0].extension.as_deref(),
        Some("KHR_draco_mesh_compression")
    );
    assert!(problems[2].extension.is_none());

    // One problem reads as one line.
    let mut b = textured();
    b.extensions.push("KHR_materials_pbrSpecularGlossiness");
    let e = expect_err(&b.glb(), "one problem");
    assert_eq!(
        e.to_string(),
        "unsupported glTF feature: extension KHR_materials_pbrSpecularGlossiness: not supported \
         (convert to metallic-roughness (re-export from Blender's Principled BSDF, or gltf-transform metalrough))"
    );
}

#[test]
fn extensions_are_listed_with_their_status() {
    use tessera_render::{extension_status, ExtensionStatus};
    let mut b = textured();
    b.images.clear();
    b.textures.clear();
    b.materials[0] = diffuse([0.5; 3]);
    b.extensions.push("KHR_materials_variants");
    let s = Scene::from_bundle(&b.glb()).unwrap();
    let ext: Vec<(&str, ExtensionStatus)> = s
        .extensions()
        .iter()
        .map(|(n, st)| (n.as_str(), *st))
        .collect();
    assert_eq!(
        ext,
        [
            ("KHR_lights_punctual", ExtensionStatus::Supported),
            ("KHR_materials_variants", ExtensionStatus::Ignored),
            ("KHR_materials_specular", ExtensionStatus::Supported),
        ]
    );
    assert_eq!(
        extension_status("KHR_draco_mesh_compression"),
        ExtensionStatus::Refused
    );
    // Required, an ignored extension still loads (the glTF crate alone would refuse it).
    let mut j = b.json(None);
    j["extensionsRequired"] = json!(["KHR_materials_variants", "KHR_lights_punctual"]);
    let s = Scene::from_bundle(&glb_from(&j, &b.bin)).unwrap();
    assert_eq!(s.extensions().len(), 3);
}

#[test]
fn external_files_cannot_escape_the_bundle() {
    let b = textured();
    let dir = tmpdir("escape");
    let mut j = b.json(Some("scene.bin"));
    j["images"][0]["uri"] = json!("../../../../etc/passwd");
    std::fs::write(dir.join("scene.gltf"), serde_json::to_vec(&j).unwrap()).unwrap();
    std::fs::write(dir.join("scene.bin"), &b.bin).unwrap();
    let e = Scene::from_path(&dir.join("scene.gltf"))
        .err()
        .expect("escape refused");
    assert!(e.to_string().contains("leaves the bundle"), "{e}");
    // A bare .glb that references an external file says it needs a tar bundle.
    let e = expect_err(
        &glb_from(&b.json(Some("scene.bin")), &[]),
        "external from glb",
    );
    assert!(e.to_string().contains("tar"), "{e}");
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A tar bundle of `(path, contents)` files and `(path, target)` symbolic links.
fn tar_with_links(files: &[(&str, Vec<u8>)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    for (name, target) in links {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, name, target).unwrap();
    }
    tar.into_inner().unwrap()
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_a_gltf_folder_are_refused_like_dot_dot() {
    use std::os::unix::fs::symlink;
    let b = textured();
    let root = tmpdir("symlink");
    let (dir, outside) = (root.join("bundle"), root.join("outside"));
    std::fs::create_dir_all(dir.join("maps")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.png"), png(4, 3)).unwrap();
    std::fs::write(dir.join("maps/real.png"), png(4, 3)).unwrap();
    std::fs::write(
        dir.join("scene.gltf"),
        serde_json::to_vec(&b.json(Some("scene.bin"))).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("scene.bin"), &b.bin).unwrap();

    // A link to a file inside the folder is followed.
    symlink(dir.join("maps/real.png"), dir.join("tex.png")).unwrap();
    let s = Scene::from_path(&dir.join("scene.gltf")).unwrap();
    assert_eq!(s.texture_count(), 1);

    // A link to a file outside the folder is refused, as `../outside/secret.png` would be.
    std::fs::remove_file(dir.join("tex.png")).unwrap();
    symlink("../outside/secret.png", dir.join("tex.png")).unwrap();
    let e = Scene::from_path(&dir.join("scene.gltf"))
        .err()
        .expect("refused");
    assert!(e.to_string().contains("leaves the bundle"), "{e}");

    // So is a file reached through a linked folder that lies outside.
    let mut j = b.json(Some("scene.bin"));
    j["images"][0]["uri"] = json!("linked/secret.png");
    std::fs::write(dir.join("scene.gltf"), serde_json::to_vec(&j).unwrap()).unwrap();
    symlink(&outside, dir.join("linked")).unwrap();
    let e = Scene::from_path(&dir.join("scene.gltf"))
        .err()
        .expect("refused");
    assert!(e.to_string().contains("leaves the bundle"), "{e}");

    // The folder itself may be reached through a link: only what lies under it counts.
    symlink(&dir, root.join("via-link")).unwrap();
    j["images"][0]["uri"] = json!("maps/real.png");
    std::fs::write(dir.join("scene.gltf"), serde_json::to_vec(&j).unwrap()).unwrap();
    let s = Scene::from_path(&root.join("via-link/scene.gltf")).unwrap();
    assert_eq!(s.texture_count(), 1);
}

#[test]
fn links_in_a_tar_bundle_are_followed_inside_and_refused_outside() {
    let b = textured();
    let gltf = serde_json::to_vec(&b.json(Some("scene.bin"))).unwrap();
    let files = [
        ("scene/scene.gltf", gltf.clone()),
        ("scene/scene.bin", b.bin.clone()),
        ("scene/maps/real.png", png(4, 3)),
        ("other/tex.png", png(4, 3)),
    ];
    for (target, ok) in [
        ("maps/real.png", true),
        ("./maps/../maps/real.png", true),
        ("../../etc/passwd", false),
        ("/etc/passwd", false),
        // Inside the archive but outside the main file's folder.
        ("../other/tex.png", false),
    ] {
        let bytes = tar_with_links(&files, &[("scene/tex.png", target)]);
        match Scene::from_bundle(&bytes) {
            Ok(s) => {
                assert!(ok, "link to {target} followed");
                assert_eq!(s.texture_count(), 1);
            }
            Err(e) => {
                assert!(!ok, "link to {target}: {e}");
                assert!(e.to_string().contains("leaves the bundle"), "{e}");
            }
        }
    }
    // A linked folder, and a loop of links.
    let mut j = b.json(Some("scene.bin"));
    j["images"][0]["uri"] = json!("linked/real.png");
    let linked = [
        ("scene/scene.gltf", serde_json::to_vec(&j).unwrap()),
        ("scene/scene.bin", b.bin.clone()),
        ("scene/maps/real.png", png(4, 3)),
    ];
    let bytes = tar_with_links(&linked, &[("scene/linked", "maps")]);
    assert_eq!(Scene::from_bundle(&bytes).unwrap().texture_count(), 1);
    let bytes = tar_with_links(&linked, &[("scene/linked", "/tmp")]);
    let e = expect_err(&bytes, "linked folder outside");
    assert!(e.to_string().contains("leaves the bundle"), "{e}");
    let bytes = tar_with_links(
        &linked,
        &[("scene/linked", "loop"), ("scene/loop", "linked")],
    );
    let e = expect_err(&bytes, "link loop");
    assert!(e.to_string().contains("links"), "{e}");
}

/// A .glb whose JSON chunk is all there is (the buffer is a data: URI).
fn json_only_glb(b: &Builder) -> Vec<u8> {
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64_encode(&b.bin)
    );
    let mut js = serde_json::to_vec(&b.json(Some(&uri))).unwrap();
    while !js.len().is_multiple_of(4) {
        js.push(b' ');
    }
    let mut out = Vec::new();
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend((20 + js.len() as u32).to_le_bytes());
    out.extend((js.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(js);
    out
}

#[test]
fn bytes_after_a_glb_declared_length_are_ignored_with_a_warning() {
    let clean = Scene::from_bundle(STANDARD_SCENE_GLB).unwrap();
    assert!(
        !clean
            .warnings()
            .iter()
            .any(|w| w.contains("declared length")),
        "{:?}",
        clean.warnings()
    );
    let mut padded = STANDARD_SCENE_GLB.to_vec();
    padded.extend(b"appended by some tool\n");
    let s = Scene::from_bundle(&padded).unwrap();
    assert_eq!(s.triangle_count(), clean.triangle_count());
    let w = s.warnings().join("\n");
    assert!(
        w.contains("22 bytes after the .glb's declared length"),
        "{w}"
    );

    // Without a BIN chunk, trailing bytes would otherwise be read as a chunk header.
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5; 3]));
    b.floor(1.0, m);
    let glb = json_only_glb(&b);
    let s = Scene::from_bundle(&glb).unwrap();
    assert!(!s.warnings().iter().any(|w| w.contains("declared length")));
    let mut padded = glb.clone();
    padded.extend([0u8; 13]);
    let s = Scene::from_bundle(&padded).unwrap();
    assert!(s.warnings().iter().any(|w| w.contains("13 bytes after")));

    // A declared length past the end, or shorter than the headers, is an error.
    let mut long = glb.clone();
    long[8..12].copy_from_slice(&(glb.len() as u32 + 4).to_le_bytes());
    assert!(expect_err(&long, "glb longer than declared")
        .to_string()
        .contains("truncated"));
    for len in [0u32, 11, 12, 19] {
        let mut short = glb.clone();
        short[8..12].copy_from_slice(&len.to_le_bytes());
        expect_err(&short, "declared length shorter than the headers");
    }
}
