//! Renders on the local Vulkan device (lavapipe in CI): determinism, tile stitching, energy.

mod common;
use common::*;
use serde_json::json;
use tessera_render::{pixel_hash, Scene, TileRequest, STANDARD_SCENE_GLB};

const KEY_A: [u8; 32] = [1; 32];

#[test]
fn tiles_stitch_into_the_whole_frame_byte_for_byte() {
    let scene = Scene::from_bundle(STANDARD_SCENE_GLB).unwrap();
    let mut r = renderer();
    let (w, h) = (83, 47); // odd sizes: partial workgroups and edge tiles
    let full = TileRequest::whole_frame(w, h, 6, 4, 42);
    let whole = r.render_tile(&KEY_A, &scene, &full).unwrap();
    assert_eq!(whole.rgba8.len(), (w * h * 4) as usize);
    for (tw, th) in [(16, 16), (23, 17), (83, 1), (7, 47)] {
        let mut stitched = vec![0u8; whole.rgba8.len()];
        let mut y = 0;
        while y < h {
            let mut x = 0;
            while x < w {
                let (cw, ch) = (tw.min(w - x), th.min(h - y));
                let t = r
                    .render_tile(&KEY_A, &scene, &full.tile(x, y, cw, ch))
                    .unwrap();
                assert_eq!(t.hash, pixel_hash(&t.rgba8));
                for row in 0..ch {
                    let src = (row * cw * 4) as usize;
                    let dst = (((y + row) * w + x) * 4) as usize;
                    stitched[dst..dst + (cw * 4) as usize]
                        .copy_from_slice(&t.rgba8[src..src + (cw * 4) as usize]);
                }
                x += cw;
            }
            y += th.min(h - y);
        }
        assert!(
            stitched == whole.rgba8,
            "tiles of {tw}×{th} differ from the whole frame"
        );
    }
}

#[test]
fn same_input_same_hash_and_seed_changes_it() {
    let scene = Scene::from_bundle(STANDARD_SCENE_GLB).unwrap();
    let mut r = renderer();
    let req = TileRequest::whole_frame(48, 27, 4, 3, 7);
    let a = r.render_tile(&KEY_A, &scene, &req).unwrap();
    let b = r.render_tile(&KEY_A, &scene, &req).unwrap();
    assert_eq!(a.hash, b.hash);
    // A fresh renderer (new device, new upload) gives the same bytes too.
    let c = renderer().render_tile(&[9; 32], &scene, &req).unwrap();
    assert_eq!(a.hash, c.hash);
    let d = r
        .render_tile(
            &KEY_A,
            &scene,
            &TileRequest {
                seed: 8,
                ..req.clone()
            },
        )
        .unwrap();
    assert_ne!(a.hash, d.hash);
    // `frame` is mixed into nothing: static scenes give identical frames.
    let e = r
        .render_tile(&KEY_A, &scene, &TileRequest { frame: 5, ..req })
        .unwrap();
    assert_eq!(a.hash, e.hash);
}

/// Diffuse plane (albedo ρ) under a uniform white environment: every pixel is ρ (white furnace).
#[test]
fn white_furnace_plane_reflects_its_albedo() {
    let mut b = Builder::default();
    let mut m = diffuse([0.5, 0.5, 0.5]);
    m["pbrMetallicRoughness"]["roughnessFactor"] = json!(0.4); // Burley = Lambert albedo here
    let m = b.material(m);
    b.floor(100.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let mut r = renderer();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(16, 16, 256, 4, 1)
    };
    let img = r.render_tile(&[2; 32], &scene, &req).unwrap();
    let m = mean_linear(&img, 0, 0, 16, 16);
    for c in m {
        assert!((c - 0.5).abs() < 0.01, "furnace mean {m:?}, expected 0.5");
    }
}

