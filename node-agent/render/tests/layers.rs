//! Layers over the base BSDF: KHR_materials_clearcoat, KHR_materials_sheen, and the
//! KHR_materials_specular textures, in a white furnace.

mod common;
use common::*;
use serde_json::{json, Value};
use std::f64::consts::PI;
use tessera_render::{ExtensionStatus, Scene, TileRequest};

fn furnace_render(b: &mut Builder, size: u32, spp: u32, key: u8) -> tessera_render::TileImage {
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(size, size, spp, 8, 1)
    };
    renderer().render_tile(&[key; 32], &scene, &req).unwrap()
}

fn use_ext(b: &mut Builder, names: &[&'static str]) {
    for n in names {
        if !b.extensions.contains(n) {
            b.extensions.push(n);
        }
    }
}

/// Base colour `base` (dielectric, roughness 0.5), with the given material extensions; a base
/// "without specular" sets specularColorFactor 0 (Blender's Specular 0).
fn layered(b: &mut Builder, base: [f32; 3], base_specular: bool, ext: Value) -> usize {
    layered_rough(b, base, base_specular, ext, 0.5)
}

fn layered_rough(
    b: &mut Builder,
    base: [f32; 3],
    base_specular: bool,
    ext: Value,
    roughness: f32,
) -> usize {
    let mut e = ext.as_object().cloned().unwrap_or_default();
    if !base_specular {
        e.insert(
            "KHR_materials_specular".into(),
            json!({"specularColorFactor": [0.0, 0.0, 0.0]}),
        );
    }
    let names: Vec<&'static str> = e
        .keys()
        .map(|k| match k.as_str() {
            "KHR_materials_clearcoat" => "KHR_materials_clearcoat",
            "KHR_materials_sheen" => "KHR_materials_sheen",
            _ => "KHR_materials_specular",
        })
        .collect();
    use_ext(b, &names);
    b.material(json!({
        "pbrMetallicRoughness": {"baseColorFactor": [base[0], base[1], base[2], 1.0], "metallicFactor": 0.0, "roughnessFactor": roughness},
        "extensions": e,
    }))
}

/// A plane seen straight down (normal incidence everywhere): the pixel is the albedo at μ = 1.
fn plane_albedo(m: Value, key: u8) -> [f64; 3] {
    let mut b = Builder::default();
    let m = b.material(m);
    b.floor(100.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    let img = furnace_render(&mut b, 8, 1024, key);
    mean_linear(&img, 0, 0, 8, 8)
}

/// A sphere filling most of the frame, so every angle of incidence is seen: (mean over the
/// whole disc, mean over its outer ring (grazing)). The sphere is the common test's UV sphere.
fn sphere_albedo(b: &mut Builder, m: usize, key: u8) -> (f64, f64) {
    let (seg, rings) = (48u32, 24u32);
    let mut pos = Vec::new();
    for i in 0..=rings {
        let th = PI as f32 * i as f32 / rings as f32;
        for j in 0..=seg {
            let ph = 2.0 * PI as f32 * j as f32 / seg as f32;
            pos.extend([th.sin() * ph.cos(), th.cos(), th.sin() * ph.sin()]);
        }
    }
    let mut idx = Vec::new();
    for i in 0..rings {
        for j in 0..seg {
            let a = i * (seg + 1) + j;
            let c = a + seg + 1;
            idx.extend([a, a + 1, c, a + 1, c + 1, c]);
        }
    }
    let p = b.floats(&pos, "VEC3", 3);
    let n = b.floats(&pos, "VEC3", 3);
    let i = b.indices(&idx);
    b.meshes.push(json!({"primitives": [{"attributes": {"POSITION": p, "NORMAL": n}, "indices": i, "material": m}]}));
    b.node(json!({"mesh": b.meshes.len() - 1}));
    b.cameras.push(json!({"type": "orthographic", "orthographic": {"xmag": 1.0, "ymag": 1.0, "znear": 0.001, "zfar": 100.0}}));
    b.node(json!({"camera": b.cameras.len() - 1, "translation": [0.0, 0.0, 3.0]}));
    let size = 32u32;
    let img = furnace_render(b, size, 256, key);
    let lin = img.linear.as_ref().unwrap();
    let (mut all, mut n_all, mut ring, mut n_ring) = (0.0, 0.0, 0.0, 0.0);
    for y in 0..size {
        for x in 0..size {
            let px = 2.0 * (x as f64 + 0.5) / size as f64 - 1.0;
            let py = 2.0 * (y as f64 + 0.5) / size as f64 - 1.0;
            let r = (px * px + py * py).sqrt();
            if r > 0.95 {
                continue; // the silhouette's pixels are partly background
            }
            let i = ((y * size + x) * 4) as usize;
            let lum = (lin[i] + lin[i + 1] + lin[i + 2]) as f64 / 3.0;
            all += lum;
            n_all += 1.0;
            if r > 0.75 {
                ring += lum;
                n_ring += 1.0;
            }
        }
    }
    (all / n_all, ring / n_ring)
}

/// Clearcoat over a black base without specular: all that is seen at normal incidence is the
/// coat's Fresnel reflectance, F0 = ((1.5 − 1)/(1.5 + 1))² = 0.04, times the clearcoat factor.
#[test]
fn clearcoat_over_black_reflects_its_fresnel_at_normal_incidence() {
    for (k, factor) in [1.0f64, 0.5].into_iter().enumerate() {
        let mut b = Builder::default();
        let m = layered(
            &mut b,
            [0.0; 3],
            false,
            json!({"KHR_materials_clearcoat": {"clearcoatFactor": factor, "clearcoatRoughnessFactor": 0.0}}),
        );
        let got = plane_albedo(b.materials[m].clone(), 20 + k as u8);
        let want = 0.04 * factor;
        eprintln!("clearcoat {factor} over black: {got:?}, expected {want}");
        for c in got {
            assert!(
                (c - want).abs() < 0.02 * want,
                "clearcoat {factor}: {got:?} vs {want}"
            );
        }
    }
}

/// E(1) of the sheen lobe computed here independently (quadrature over the half vector h, with
/// the Jacobian dω_l = 4 (v·h) dω_h), for unit sheen colour.
fn sheen_albedo_normal(r: f64) -> f64 {
    let alpha = r * r;
    let n = 4000;
    let mut sum = 0.0;
    // v = n: h at θh from n, l at 2θh; only θh < π/4 keeps l above the surface.
    for i in 0..n {
        let th = (i as f64 + 0.5) * (PI / 4.0) / n as f64;
        let nl = (2.0 * th).cos();
        let d = (2.0 + 1.0 / alpha) * th.sin().powf(1.0 / alpha) / (2.0 * PI);
        let v = 1.0 / (4.0 * (nl + 1.0 - nl));
        let jac = 4.0 * th.cos();
        sum += d * v * nl * jac * th.sin() * 2.0 * PI * (PI / 4.0 / n as f64);
    }
    sum
}

/// Sheen over a black base without specular: the plane reflects sheenColor × E(1), glTF's
/// Charlie sheen with Neubelt visibility integrated here independently of the loader's table.
#[test]
fn sheen_over_black_reflects_the_lobe_albedo() {
    let color = [1.0, 0.5, 0.25];
    let rough = 0.5;
    let mut b = Builder::default();
    let m = layered(
        &mut b,
        [0.0; 3],
        false,
        json!({"KHR_materials_sheen": {"sheenColorFactor": color, "sheenRoughnessFactor": rough}}),
    );
    let got = plane_albedo(b.materials[m].clone(), 30);
    let e = sheen_albedo_normal(rough);
    eprintln!("sheen over black: {got:?}, colour × E(1) = {e:.5} × {color:?}");
    for c in 0..3 {
        let want = color[c] * e;
        assert!(
            (got[c] - want).abs() < 0.02 * want,
            "channel {c}: {got:?} vs {want}"
        );
    }
}

/// No layer gains energy: on a sphere in a white furnace (every angle of incidence), a white
/// base under a clearcoat, under sheen and under both reflects no more than the base alone, at
/// every angle (the grazing ring too); with a base that itself keeps to 1 (roughness 0: Burley's
/// grazing retro-reflection, which exceeds 1 at roughness 0.5 as in Blender's Principled v1, is
/// off), nothing exceeds the furnace's 1.
#[test]
fn no_layer_gains_energy_in_a_white_furnace() {
    let cases = [
        ("base", json!({})),
        (
            "clearcoat",
            json!({"KHR_materials_clearcoat": {"clearcoatFactor": 1.0, "clearcoatRoughnessFactor": 0.3}}),
        ),
        (
            "sheen",
            json!({"KHR_materials_sheen": {"sheenColorFactor": [1.0, 1.0, 1.0], "sheenRoughnessFactor": 0.5}}),
        ),
        (
            "smooth sheen",
            json!({"KHR_materials_sheen": {"sheenColorFactor": [1.0, 1.0, 1.0], "sheenRoughnessFactor": 0.1}}),
        ),
        (
            "both",
            json!({"KHR_materials_clearcoat": {"clearcoatFactor": 1.0, "clearcoatRoughnessFactor": 0.0},
                   "KHR_materials_sheen": {"sheenColorFactor": [1.0, 1.0, 1.0], "sheenRoughnessFactor": 0.3}}),
        ),
    ];
    for (r, roughness) in [0.5f32, 0.0].into_iter().enumerate() {
        let mut got = Vec::new();
        for (k, (name, ext)) in cases.iter().enumerate() {
            let mut b = Builder::default();
            let m = layered_rough(&mut b, [1.0; 3], true, ext.clone(), roughness);
            let (all, ring) = sphere_albedo(&mut b, m, 40 + (10 * r + k) as u8);
            eprintln!(
                "base roughness {roughness}, {name}: sphere mean {all:.4}, grazing ring {ring:.4}"
            );
            got.push((all, ring));
        }
        let (base, base_ring) = got[0];
        for ((name, _), (all, ring)) in cases.iter().zip(&got) {
            assert!(
                *all < base + 0.003 && *ring < base_ring + 0.006,
                "base roughness {roughness}, {name}: {all:.4} (ring {ring:.4}) above the base's {base:.4} ({base_ring:.4})"
            );
            if roughness == 0.0 {
                assert!(
                    *all < 1.003 && *ring < 1.006,
                    "{name}: albedo {all:.4} (ring {ring:.4}) above the furnace's 1"
                );
            }
        }
    }
}

/// KHR_materials_specular textures: specularTexture's alpha scales the factor and
/// specularColorTexture (sRGB) tints F0, exactly as the same values given as factors.
#[test]
fn specular_textures_act_as_their_factors() {
    let mut with_tex = Builder::default();
    // One texel: colour (255, 0, 0) (linear red), alpha 128 (0.502).
    let png = {
        let img = image::RgbaImage::from_pixel(1, 1, image::Rgba([255, 0, 0, 128]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        use base64::Engine;
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&out)
        )
    };
    with_tex.images.push(json!({ "uri": png }));
    with_tex.textures.push(json!({"source": 0}));
    let tex = json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.3},
        "extensions": {"KHR_materials_specular": {"specularTexture": {"index": 0}, "specularColorTexture": {"index": 0}}}});
    let m = with_tex.material(tex);
    with_tex.floor(100.0, m);
    with_tex.ortho_down([0.0, 1.0, 0.0], 0.5);
    let scene = Scene::from_bundle(&with_tex.glb()).unwrap();
    assert!(scene
        .extensions()
        .contains(&("KHR_materials_specular".into(), ExtensionStatus::Supported)));
    let a = furnace_render(&mut with_tex, 8, 512, 50);
    let textured = mean_linear(&a, 0, 0, 8, 8);
    let factors = plane_albedo(
        json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.3},
        "extensions": {"KHR_materials_specular": {"specularFactor": 128.0 / 255.0, "specularColorFactor": [1.0, 0.0, 0.0]}}}),
        50,
    );
    let plain = plane_albedo(
        json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.3}}),
        50,
    );
    eprintln!("textured {textured:?}, factors {factors:?}, no specular extension {plain:?}");
    for c in 0..3 {
        assert!(
            (textured[c] - factors[c]).abs() < 0.01 * factors[c].max(0.01),
            "{textured:?} vs {factors:?}"
        );
    }
    // The tint is red and the factor halves it (F0 0.04 → 0.02 in red, 0 in green and blue,
    // except for the F90 edge term that the factor also halves).
    assert!(textured[0] > 3.0 * textured[1], "{textured:?}");
    assert!(textured[0] < 0.75 * plain[0], "{textured:?} vs {plain:?}");
}

