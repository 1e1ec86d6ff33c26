//! Glass: KHR_materials_transmission + KHR_materials_volume (refraction with Fresnel, Beer–Lambert
//! absorption inside the mesh, thin-walled surfaces without a volume).

mod common;
use common::*;
use serde_json::{json, Value};
use tessera_render::{ExtensionStatus, Scene, SceneError, TileRequest};

/// A UV sphere of radius `r` at the origin with smooth normals, as a node.
fn sphere(b: &mut Builder, r: f32, material: usize) -> usize {
    let (seg, rings) = (64u32, 32u32);
    let mut pos = Vec::new();
    let mut nrm = Vec::new();
    for i in 0..=rings {
        let th = std::f32::consts::PI * i as f32 / rings as f32;
        for j in 0..=seg {
            let ph = 2.0 * std::f32::consts::PI * j as f32 / seg as f32;
            let n = [th.sin() * ph.cos(), th.cos(), th.sin() * ph.sin()];
            pos.extend(n.map(|c| c * r));
            nrm.extend(n);
        }
    }
    let mut idx = Vec::new();
    for i in 0..rings {
        for j in 0..seg {
            let a = i * (seg + 1) + j;
            let c = a + seg + 1;
            // Counter-clockwise seen from outside.
            idx.extend([a, a + 1, c, a + 1, c + 1, c]);
        }
    }
    let p = b.floats(&pos, "VEC3", 3);
    let n = b.floats(&nrm, "VEC3", 3);
    let i = b.indices(&idx);
    b.meshes.push(json!({"primitives": [{"attributes": {"POSITION": p, "NORMAL": n}, "indices": i, "material": material}]}));
    b.node(json!({"mesh": b.meshes.len() - 1}))
}

/// A volume's attenuation colour and distance.
type Volume = ([f32; 3], f32);

/// A glass material: transmission 1, white, with a volume unless `volume` is None.
fn glass(b: &mut Builder, ior: f32, roughness: f32, volume: Option<Volume>) -> usize {
    for e in [
        "KHR_materials_transmission",
        "KHR_materials_volume",
        "KHR_materials_ior",
    ] {
        if !b.extensions.contains(&e) {
            b.extensions.push(e);
        }
    }
    let mut ext = json!({
        "KHR_materials_transmission": {"transmissionFactor": 1.0},
        "KHR_materials_ior": {"ior": ior},
    });
    if let Some((color, distance)) = volume {
        ext["KHR_materials_volume"] = json!({"thicknessFactor": 1.0, "attenuationColor": color, "attenuationDistance": distance});
    }
    b.material(json!({
        "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": roughness},
        "extensions": ext,
    }))
}

/// Orthographic camera on +Z looking down −Z, `mag` half the image's side.
fn ortho_front(b: &mut Builder, z: f32, mag: f32) {
    b.cameras.push(json!({"type": "orthographic", "orthographic": {"xmag": mag, "ymag": mag, "znear": 0.001, "zfar": 100.0}}));
    b.node(json!({"camera": b.cameras.len() - 1, "translation": [0.0, 0.0, z]}));
}

fn render(b: &Builder, size: u32, spp: u32, bounces: u32, key: u8) -> tessera_render::TileImage {
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(size, size, spp, bounces, 1)
    };
    renderer().render_tile(&[key; 32], &scene, &req).unwrap()
}

fn furnace() -> Option<Value> {
    Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}))
}

/// A clear glass sphere in a white furnace neither gains nor loses light: every path that
/// enters leaves again (reflection and refraction share the energy by Fresnel, total internal
/// reflection keeps it), so every pixel sees the furnace's radiance 1. Smooth and rough glass
/// (the latter within the single-scattering loss).
#[test]
fn clear_glass_sphere_in_a_white_furnace_keeps_its_energy() {
    for (k, rough) in [0.0f32, 0.3].into_iter().enumerate() {
        let mut b = Builder::default();
        let m = glass(&mut b, 1.5, rough, Some(([1.0; 3], f32::INFINITY)));
        b.materials[m]["extensions"]["KHR_materials_volume"]
            .as_object_mut()
            .unwrap()
            .remove("attenuationDistance");
        sphere(&mut b, 0.5, m);
        ortho_front(&mut b, 3.0, 0.3); // every pixel on the sphere
        b.scene_extras = furnace();
        let img = render(&b, 16, 512, 12, 60 + k as u8);
        let mean = mean_linear(&img, 0, 0, 16, 16);
        eprintln!("roughness {rough}: mean radiance {mean:?}");
        // Smooth glass keeps all of it; rough glass is single-scattering GGX, which loses what
        // would scatter between microfacets more than once (about 2% at roughness 0.3 through
        // two interfaces), and never gains.
        let lost = if rough == 0.0 { 0.01 } else { 0.03 };
        for c in mean {
            assert!(
                c < 1.005 && c > 1.0 - lost,
                "roughness {rough}: glass sphere in a furnace of 1 gives {mean:?}"
            );
        }
    }
}