/// The same furnace with the plane cut into 5000 triangles: more than the uniform-buffer shader
/// variant holds (4096 triangles and 4096 BVH nodes), so this renders through the storage-buffer
/// variant.
#[test]
fn white_furnace_with_a_bvh_too_big_for_the_uniform_variant() {
    let mut b = Builder::default();
    let mut m = diffuse([0.5, 0.5, 0.5]);
    m["pbrMetallicRoughness"]["roughnessFactor"] = json!(0.4);
    let m = b.material(m);
    let n = 50;
    let cell = 200.0 / n as f32;
    for i in 0..n {
        for j in 0..n {
            let (x0, z0) = (-100.0 + i as f32 * cell, -100.0 + j as f32 * cell);
            let (x1, z1) = (x0 + cell, z0 + cell);
            b.quad(
                [[x0, 0.0, z1], [x1, 0.0, z1], [x1, 0.0, z0], [x0, 0.0, z0]],
                m,
            );
        }
    }
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    assert!(
        scene.triangle_count() > 4096,
        "{} triangles",
        scene.triangle_count()
    );
    let mut r = renderer();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(16, 16, 256, 4, 1)
    };
    let img = r.render_tile(&[3; 32], &scene, &req).unwrap();
    let m = mean_linear(&img, 0, 0, 16, 16);
    for c in m {
        assert!((c - 0.5).abs() < 0.01, "furnace mean {m:?}, expected 0.5");
    }
}

/// 5000 emissive triangles are 5000 lights: more than the uniform material and light records
/// of the storage variants hold (512), so this renders with every scene array in storage
/// buffers. Camera rays see the emission (black base colour, black environment); light samples
/// from the plane's own triangles see nothing above it.
#[test]
fn emissive_plane_with_more_lights_than_the_uniform_records_hold() {
    let mut b = Builder::default();
    let mut m = diffuse([0.0, 0.0, 0.0]);
    m["emissiveFactor"] = json!([0.25, 0.5, 0.75]);
    let m = b.material(m);
    let n = 50;
    let cell = 200.0 / n as f32;
    for i in 0..n {
        for j in 0..n {
            let (x0, z0) = (-100.0 + i as f32 * cell, -100.0 + j as f32 * cell);
            let (x1, z1) = (x0 + cell, z0 + cell);
            b.quad(
                [[x0, 0.0, z1], [x1, 0.0, z1], [x1, 0.0, z0], [x0, 0.0, z0]],
                m,
            );
        }
    }
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    assert!(scene.light_count() > 512, "{} lights", scene.light_count());
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(16, 16, 16, 2, 1)
    };
    let img = renderer().render_tile(&[11; 32], &scene, &req).unwrap();
    let m = mean_linear(&img, 0, 0, 16, 16);
    for (c, e) in m.iter().zip([0.25, 0.5, 0.75]) {
        assert!((c - e).abs() < 1e-4, "mean {m:?}, expected the emission");
    }
}

/// Point light of I cd at height h over a diffuse plane: L = ρ/π · I/683 / h² right below it.
#[test]
fn point_light_next_event_matches_inverse_square_law() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8, 0.8, 0.8]));
    b.floor(10.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.01);
    b.point_light([0.0, 2.0, 0.0], 683.0 * 4.0);
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(8, 8, 16, 0, 3)
    };
    let img = renderer().render_tile(&[3; 32], &scene, &req).unwrap();
    let expect = 0.8 / std::f64::consts::PI * 4.0 / 4.0;
    let m = mean_linear(&img, 0, 0, 8, 8);
    for c in m {
        assert!(
            (c - expect).abs() < 0.005 * expect + 1e-4,
            "got {m:?}, expected {expect}"
        );
    }
}

/// A huge emissive ceiling (radiance Le) over a diffuse floor: floor radiance → ρ·Le.
/// Exercises triangle-light sampling and MIS with BSDF hits.
#[test]
fn emissive_area_light_gives_albedo_times_radiance() {
    let mut b = Builder::default();
    let mut floor = diffuse([0.6, 0.6, 0.6]);
    floor["pbrMetallicRoughness"]["roughnessFactor"] = json!(0.4); // Burley = Lambert albedo here
    let floor = b.material(floor);
    let mut light = diffuse([0.0, 0.0, 0.0]);
    light["emissiveFactor"] = json!([1.0, 1.0, 1.0]);
    light["extensions"]["KHR_materials_emissive_strength"] = json!({"emissiveStrength": 2.0});
    let light = b.material(light);
    b.extensions = vec!["KHR_materials_emissive_strength", "KHR_materials_specular"];
    b.floor(1e3, floor);
    // Facing down (counter-clockwise seen from below), single-sided.
    b.quad(
        [
            [-1e3, 1.0, -1e3],
            [1e3, 1.0, -1e3],
            [1e3, 1.0, 1e3],
            [-1e3, 1.0, 1e3],
        ],
        light,
    );
    b.ortho_down([0.0, 0.5, 0.0], 0.1);
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    assert_eq!(scene.light_count(), 2);
    // The ceiling covers the hemisphere and reflects nothing: floor radiance = ρ · Le.
    // One bounce so that MIS combines light and BRDF sampling (light sampling alone is
    // heavy-tailed on a huge quad).
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(16, 16, 64, 1, 5)
    };
    let img = renderer().render_tile(&[4; 32], &scene, &req).unwrap();
    let m = mean_linear(&img, 0, 0, 16, 16);
    for c in m {
        assert!((c - 1.2).abs() < 0.02 * 1.2, "got {m:?}, expected 1.2");
    }
}

