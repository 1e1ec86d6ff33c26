//! Cycles agreement on small feature scenes (a benchmark, not CI): each scene is built here as
//! a .glb, rendered by Tessera and by Blender Cycles (`../shared/bench/cycles_render.py`, same
//! size, spp and bounces), and the mean linear luminance of every material's pixels (as the
//! camera sees them: the CPU's first hit) is printed for both, with the difference.
//!
//!     cargo bench -p tessera-render --bench features
//!
//! Environment: FEATURES_WIDTH/HEIGHT/SPP/BOUNCES (default 160×120, 256 spp, 6 bounces),
//! FEATURES_ONLY (render only the scenes whose name contains it).

#[path = "../tests/common/mod.rs"]
mod common;
// Cycles through cycles_render.py and the environment knobs, as the other benchmarks run them.
#[path = "common/mod.rs"]
#[allow(dead_code)]
mod bench;

use bench::{cycles, env_u32};
use common::{diffuse, Builder};
use serde_json::json;
use tessera_render::{DeviceOptions, Renderer, Scene, TileRequest};

/// The stage every scene shares: a grey floor, an emissive panel overhead, a perspective camera
/// in front looking down 25°. Returns the builder and the floor's material.
fn stage(floor_material: Option<serde_json::Value>) -> (Builder, usize) {
    let mut b = Builder::default();
    let floor = b.material(floor_material.unwrap_or_else(|| diffuse([0.5; 3])));
    b.floor(3.0, floor);
    let lamp = b.material(
        json!({"pbrMetallicRoughness": {"baseColorFactor": [0.0, 0.0, 0.0, 1.0]},
        "emissiveFactor": [1.0, 1.0, 1.0]}),
    );
    b.quad(
        [
            [-1.0, 2.5, -1.0],
            [1.0, 2.5, -1.0],
            [1.0, 2.5, 1.0],
            [-1.0, 2.5, 1.0],
        ],
        lamp,
    );
    let pitch = -25f32.to_radians();
    b.cameras
        .push(json!({"type": "perspective", "perspective": {"yfov": 0.7, "znear": 0.01}}));
    b.node(json!({"camera": 0, "translation": [0.0, 1.6, 3.2],
        "rotation": [(pitch / 2.0).sin(), 0.0, 0.0, (pitch / 2.0).cos()]}));
    (b, floor)
}