/// An absorbing sphere (KHR_materials_volume) seen along a diameter: Beer–Lambert transmittance
/// T = attenuationColor^(2r / attenuationDistance). At ior 1 nothing reflects and rays go
/// straight, so each pixel is exactly T along its chord; at ior 1.5 the furnace adds the
/// Fresnel reflection R and the light bouncing inside: R + (1 − R)² T / (1 − R T).
#[test]
fn absorbing_sphere_darkens_by_beer_lambert_along_a_diameter() {
    let color = [0.8f32, 0.4, 0.2];
    let (r, distance, mag) = (0.5f64, 1.0f64, 0.04f64);
    for (k, ior) in [1.0f32, 1.5].into_iter().enumerate() {
        let mut b = Builder::default();
        let m = glass(&mut b, ior, 0.0, Some((color, distance as f32)));
        sphere(&mut b, r as f32, m);
        ortho_front(&mut b, 3.0, mag as f32);
        b.scene_extras = furnace();
        let size = 8;
        let img = render(&b, size, 256, 12, 70 + k as u8);
        let got = mean_linear(&img, 0, 0, size, size);
        // Expected, averaged over the pixel centres' chords.
        let f0 = ((ior as f64 - 1.0) / (ior as f64 + 1.0)).powi(2);
        let want: Vec<f64> = (0..3)
            .map(|c| {
                let mut s = 0.0;
                for y in 0..size {
                    for x in 0..size {
                        let px = (2.0 * (x as f64 + 0.5) / size as f64 - 1.0) * mag;
                        let py = (2.0 * (y as f64 + 0.5) / size as f64 - 1.0) * mag;
                        let chord = 2.0 * (r * r - px * px - py * py).sqrt();
                        let t = (color[c] as f64).powf(chord / distance);
                        s += f0 + (1.0 - f0).powi(2) * t / (1.0 - f0 * t);
                    }
                }
                s / (size * size) as f64
            })
            .collect();
        eprintln!("ior {ior}: rendered {got:?}, Beer–Lambert {want:?}");
        for c in 0..3 {
            assert!(
                (got[c] - want[c]).abs() < 0.02 * want[c],
                "ior {ior}: channel {c} is {:.4}, expected {:.4}",
                got[c],
                want[c]
            );
        }
    }
}

/// A red (left) / blue (right) backdrop far behind a glass ball: a ball lens of ior 1.5 focuses
/// at 1.5 r from its centre, so beyond that the image seen through it is inverted (left shows
/// blue). The same sphere at ior 1 (no bending) and thin-walled glass (no volume: light passes
/// straight on) show it upright.
#[test]
fn refraction_inverts_the_backdrop_seen_through_a_glass_ball() {
    let size = 64u32;
    // Pixel columns of world x (the image spans [−1, 1]).
    let col = |x: f32| ((x + 1.0) / 2.0 * size as f32) as u32;
    let cases: [(f32, Option<Volume>, bool); 3] = [
        (1.5, Some(([1.0; 3], 1e6)), true),
        (1.0, Some(([1.0; 3], 1e6)), false),
        (1.5, None, false),
    ];
    for (k, (ior, volume, inverted)) in cases.into_iter().enumerate() {
        let mut b = Builder::default();
        let m = glass(&mut b, ior, 0.0, volume);
        sphere(&mut b, 0.5, m);
        for (x0, x1, e) in [(-4.0, 0.0, [1.0, 0.0, 0.0]), (0.0, 4.0, [0.0, 0.0, 1.0])] {
            let em = b.material(json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0]}, "emissiveFactor": e}));
            b.quad(
                [
                    [x0, -4.0, -3.0],
                    [x1, -4.0, -3.0],
                    [x1, 4.0, -3.0],
                    [x0, 4.0, -3.0],
                ],
                em,
            );
        }
        ortho_front(&mut b, 3.0, 1.0);
        let img = render(&b, size, 64, 8, 80 + k as u8);
        let (y0, y1) = (col(-0.1), col(0.1));
        let left = mean_linear(&img, col(-0.3), y0, col(-0.1), y1);
        let right = mean_linear(&img, col(0.1), y0, col(0.3), y1);
        let outside = mean_linear(&img, col(-0.9), y0, col(-0.7), y1);
        eprintln!("ior {ior}, volume {}: through the ball left {left:?}, right {right:?}; beside it {outside:?}", volume.is_some());
        assert!(outside[0] > 0.9 && outside[2] < 0.01, "{outside:?}");
        let (l, r) = if inverted { (2, 0) } else { (0, 2) };
        assert!(
            left[l] > 4.0 * left[r] && right[r] > 4.0 * right[l],
            "ior {ior}: left of centre {left:?}, right {right:?} (inverted: {inverted})"
        );
        assert!(left[l] > 0.5, "too little light through the ball: {left:?}");
    }
}