/// Known regions of the shipped Cornell box (16:9 framing at 160×90): brightness and colour.
/// Reference values are Blender Cycles' means for the same regions (see benches/cycles.rs).
#[test]
fn cornell_box_regions_have_expected_brightness() {
    let scene = Scene::from_bundle(STANDARD_SCENE_GLB).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(160, 90, 128, 6, 11)
    };
    let img = renderer().render_tile(&[5; 32], &scene, &req).unwrap();
    for region in tessera_render::bench::CORNELL_REGIONS {
        let (x0, y0, x1, y1) = region.pixels(160, 90);
        let m = mean_linear(&img, x0, y0, x1, y1);
        let lum = 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2];
        let rel = (lum - region.cycles_luminance).abs() / region.cycles_luminance;
        assert!(
            rel < 0.10,
            "{}: luminance {lum:.4} vs Cycles {:.4}",
            region.name,
            region.cycles_luminance
        );
    }
    // Colour bleeding sanity: left wall is red, right wall is green.
    let left = mean_linear(&img, 36, 36, 42, 54);
    let right = mean_linear(&img, 118, 36, 124, 54);
    assert!(left[0] > 3.0 * left[1], "left wall {left:?}");
    assert!(right[1] > 2.0 * right[0], "right wall {right:?}");
}

/// Many samples of a small tile fit one submit's time budget; the renderer must still split
/// them into dispatches short enough for lavapipe's loop limit (65 535 iterations of all loops
/// per invocation and dispatch, beyond which paths are silently cut short and pixels darken).
#[test]
fn high_sample_counts_are_not_darker() {
    let scene = Scene::from_bundle(STANDARD_SCENE_GLB).unwrap();
    let mut r = renderer();
    let mut mean = |spp: u32| {
        let req = TileRequest {
            linear: true,
            ..TileRequest::whole_frame(32, 18, spp, 6, 3)
        };
        let img = r.render_tile(&[6; 32], &scene, &req).unwrap();
        let m = mean_linear(&img, 0, 0, 32, 18);
        m[0] + m[1] + m[2]
    };
    let low = mean(32);
    let high = mean(1024);
    assert!(
        (high - low).abs() < 0.1 * low,
        "mean radiance at 1024 spp {high:.4} vs 32 spp {low:.4}"
    );
}