#[test]
fn clearcoat_and_sheen_are_supported_and_checked() {
    let mut b = Builder::default();
    let m = layered(
        &mut b,
        [1.0; 3],
        true,
        json!({"KHR_materials_clearcoat": {"clearcoatFactor": 1.0, "clearcoatTexture": {"index": 0}},
               "KHR_materials_sheen": {"sheenColorFactor": [1.0, 1.0, 1.0]}}),
    );
    b.floor(1.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    // The clearcoat texture names a texture that does not exist.
    let e = Scene::from_bundle(&b.glb())
        .err()
        .expect("bad texture index");
    assert!(e.to_string().contains("texture index"), "{e}");
    b.materials[m]["extensions"]["KHR_materials_clearcoat"]
        .as_object_mut()
        .unwrap()
        .remove("clearcoatTexture");
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    for e in ["KHR_materials_clearcoat", "KHR_materials_sheen"] {
        assert!(
            scene
                .extensions()
                .contains(&(e.to_string(), ExtensionStatus::Supported)),
            "{:?}",
            scene.extensions()
        );
    }
    b.materials[m]["extensions"]["KHR_materials_sheen"]["sheenColorFactor"] = json!([1.0, -1.0]);
    let e = Scene::from_bundle(&b.glb())
        .err()
        .expect("bad sheen colour");
    assert!(e.to_string().contains("sheenColorFactor"), "{e}");
}