/// A UV sphere of radius r at `centre` with smooth normals.
fn sphere(b: &mut Builder, r: f32, centre: [f32; 3], material: usize) {
    let (seg, rings) = (48u32, 24u32);
    let (mut pos, mut nrm) = (Vec::new(), Vec::new());
    for i in 0..=rings {
        let th = std::f32::consts::PI * i as f32 / rings as f32;
        for j in 0..=seg {
            let ph = 2.0 * std::f32::consts::PI * j as f32 / seg as f32;
            let n = [th.sin() * ph.cos(), th.cos(), th.sin() * ph.sin()];
            pos.extend([0, 1, 2].map(|k| centre[k] + r * n[k]));
            nrm.extend(n);
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
    let n = b.floats(&nrm, "VEC3", 3);
    let i = b.indices(&idx);
    b.meshes.push(json!({"primitives": [{"attributes": {"POSITION": p, "NORMAL": n}, "indices": i, "material": material}]}));
    b.node(json!({"mesh": b.meshes.len() - 1}));
}

/// A flat ring (a disc when r0 = 0) at height y facing up, between radii r0 and r1.
fn ring(b: &mut Builder, r0: f32, r1: f32, y: f32, material: usize) {
    let seg = 96u32;
    let (mut pos, mut nrm, mut idx) = (Vec::new(), Vec::new(), Vec::new());
    for j in 0..=seg {
        let ph = 2.0 * std::f32::consts::PI * j as f32 / seg as f32;
        for r in [r0, r1] {
            pos.extend([r * ph.cos(), y, r * ph.sin()]);
            nrm.extend([0.0, 1.0, 0.0]);
        }
    }
    for j in 0..seg {
        let a = 2 * j;
        // Counter-clockwise seen from above (+y).
        idx.extend([a, a + 2, a + 1, a + 1, a + 2, a + 3]);
    }
    let p = b.floats(&pos, "VEC3", 3);
    let n = b.floats(&nrm, "VEC3", 3);
    let i = b.indices(&idx);
    b.meshes.push(json!({"primitives": [{"attributes": {"POSITION": p, "NORMAL": n}, "indices": i, "material": material}]}));
    b.node(json!({"mesh": b.meshes.len() - 1}));
}

/// A PNG in the binary buffer as image + texture; returns the texture index.
fn png_texture(b: &mut Builder, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> usize {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba(f(x, y)));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    while !b.bin.len().is_multiple_of(4) {
        b.bin.push(0);
    }
    b.views
        .push(json!({"buffer": 0, "byteOffset": b.bin.len(), "byteLength": png.len()}));
    b.bin.extend_from_slice(&png);
    b.images
        .push(json!({"bufferView": b.views.len() - 1, "mimeType": "image/png"}));
    b.textures.push(json!({"source": b.images.len() - 1}));
    b.textures.len() - 1
}

fn scenes() -> Vec<(&'static str, Builder, Vec<&'static str>)> {
    let mut out = Vec::new();

    // Glass sphere: transmission 1, ior 1.5, a volume without absorption.
    let (mut b, _) = stage(None);
    b.extensions.extend([
        "KHR_materials_transmission",
        "KHR_materials_volume",
        "KHR_materials_ior",
    ]);
    let glass = b.material(json!({"pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.0},
        "extensions": {"KHR_materials_transmission": {"transmissionFactor": 1.0},
                       "KHR_materials_volume": {"thicknessFactor": 1.0},
                       "KHR_materials_ior": {"ior": 1.5}}}));
    sphere(&mut b, 0.6, [0.0, 0.6, 0.0], glass);
    out.push(("glass sphere", b, vec!["floor", "lamp", "glass"]));

    // Metallic floor (gold, roughness 0.3) with a diffuse sphere on it.
    let (mut b, _) = stage(Some(json!({"pbrMetallicRoughness": {
        "baseColorFactor": [1.0, 0.77, 0.34, 1.0], "metallicFactor": 1.0, "roughnessFactor": 0.3}})));
    let ball = b.material(diffuse([0.7, 0.7, 0.7]));
    sphere(&mut b, 0.5, [0.0, 0.5, 0.0], ball);
    out.push(("metallic plane", b, vec!["metal floor", "lamp", "ball"]));

    // Normal-mapped floor: stripes of normals tilted ±30° along u.
    let (mut b, floor) = stage(None);
    let tex = png_texture(&mut b, 64, 64, |x, _| {
        let s = if (x / 8) % 2 == 0 { 1.0f32 } else { -1.0 };
        let (sin, cos) = (0.5f32 * s, 0.866f32);
        let enc = |c: f32| ((c * 0.5 + 0.5) * 255.0).round() as u8;
        [enc(sin), enc(0.0), enc(cos), 255]
    });
    b.materials[floor]["normalTexture"] = json!({"index": tex});
    out.push(("normal-mapped plane", b, vec!["floor", "lamp"]));

    // Alpha-masked leaf: a quad with a disc of opaque green texels, above the floor.
    let (mut b, _) = stage(None);
    let tex = png_texture(&mut b, 64, 64, |x, y| {
        let (dx, dy) = (x as f32 - 31.5, y as f32 - 31.5);
        let a = if dx * dx + dy * dy < 28.0 * 28.0 {
            255
        } else {
            0
        };
        [60, 160, 40, a]
    });
    let leaf = b.material(json!({"pbrMetallicRoughness": {"baseColorTexture": {"index": tex}, "metallicFactor": 0.0, "roughnessFactor": 0.8},
        "alphaMode": "MASK", "alphaCutoff": 0.5, "doubleSided": true}));
    // Facing up (+y), counter-clockwise seen from above.
    b.quad(
        [
            [-0.8, 0.8, 0.8],
            [0.8, 0.8, 0.8],
            [0.8, 0.8, -0.8],
            [-0.8, 0.8, -0.8],
        ],
        leaf,
    );
    out.push(("alpha leaf", b, vec!["floor", "lamp", "leaf"]));

    // Vertex colours: a quad standing up with red, green, blue and white corners.
    let (mut b, _) = stage(None);
    let plate = b.material(diffuse([1.0; 3]));
    let node = b.quad(
        [
            [-0.8, 0.0, 0.0],
            [0.8, 0.0, 0.0],
            [0.8, 1.6, 0.0],
            [-0.8, 1.6, 0.0],
        ],
        plate,
    );
    let colors = b.floats(
        &[
            1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        ],
        "VEC4",
        4,
    );
    let mesh = b.nodes[node]["mesh"].as_u64().unwrap() as usize;
    b.meshes[mesh]["primitives"][0]["attributes"]["COLOR_0"] = json!(colors);
    out.push(("vertex colours", b, vec!["floor", "lamp", "plate"]));
    // Spot cone: a spot (inner 0.3, outer 0.6 rad) 8 m above a grey floor, seen from above by
    // an orthographic camera. Rings of the same grey mark where the regions are measured: inside
    // the inner cone (θ < 0.28) and in Cycles' blend ring (0.44 < θ < 0.58, which starts at
    // θ = 0.421, not at the inner angle). High up, so that the 0.25 m radius Blender's importer
    // gives the light blurs the cone's edge little.
    let mut b = Builder::default();
    b.extensions.push("KHR_lights_punctual");
    let grey = diffuse([0.5; 3]);
    let floor = b.material(grey.clone());
    b.floor(10.0, floor);
    let (inner, outer) = (b.material(grey.clone()), b.material(grey));
    let h = 8.0f32;
    ring(&mut b, 0.0, h * 0.28f32.tan(), 0.001, inner);
    ring(&mut b, h * 0.44f32.tan(), h * 0.58f32.tan(), 0.001, outer);
    b.ortho_down([0.0, 10.0, 0.0], 7.5);
    b.lights.push(
        json!({"type": "spot", "intensity": 683.0 * 4.0 * 16.0, "color": [1.0, 1.0, 1.0],
        "spot": {"innerConeAngle": 0.3, "outerConeAngle": 0.6}}),
    );
    let s = std::f32::consts::FRAC_1_SQRT_2;
    b.node(
        json!({"translation": [0.0, h, 0.0], "rotation": [-s, 0.0, 0.0, s],
        "extensions": {"KHR_lights_punctual": {"light": 0}}}),
    );
    out.push((
        "spot cone",
        b,
        vec!["floor", "inside the inner cone", "in the blend ring"],
    ));
    out
}

fn main() {
    let (w, h) = (
        env_u32("FEATURES_WIDTH", 160),
        env_u32("FEATURES_HEIGHT", 120),
    );
    let (spp, bounces) = (env_u32("FEATURES_SPP", 256), env_u32("FEATURES_BOUNCES", 6));
    let mut r = Renderer::new(&DeviceOptions::default()).expect("Vulkan device");
    let dir = std::env::temp_dir().join(format!("tessera-features-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("## Cycles agreement: feature scenes, {w}×{h}, {spp} spp, {bounces} bounces");
    println!("(mean linear luminance of the pixels whose camera ray first hits each material)\n");
    println!("| scene | region | pixels | Tessera | Cycles | difference |");
    println!("|---|---|---|---|---|---|");
    let only = std::env::var("FEATURES_ONLY").unwrap_or_default();
    for (name, b, regions) in scenes().into_iter().filter(|s| s.0.contains(&only)) {
        let glb = b.glb();
        let path = dir.join(format!("{}.glb", name.replace(' ', "-")));
        std::fs::write(&path, &glb).unwrap();
        let scene = Scene::from_bundle(&glb).expect("feature scene");
        let req = TileRequest {
            linear: true,
            ..TileRequest::whole_frame(w, h, spp, bounces, 1)
        };
        let ours = r
            .render_tile(&tessera_render::pixel_hash(&glb), &scene, &req)
            .unwrap();
        let ours = ours.linear.unwrap();
        // On failure `cycles` has printed why.
        let theirs = cycles(&path, w, h, spp, bounces).map(|(_, linear)| linear);
        if theirs.is_none() {
            println!("| {name} | Cycles skipped (above) | | | | |");
        }
        // Material of each pixel's first hit (the CPU traversal mirrors the shader's).
        let cam = *scene.camera();
        let first: Vec<Option<u32>> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let (o, d) = cam.ray(x as f32 + 0.5, y as f32 + 0.5, w, h);
                scene.intersect(o, d).map(|hit| hit.1)
            })
            .collect();
        for (m, region) in regions.iter().enumerate() {
            let lum = |img: &[f32]| {
                let (mut s, mut n) = (0.0f64, 0u32);
                for (i, f) in first.iter().enumerate() {
                    if *f == Some(m as u32) {
                        let p = &img[i * 4..i * 4 + 3];
                        s += 0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64;
                        n += 1;
                    }
                }
                (s / n.max(1) as f64, n)
            };
            let (a, n) = lum(&ours);
            if n == 0 {
                continue; // not in view
            }
            match &theirs {
                Some(c) => {
                    let (b, _) = lum(c);
                    let d = if b > 0.0 { (a - b) / b * 100.0 } else { 0.0 };
                    println!("| {name} | {region} | {n} | {a:.4} | {b:.4} | {d:+.1}% |");
                }
                None => println!("| {name} | {region} | {n} | {a:.4} | – | – |"),
            }
        }
    }
}