/// A ray that enters the box of every one of 100 000 stacked triangles and hits none needs more
/// loop iterations than lavapipe of Mesa 22 runs per invocation and dispatch (65 535), even for
/// one sample: at least one per triangle test.
/// The shader notices its loops were cut short and the renderer reports it instead of returning
/// wrong pixels. GPU drivers, and lavapipe of Mesa 25 (measured: 25.0.7), have no such limit and
/// render it (the ray sees the white sky); a cut-short ray would look like sky too, so on the
/// driver known to cut, only the error passes.
#[test]
fn a_sample_beyond_the_cpu_driver_loop_limit_is_reported_not_rendered_wrong() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5, 0.5, 0.5]));
    // Half squares (x + z ≤ 1) one above the other: each one's box is the whole unit square.
    let n = 100_000u32;
    let mut pos = Vec::with_capacity(n as usize * 9);
    for i in 0..n {
        let y = -(i as f32) * 1e-5;
        pos.extend_from_slice(&[0.0, y, 0.0, 0.0, y, 1.0, 1.0, y, 0.0]);
    }
    let idx: Vec<u32> = (0..n * 3).collect();
    let p = b.floats(&pos, "VEC3", 3);
    let i = b.indices(&idx);
    b.meshes.push(
        json!({"primitives": [{"attributes": {"POSITION": p}, "indices": i, "material": m}]}),
    );
    b.nodes.push(json!({"mesh": b.meshes.len() - 1}));
    // Looking down at (0.75, 0.75), where x + z > 1: no triangle is hit.
    b.ortho_down([0.75, 1.0, 0.75], 0.1);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let mut r = renderer();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(8, 8, 2, 0, 1)
    };
    let cuts = r.old_lavapipe();
    match r.render_tile(&[9; 32], &scene, &req) {
        Err(e) => {
            assert!(
                r.device_name().contains("llvmpipe"),
                "only the CPU driver has a loop limit, got {e} on {}",
                r.device_name()
            );
            assert!(e.to_string().contains("loop iterations"), "{e}");
        }
        Ok(img) => {
            assert!(
                !cuts,
                "lavapipe {} cannot finish these rays; it returned pixels anyway",
                r.driver()
            );
            let m = mean_linear(&img, 0, 0, 8, 8);
            assert!(m.iter().all(|c| (c - 1.0).abs() < 1e-3), "sky {m:?}");
        }
    }
}

/// 2000 stacked triangles that every ray enters and misses: one sample fits in lavapipe's loop
/// limit but not the 64 that one dispatch would take, so dispatches are cut. Pixels cut short
/// go on from their own sample count (no sample is lost or counted twice): the sky is exactly
/// white, and 3×3 tiles (other lanes, other cuts) give the whole frame's bytes.
#[test]
fn dispatches_cut_by_the_loop_limit_go_on_per_pixel_with_the_same_bytes() {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.5, 0.5, 0.5]));
    let n = 2_000u32;
    let mut pos = Vec::with_capacity(n as usize * 9);
    for i in 0..n {
        let y = -(i as f32) * 1e-4;
        pos.extend_from_slice(&[0.0, y, 0.0, 0.0, y, 1.0, 1.0, y, 0.0]);
    }
    let idx: Vec<u32> = (0..n * 3).collect();
    let p = b.floats(&pos, "VEC3", 3);
    let i = b.indices(&idx);
    b.meshes.push(
        json!({"primitives": [{"attributes": {"POSITION": p}, "indices": i, "material": m}]}),
    );
    b.nodes.push(json!({"mesh": b.meshes.len() - 1}));
    b.ortho_down([0.75, 1.0, 0.75], 0.1);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let full = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(12, 12, 64, 0, 5)
    };
    let whole = renderer().render_tile(&[10; 32], &scene, &full).unwrap();
    let m = mean_linear(&whole, 0, 0, 12, 12);
    assert!(m.iter().all(|c| (c - 1.0).abs() < 1e-6), "sky {m:?}");
    let mut r = renderer();
    let mut stitched = vec![0u8; whole.rgba8.len()];
    for ty in (0..12).step_by(3) {
        for tx in (0..12).step_by(3) {
            let t = r
                .render_tile(&[10; 32], &scene, &full.tile(tx, ty, 3, 3))
                .unwrap();
            for row in 0..3usize {
                let d = ((ty as usize + row) * 12 + tx as usize) * 4;
                stitched[d..d + 12].copy_from_slice(&t.rgba8[row * 12..row * 12 + 12]);
            }
        }
    }
    assert!(stitched == whole.rgba8, "tiles differ from the whole frame");
}

