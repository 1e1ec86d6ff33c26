//! Energy of the metallic/dielectric mix: glTF's `mix(dielectric_brdf, metal_brdf, metallic)`.

mod common;
use common::*;
use serde_json::json;
use std::f64::consts::PI;
use tessera_render::{Scene, TileRequest};

const BASE: [f64; 3] = [0.9, 0.5, 0.2];
const ROUGHNESS: f64 = 0.5;
/// Dielectric F0 at ior 1.5, F90 1 (no KHR_materials_specular).
const F0: f64 = 0.04;

/// The BRDF the shader evaluates, times cos θᵢ, for wo = n (the view straight down) and wi at
/// θ from the normal: GGX with Smith G and Schlick Fresnel for both lobes, Burley diffuse under
/// the dielectric's specular layer, and the two mixed by `metallic`.
fn f_cos(theta: f64, metallic: f64, channel: usize) -> f64 {
    let b = BASE[channel];
    let nl = theta.cos();
    let nv = 1.0;
    let vh = (theta / 2.0).cos(); // h halfway between n and wi
    let nh = vh;
    let a = (ROUGHNESS * ROUGHNESS).max(1e-3);
    let a2 = a * a;
    let k = (1.0 - vh).powi(5);
    let schlick = |f0: f64, f90: f64| f0 + (f90 - f0) * k;
    let d = {
        let t = nh * nh * (a2 - 1.0) + 1.0;
        a2 / (PI * t * t)
    };
    let g1 = |x: f64| 2.0 * x / (x + (a2 + (1.0 - a2) * x * x).sqrt());
    let spec = d * g1(nv) * g1(nl) / (4.0 * nv * nl);
    let fd90 = 0.5 + 2.0 * ROUGHNESS * vh * vh;
    let burley =
        (1.0 + (fd90 - 1.0) * (1.0 - nl).powi(5)) * (1.0 + (fd90 - 1.0) * (1.0 - nv).powi(5));
    let dielectric = spec * schlick(F0, 1.0) + b / PI * burley * (1.0 - schlick(F0, 1.0));
    let metal = spec * schlick(b, 1.0);
    ((1.0 - metallic) * dielectric + metallic * metal) * nl
}

/// Directional albedo at normal incidence: ∫ f cos θ dω over the hemisphere (midpoint rule).
fn albedo(metallic: f64, channel: usize) -> f64 {
    let n = 20_000;
    let dt = PI / 2.0 / n as f64;
    (0..n)
        .map(|i| {
            let t = (i as f64 + 0.5) * dt;
            f_cos(t, metallic, channel) * t.sin() * dt
        })
        .sum::<f64>()
        * 2.0
        * PI
}

/// A plane of the given metallic under a uniform white environment (white furnace), seen
/// straight down: each pixel is the directional albedo.
fn furnace(metallic: f64, key: u8) -> [f64; 3] {
    let mut b = Builder::default();
    let m = b.material(json!({"pbrMetallicRoughness": {
        "baseColorFactor": [BASE[0], BASE[1], BASE[2], 1.0],
        "metallicFactor": metallic, "roughnessFactor": ROUGHNESS}}));
    b.floor(100.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    let scene = Scene::from_bundle(&b.glb()).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(16, 16, 512, 4, 1)
    };
    let img = renderer().render_tile(&[key; 32], &scene, &req).unwrap();
    mean_linear(&img, 0, 0, 16, 16)
}

/// Partly metallic surfaces are the average of the dielectric and the metal (glTF, Blender's
/// Principled BSDF), not darker: the diffuse under the dielectric's specular layer is weighed
/// by the dielectric's Fresnel only. Metallic 0 and 1 match the same analytic albedos.
#[test]
fn partly_metallic_white_furnace_is_the_mix_of_dielectric_and_metal() {
    let got: Vec<[f64; 3]> = [0.0, 0.5, 1.0]
        .iter()
        .enumerate()
        .map(|(k, &m)| furnace(m, 40 + k as u8))
        .collect();
    eprintln!(
        "rendered {got:?}, analytic {:?}",
        [0.0, 0.5, 1.0].map(|m| [0, 1, 2].map(|c| albedo(m, c)))
    );
    for (k, &m) in [0.0, 0.5, 1.0].iter().enumerate() {
        for c in 0..3 {
            let want = albedo(m, c);
            assert!(
                (got[k][c] - want).abs() < 0.01 * want.max(0.1),
                "metallic {m}: channel {c} is {:.4}, expected {want:.4} (all: {:?})",
                got[k][c],
                got[k]
            );
        }
    }
    let [dielectric, half, metal] = [got[0], got[1], got[2]];
    for c in 0..3 {
        let mean = 0.5 * (dielectric[c] + metal[c]);
        assert!(
            (half[c] - mean).abs() < 0.01 * mean,
            "metallic 0.5: channel {c} is {:.4}, the mean of metallic 0 and 1 is {mean:.4}",
            half[c]
        );
    }
}