#[test]
fn transmission_and_volume_are_supported_and_checked() {
    let mut b = Builder::default();
    let m = glass(&mut b, 1.5, 0.0, Some(([0.5; 3], 2.0)));
    sphere(&mut b, 0.5, m);
    ortho_front(&mut b, 3.0, 1.0);
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    for e in ["KHR_materials_transmission", "KHR_materials_volume"] {
        assert!(
            scene
                .extensions()
                .contains(&(e.to_string(), ExtensionStatus::Supported)),
            "{:?}",
            scene.extensions()
        );
    }
    // A thickness texture is ignored with a warning: the mesh is the volume.
    let mut t = Builder::default();
    let m = glass(&mut t, 1.5, 0.0, Some(([0.5; 3], 2.0)));
    t.images.push(json!({"uri": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="}));
    t.textures.push(json!({"source": 0}));
    t.materials[m]["extensions"]["KHR_materials_volume"]["thicknessTexture"] = json!({"index": 0});
    sphere(&mut t, 0.5, m);
    let scene = Scene::from_bundle(&t.glb()).unwrap();
    assert!(
        scene
            .warnings()
            .iter()
            .any(|w| w.contains("thickness texture")),
        "{:?}",
        scene.warnings()
    );
    // Negative factors are data errors.
    for (key, field, value) in [
        (
            "KHR_materials_transmission",
            "transmissionFactor",
            json!(-1.0),
        ),
        ("KHR_materials_volume", "attenuationDistance", json!(0.0)),
        (
            "KHR_materials_volume",
            "attenuationColor",
            json!([1.0, -1.0, 1.0]),
        ),
    ] {
        let mut bad = Builder::default();
        let m = glass(&mut bad, 1.5, 0.0, Some(([0.5; 3], 2.0)));
        bad.materials[m]["extensions"][key][field] = value.clone();
        sphere(&mut bad, 0.5, m);
        match Scene::from_bundle(&bad.glb()) {
            Err(SceneError::Data { what, .. }) => assert!(what.contains("material 0"), "{what}"),
            Err(e) => {
                // gltf's own validation may refuse it first; it must still be refused.
                eprintln!("{key}.{field} = {value}: {e}");
            }
            Ok(_) => panic!("{key}.{field} = {value} was accepted"),
        }
    }
}

/// Total internal reflection: a right-angle glass prism with its long face to the camera sends
/// every ray that enters it back out towards the camera (45° on each short face, above the
/// critical angle asin(1/1.5) = 41.8°), so the camera sees the blue environment behind itself
/// through the prism, not the red panel behind the prism. At ior 1 the same prism is
/// transparent and shows the panel.
#[test]
fn total_internal_reflection_turns_rays_back_in_a_prism() {
    for (k, ior) in [1.5f32, 1.0].into_iter().enumerate() {
        let mut b = Builder::default();
        let m = glass(&mut b, ior, 0.0, Some(([1.0; 3], 1e6)));
        // Long face at z = 0 facing +z, apex edge at z = −1 (outward normals, no end caps).
        b.quad(
            [
                [-1.0, -1.0, 0.0],
                [1.0, -1.0, 0.0],
                [1.0, 1.0, 0.0],
                [-1.0, 1.0, 0.0],
            ],
            m,
        );
        b.quad(
            [
                [1.0, -1.0, 0.0],
                [0.0, -1.0, -1.0],
                [0.0, 1.0, -1.0],
                [1.0, 1.0, 0.0],
            ],
            m,
        );
        b.quad(
            [
                [-1.0, -1.0, 0.0],
                [-1.0, 1.0, 0.0],
                [0.0, 1.0, -1.0],
                [0.0, -1.0, -1.0],
            ],
            m,
        );
        let red = b.material(json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0]}, "emissiveFactor": [1.0, 0.0, 0.0]}));
        b.quad(
            [
                [-4.0, -4.0, -3.0],
                [4.0, -4.0, -3.0],
                [4.0, 4.0, -3.0],
                [-4.0, 4.0, -3.0],
            ],
            red,
        );
        b.scene_extras = Some(json!({"tessera_environment": {"color": [0.0, 0.0, 1.0]}}));
        ortho_front(&mut b, 3.0, 1.25);
        let size = 40u32;
        let img = render(&b, size, 64, 8, 90 + k as u8);
        // World x in [0.2, 0.8] (away from the apex edge and the prism's side), y in [−0.5, 0.5].
        let px = |x: f32| ((x / 1.25 + 1.0) / 2.0 * size as f32) as u32;
        let prism = mean_linear(&img, px(0.2), px(-0.5), px(0.8), px(0.5));
        let beside = mean_linear(&img, px(-1.2), px(-0.5), px(-1.05), px(0.5));
        eprintln!("ior {ior}: through the prism {prism:?}, beside it {beside:?}");
        assert!(beside[0] > 0.9 && beside[2] < 0.01, "{beside:?}");
        if ior > 1.0 {
            // Reflected at the long face (R) or turned back by TIR and out ((1 − R)², and what
            // the long face reflects in again returns the same way): all of it sees the sky.
            assert!(
                prism[2] > 0.9 && prism[0] < 0.02,
                "TIR should show the environment: {prism:?}"
            );
        } else {
            assert!(prism[0] > 0.95 && prism[2] < 0.02, "{prism:?}");
        }
    }
}