/// A base-colour texture of two texels (sRGB) on a diffuse plane under a white environment:
/// each half of the plane shows its texel's linear colour (white furnace), through the texture
/// lookup, sRGB decoding and interpolated UVs.
#[test]
fn textured_plane_shows_its_texels_in_linear_light() {
    use base64::Engine;
    let (a, c) = ([200u8, 60, 30], [40u8, 160, 220]);
    let img = image::RgbaImage::from_fn(2, 1, |x, _| {
        let p = if x == 0 { a } else { c };
        image::Rgba([p[0], p[1], p[2], 255])
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let mut b = Builder::default();
    b.images.push(json!({ "uri": uri }));
    b.textures.push(json!({"source": 0, "sampler": 0}));
    // No specular lobe (KHR_materials_specular factor 0): the plane's albedo is the texel.
    b.extensions.push("KHR_materials_specular");
    let m = b.material(json!({"pbrMetallicRoughness": {
        "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.4},
        "extensions": {"KHR_materials_specular": {"specularFactor": 0.0}}}));
    b.floor(1.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 1.0);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let mut json = b.json(None);
    json["samplers"] = json!([{"wrapS": 33071, "wrapT": 33071}]); // clamp to edge
    let scene = Scene::from_bundle(&glb_from(&json, &b.bin)).unwrap();
    let mut r = renderer();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(16, 16, 64, 2, 1)
    };
    let img = r.render_tile(&[10; 32], &scene, &req).unwrap();
    let linear = |p: [u8; 3]| {
        p.map(|v| {
            let v = v as f64 / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        })
    };
    let (la, lc) = (linear(a), linear(c));
    // Columns 1–2 and 13–14 lie where u < 0.19 or u > 0.81: one texel each (clamped).
    let left = mean_linear(&img, 1, 2, 3, 14);
    let right = mean_linear(&img, 13, 2, 15, 14);
    let close = |m: [f64; 3], e: [f64; 3]| (0..3).all(|k| (m[k] - e[k]).abs() < 0.015);
    assert!(
        (close(left, la) && close(right, lc)) || (close(left, lc) && close(right, la)),
        "halves {left:?} / {right:?}, texels {la:?} / {lc:?}"
    );
    assert!(!close(left, right), "both halves alike: {left:?}");
}

#[test]
fn device_buffer_limits_are_reported_and_enforced_at_load() {
    let r = renderer();
    let l = r.buffer_limits();
    eprintln!(
        "{}: maxStorageBufferRange {} maxUniformBufferRange {}",
        r.device_name(),
        l.max_storage_buffer_range,
        l.max_uniform_buffer_range
    );
    assert!(
        l.max_storage_buffer_range >= 1 << 27,
        "Vulkan requires at least 128 MiB"
    );
    assert!(
        l.max_uniform_buffer_range >= 1 << 14,
        "Vulkan requires at least 16 KiB"
    );
    assert_eq!(r.scene_limits().max_array_bytes, l.max_storage_buffer_range);
}

/// KHR_materials_unlit: camera rays see the base colour (× vertex colour × texture) unshaded,
/// in a black scene without any light.
#[test]
fn unlit_quad_shows_its_base_colour_without_lights() {
    assert_eq!(
        tessera_render::extension_status("KHR_materials_unlit"),
        tessera_render::ExtensionStatus::Supported
    );
    let mut b = Builder::default();
    b.extensions.push("KHR_materials_unlit");
    let base = [0.2f32, 0.5, 0.8];
    let m = b.material(json!({
        "pbrMetallicRoughness": {"baseColorFactor": [base[0], base[1], base[2], 1.0]},
        "emissiveFactor": [1.0, 1.0, 1.0],
        "extensions": {"KHR_materials_unlit": {}}}));
    b.floor(1.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [0.0, 0.0, 0.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    assert_eq!(scene.light_count(), 0, "an unlit surface is no light");
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(8, 8, 4, 4, 1)
    };
    let img = renderer().render_tile(&[11; 32], &scene, &req).unwrap();
    let got = mean_linear(&img, 0, 0, 8, 8);
    for (g, e) in got.iter().zip(base) {
        assert!(
            (g - e as f64).abs() < 1e-5,
            "got {got:?}, expected {base:?}"
        );
    }
}

/// Unlit surfaces are transparent to all but camera rays (Blender's importer: Is Camera Ray
/// mixes the emission with a transparent BSDF): an unlit quad between a point light and the
/// floor casts no shadow, and the floor below it renders as without it.
#[test]
fn unlit_quad_casts_no_shadow() {
    let mut b = Builder::default();
    b.extensions.push("KHR_materials_unlit");
    let floor = b.material(diffuse([0.8, 0.8, 0.8]));
    let unlit = b.material(json!({
        "pbrMetallicRoughness": {"baseColorFactor": [1.0, 0.0, 0.0, 1.0]},
        "extensions": {"KHR_materials_unlit": {}}}));
    b.floor(10.0, floor);
    let h = 0.5;
    b.quad(
        [[-h, 1.0, h], [h, 1.0, h], [h, 1.0, -h], [-h, 1.0, -h]],
        unlit,
    );
    b.ortho_down([0.0, 0.5, 0.0], 0.01);
    b.point_light([0.0, 2.0, 0.0], 683.0 * 4.0);
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(8, 8, 16, 0, 3)
    };
    let img = renderer().render_tile(&[12; 32], &scene, &req).unwrap();
    let expect = 0.8 / std::f64::consts::PI * 4.0 / 4.0;
    let m = mean_linear(&img, 0, 0, 8, 8);
    for c in m {
        assert!(
            (c - expect).abs() < 0.005 * expect + 1e-4,
            "got {m:?}, expected {expect} (the unlit quad must not shadow the floor)"
        );
    }
}

/// Blender 3.4 imports a glTF spot as spot size 2·outer and spot blend 1 − inner/outer, and
/// Cycles attenuates it by cos θ × smoothstep(0, 1, (cos θ − cos outer) / spread), spread =
/// (1 − cos outer) × blend (measured against Cycles, see the README). The floor under a spot
/// follows that, not the glTF reference t².
#[test]
fn spot_light_cone_falloff_follows_blender() {
    let (inner, outer, h, rho) = (0.3f64, 0.6f64, 2.0f64, 0.8f64);
    let co = outer.cos();
    let spread = (1.0 - co) * (1.0 - inner / outer);
    let radiance_at = |theta: f64| {
        let r = h * theta.tan();
        let mut b = Builder::default();
        b.extensions.push("KHR_lights_punctual");
        let m = b.material(diffuse([0.8, 0.8, 0.8]));
        b.floor(10.0, m);
        b.ortho_down([r as f32, 0.5, 0.0], 0.002);
        b.lights.push(
            json!({"type": "spot", "intensity": 683.0 * 4.0, "color": [1.0, 1.0, 1.0],
            "spot": {"innerConeAngle": inner, "outerConeAngle": outer}}),
        );
        let s = std::f32::consts::FRAC_1_SQRT_2;
        // Node −Z turned to −Y: the spot shines straight down.
        b.node(
            json!({"translation": [0.0, h, 0.0], "rotation": [-s, 0.0, 0.0, s],
            "extensions": {"KHR_lights_punctual": {"light": 0}}}),
        );
        let scene = Scene::from_bundle(&b.glb()).unwrap();
        let req = TileRequest {
            linear: true,
            ..TileRequest::whole_frame(8, 8, 16, 0, 3)
        };
        let img = renderer().render_tile(&[13; 32], &scene, &req).unwrap();
        mean_linear(&img, 0, 0, 8, 8)[1]
    };
    // Unattenuated: I cos θ / d² on the floor (d = h / cos θ), times ρ/π.
    let full = |theta: f64| rho / std::f64::consts::PI * 4.0 * theta.cos().powi(3) / (h * h);
    let expected = |theta: f64| {
        let c = theta.cos();
        let x = ((c - co) / spread).clamp(0.0, 1.0);
        let cone = if c > co {
            c * x * x * (3.0 - 2.0 * x)
        } else {
            0.0
        };
        full(theta) * cone
    };
    // The ring starts at cos outer + spread (θ = 0.4210 here, not the inner angle 0.3).
    let ring_middle = (co + spread / 2.0).acos();
    for (what, theta) in [
        ("centre", 0.0),
        ("inside the inner cone", 0.2),
        ("past the inner angle, before the ring", 0.38),
        ("middle of the blend ring", ring_middle),
        ("in the ring, near the outer cone", 0.55),
        ("outside the outer cone", 0.7),
    ] {
        let (got, want) = (radiance_at(theta), expected(theta));
        eprintln!("{what}: θ = {theta:.4}, radiance {got:.5}, expected {want:.5}");
        assert!(
            (got - want).abs() < 0.01 * want + 2e-4,
            "{what}: got {got}, expected {want}"
        );
    }
    // Mid-ring the smoothstep is ½: half of cos θ times the unattenuated value.
    let ratio = radiance_at(ring_middle) / (full(ring_middle) * ring_middle.cos());
    assert!((ratio - 0.5).abs() < 0.01, "mid-ring ratio {ratio}");
}
