//! Materials of real artists' scenes: normal maps (file or MikkTSpace tangents), alpha MASK and
//! BLEND, vertex colours, TEXCOORD_1 and KHR_texture_transform. GPU tests (lavapipe is fine).

mod common;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use tessera_render::{pixel_hash, ExtensionStatus, Scene, TileRequest};

/// A PNG data URI of `w`×`h` RGBA texels given row by row.
fn png_uri(w: u32, h: u32, texels: &[[u8; 4]]) -> String {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba(texels[(y * w + x) as usize]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    )
}

/// Adds an image and a texture of it (sampler 0 when `clamp`, else the default: repeat).
fn texture(b: &mut Builder, w: u32, h: u32, texels: &[[u8; 4]], clamp: bool) -> usize {
    b.images.push(json!({ "uri": png_uri(w, h, texels) }));
    let mut t = json!({"source": b.images.len() - 1});
    if clamp {
        t["sampler"] = json!(0);
    }
    b.textures.push(t);
    b.textures.len() - 1
}

/// The glb, with sampler 0 clamping to the edge.
fn glb(b: &Builder) -> Vec<u8> {
    let mut j = b.json(None);
    if !b.textures.is_empty() {
        j["samplers"] = json!([{"wrapS": 33071, "wrapT": 33071}]);
    }
    glb_from(&j, &b.bin)
}

/// Sets an attribute of the first primitive of `node`'s mesh.
fn set_attribute(b: &mut Builder, node: usize, name: &str, accessor: usize) {
    let mesh = b.nodes[node]["mesh"].as_u64().unwrap() as usize;
    b.meshes[mesh]["primitives"][0]["attributes"][name] = json!(accessor);
}

/// An accessor of raw little-endian bytes (componentType 5121 = unsigned byte, ...).
fn raw_accessor(
    b: &mut Builder,
    bytes: &[u8],
    component: u32,
    count: usize,
    ty: &str,
    normalized: bool,
) -> usize {
    while !b.bin.len().is_multiple_of(4) {
        b.bin.push(0);
    }
    b.views
        .push(json!({"buffer": 0, "byteOffset": b.bin.len(), "byteLength": bytes.len()}));
    b.bin.extend_from_slice(bytes);
    b.accessors.push(
        json!({"bufferView": b.views.len() - 1, "componentType": component,
        "count": count, "type": ty, "normalized": normalized}),
    );
    b.accessors.len() - 1
}

/// Directional light (KHR_lights_punctual) shining along `dir` (unit), of `lux` lux.
fn sun(b: &mut Builder, dir: [f32; 3], lux: f32) {
    if !b.extensions.contains(&"KHR_lights_punctual") {
        b.extensions.push("KHR_lights_punctual");
    }
    b.lights
        .push(json!({"type": "directional", "intensity": lux, "color": [1.0, 1.0, 1.0]}));
    // The rotation that takes the light's −Z onto `dir`: about (0,0,−1) × dir.
    let axis = [dir[1], -dir[0], 0.0f32];
    let len = (axis[0] * axis[0] + axis[1] * axis[1]).sqrt();
    let angle = (-dir[2]).clamp(-1.0, 1.0).acos();
    let (s, c) = ((angle / 2.0).sin(), (angle / 2.0).cos());
    let q = [axis[0] / len * s, axis[1] / len * s, 0.0, c];
    b.node(json!({"rotation": q, "extensions": {"KHR_lights_punctual": {"light": b.lights.len() - 1}}}));
}

fn render(glb: &[u8], w: u32, h: u32, spp: u32, bounces: u32) -> tessera_render::TileImage {
    let scene = Scene::from_bundle(glb).unwrap();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(w, h, spp, bounces, 1)
    };
    renderer()
        .render_tile(&pixel_hash(glb), &scene, &req)
        .unwrap()
}

fn lum(m: [f64; 3]) -> f64 {
    (m[0] + m[1] + m[2]) / 3.0
}

fn normalize(v: [f64; 3]) -> [f64; 3] {
    let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [v[0] / l, v[1] / l, v[2] / l]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Light 75° from the floor's normal, toward +x (and, with `skew`, toward +z too).
fn grazing_light(skew: bool) -> [f64; 3] {
    let t = 75f64.to_radians();
    let (cx, cz) = if skew {
        (
            std::f64::consts::FRAC_1_SQRT_2,
            std::f64::consts::FRAC_1_SQRT_2,
        )
    } else {
        (1.0, 0.0)
    };
    [t.sin() * cx, t.cos(), t.sin() * cz]
}

/// A diffuse floor (albedo 0.8, no specular lobe) lit by a grazing sun, seen from straight above;
/// with a constant normal-map texel `texel` when given, and TANGENT `tangent` when given.
/// Roughness makes Burley diffuse exactly Lambert for this light and view (fd90 = 1), so the
/// brightness is proportional to cos(normal, light).
fn sunlit_floor(texel: Option<[u8; 4]>, tangent: Option<[f32; 4]>, skew: bool) -> Vec<u8> {
    sunlit_floor_with(texel, tangent, skew, None)
}

/// [`sunlit_floor`] with `normal_ext` as the normal texture's extensions.
fn sunlit_floor_with(
    texel: Option<[u8; 4]>,
    tangent: Option<[f32; 4]>,
    skew: bool,
    normal_ext: Option<Value>,
) -> Vec<u8> {
    let wi = grazing_light(skew);
    let vh = dot(normalize([wi[0], wi[1] + 1.0, wi[2]]), [0.0, 1.0, 0.0]);
    let mut b = Builder::default();
    let mut m = diffuse([0.8; 3]);
    m["pbrMetallicRoughness"]["roughnessFactor"] = json!(0.25 / (vh * vh));
    if let Some(t) = texel {
        let tex = texture(&mut b, 1, 1, &[t], false);
        m["normalTexture"] = json!({"index": tex});
        if let Some(e) = normal_ext {
            m["normalTexture"]["extensions"] = e;
            b.extensions.push("KHR_texture_transform");
        }
    }
    let m = b.material(m);
    let floor = b.floor(1.0, m);
    if let Some(t) = tangent {
        let acc = b.floats(&[t, t, t, t].concat(), "VEC4", 4);
        set_attribute(&mut b, floor, "TANGENT", acc);
    }
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    let d = wi.map(|c| -c as f32);
    sun(&mut b, d, 683.0);
    glb(&b)
}

/// The normal a normal-map texel encodes, in the floor's frame: tangent +x, normal +y,
/// bitangent cross(n, t) × w = −z × w.
fn mapped_normal(texel: [u8; 4], w: f64) -> [f64; 3] {
    let c = texel.map(|v| v as f64 / 255.0 * 2.0 - 1.0);
    normalize([c[0], c[2], -c[1] * w])
}

#[test]
fn normal_map_tilted_toward_the_light_brightens_by_the_cosine_ratio() {
    let wi = grazing_light(false);
    // 45° toward +x (the tangent), toward the light.
    let texel = [218, 128, 218, 255];
    let plain = lum(mean_linear(
        &render(&sunlit_floor(None, None, false), 8, 8, 4, 0),
        0,
        0,
        8,
        8,
    ));
    let mapped = lum(mean_linear(
        &render(
            &sunlit_floor(Some(texel), Some([1.0, 0.0, 0.0, 1.0]), false),
            8,
            8,
            4,
            0,
        ),
        0,
        0,
        8,
        8,
    ));
    // Plain: ρ/π · E · cos 75°, E = 1 W/m² (683 lux).
    let expect_plain = 0.8 / std::f64::consts::PI * wi[1];
    assert!(
        (plain - expect_plain).abs() < 0.01 * expect_plain,
        "plain {plain}, expected {expect_plain}"
    );
    let expect = dot(mapped_normal(texel, 1.0), wi) / wi[1];
    let ratio = mapped / plain;
    assert!(expect > 3.0, "the map should tilt a lot: {expect}");
    assert!(
        (ratio - expect).abs() < 0.01 * expect,
        "mapped/plain {ratio}, cosine ratio {expect}"
    );

    // The same map turned upside down in x tilts away (cos 120° < 0): black. A flat map
    // (128, 128, 255) tilts by the 8-bit encoding's 1/255 only.
    let away = lum(mean_linear(
        &render(
            &sunlit_floor(Some(texel), Some([-1.0, 0.0, 0.0, 1.0]), false),
            8,
            8,
            4,
            0,
        ),
        0,
        0,
        8,
        8,
    ));
    assert!(away < 1e-6, "tilted away from the light: {away}");
    let flat = lum(mean_linear(
        &render(
            &sunlit_floor(Some([128, 128, 255, 255]), None, false),
            8,
            8,
            4,
            0,
        ),
        0,
        0,
        8,
        8,
    ));
    let expect_flat = dot(mapped_normal([128, 128, 255, 255], 1.0), wi) / wi[1];
    assert!(
        (flat / plain - expect_flat).abs() < 0.01 * expect_flat,
        "flat {flat} vs {plain}, expected ratio {expect_flat}"
    );
}

#[test]
fn generated_tangents_match_the_same_tangents_given_explicitly() {
    // Tilted along the tangent and the bitangent, under a light off both axes: the bitangent's
    // sign matters.
    let texel = [200, 200, 200, 255];
    let mean = |tangent: Option<[f32; 4]>| {
        lum(mean_linear(
            &render(&sunlit_floor(Some(texel), tangent, true), 8, 8, 4, 0),
            0,
            0,
            8,
            8,
        ))
    };
    let generated = mean(None);
    // The floor's u runs along +x and v along +z (glTF's v points down the image): MikkTSpace
    // gives tangent +x with the bitangent toward +v, cross(+y, +x) × −1 = +z.
    let explicit = mean(Some([1.0, 0.0, 0.0, -1.0]));
    let mirrored = mean(Some([1.0, 0.0, 0.0, 1.0]));
    assert!(
        (generated - explicit).abs() < 1e-4 * explicit,
        "generated {generated} vs explicit {explicit}"
    );
    assert!(
        (mirrored - explicit).abs() > 0.05 * explicit,
        "the bitangent sign should matter: {mirrored} vs {explicit}"
    );
    let wi = grazing_light(true);
    let expect = dot(mapped_normal(texel, -1.0), wi) / wi[1];
    let plain = lum(mean_linear(
        &render(&sunlit_floor(None, None, true), 8, 8, 4, 0),
        0,
        0,
        8,
        8,
    ));
    let ratio = explicit / plain;
    assert!(
        (ratio - expect).abs() < 0.01 * expect,
        "ratio {ratio}, expected {expect}"
    );
}

/// MikkTSpace runs on the UVs after the normal texture's KHR_texture_transform, so the generated
/// frame follows the texture's axes: turned by 90° (u' = v, v' = −u on this floor, whose u runs
/// along +x and v along +z), the tangent is +z and the bitangent −x (w = −1), the frame the same
/// map has when given those tangents explicitly, and not the untransformed frame.
#[test]
fn generated_tangents_follow_the_normal_textures_rotation() {
    let texel = [200, 200, 200, 255];
    let mean = |tangent: Option<[f32; 4]>, rotation: f32| {
        let transform = json!({"KHR_texture_transform": {"rotation": rotation}});
        let glb = sunlit_floor_with(Some(texel), tangent, true, Some(transform));
        lum(mean_linear(&render(&glb, 8, 8, 4, 0), 0, 0, 8, 8))
    };
    let quarter = std::f32::consts::FRAC_PI_2;
    let generated = mean(None, quarter);
    let explicit = mean(Some([0.0, 0.0, 1.0, -1.0]), quarter);
    let unturned = mean(Some([1.0, 0.0, 0.0, -1.0]), quarter);
    eprintln!(
        "generated {generated}, explicit turned frame {explicit}, untransformed frame {unturned}"
    );
    assert!(
        (generated - explicit).abs() < 1e-3 * explicit,
        "generated {generated} vs the turned frame {explicit}"
    );
    assert!(
        (unturned - explicit).abs() > 0.05 * explicit,
        "the frames should differ: {unturned} vs {explicit}"
    );
}

/// A floor under a point light with a quad halfway up whose base texture is transparent
/// (alpha 0) in its −x half and opaque in its +x half, alpha mode MASK. The camera looks down
/// from below the quad.
fn masked_shadow(with_quad: bool, mode: &str) -> Vec<u8> {
    let mut b = Builder::default();
    let floor = b.material(diffuse([0.8; 3]));
    b.floor(10.0, floor);
    if with_quad {
        let tex = texture(
            &mut b,
            2,
            1,
            &[[255, 255, 255, 0], [255, 255, 255, 255]],
            true,
        );
        let mut m = diffuse([0.5; 3]);
        m["pbrMetallicRoughness"]["baseColorTexture"] = json!({"index": tex});
        m["alphaMode"] = json!(mode);
        let m = b.material(m);
        let h = 1.0;
        b.quad([[-h, 1.0, h], [h, 1.0, h], [h, 1.0, -h], [-h, 1.0, -h]], m);
    }
    b.ortho_down([0.0, 0.5, 0.0], 0.5);
    b.point_light([0.0, 2.0, 0.0], 683.0 * 4.0);
    glb(&b)
}

#[test]
fn alpha_mask_quad_casts_a_cut_out_shadow() {
    let open = render(&masked_shadow(false, "MASK"), 16, 16, 4, 0);
    let cut = render(&masked_shadow(true, "MASK"), 16, 16, 4, 0);
    // Shadow rays from floor point x meet the quad at x/2: the image's left half (−x) lies
    // under the transparent half.
    let (lit_open, lit) = (
        lum(mean_linear(&open, 1, 0, 7, 16)),
        lum(mean_linear(&cut, 1, 0, 7, 16)),
    );
    let dark = lum(mean_linear(&cut, 9, 0, 15, 16));
    assert!(lit_open > 0.1, "floor lit without the quad: {lit_open}");
    assert!(
        (lit - lit_open).abs() < 1e-3 * lit_open,
        "the cut-out half lets the light through: {lit} vs {lit_open}"
    );
    assert!(dark < 1e-6, "the opaque half casts a shadow: {dark}");
    // OPAQUE ignores alpha: all in shadow.
    let opaque = render(&masked_shadow(true, "OPAQUE"), 16, 16, 4, 0);
    assert!(lum(mean_linear(&opaque, 0, 0, 16, 16)) < 1e-6);
}

/// A black BLEND plane of alpha `alpha` over nothing, in a white environment, seen from above.
fn blend_plane(alpha: f32) -> Vec<u8> {
    let mut b = Builder::default();
    let mut m = diffuse([0.0; 3]);
    m["pbrMetallicRoughness"]["baseColorFactor"] = json!([0.0, 0.0, 0.0, alpha]);
    m["alphaMode"] = json!("BLEND");
    let m = b.material(m);
    b.floor(1.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 0.5);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    glb(&b)
}

#[test]
fn half_alpha_blend_plane_transmits_about_half_and_tiles_stitch() {
    let g = blend_plane(0.5);
    let img = render(&g, 16, 16, 64, 1);
    let m = lum(mean_linear(&img, 0, 0, 16, 16));
    assert!((m - 0.5).abs() < 0.03, "transmitted {m}, expected 0.5");
    let quarter = lum(mean_linear(
        &render(&blend_plane(0.25), 16, 16, 64, 1),
        0,
        0,
        16,
        16,
    ));
    assert!(
        (quarter - 0.75).abs() < 0.03,
        "alpha 0.25 transmitted {quarter}"
    );
    // The coin flips depend on pixel, sample and bounce only: a tile has the frame's bytes.
    let scene = Scene::from_bundle(&g).unwrap();
    let mut r = renderer();
    let full = TileRequest::whole_frame(16, 16, 8, 2, 4);
    let whole = r.render_tile(&[7; 32], &scene, &full).unwrap();
    let t = r
        .render_tile(&[7; 32], &scene, &full.tile(5, 3, 7, 9))
        .unwrap();
    for row in 0..9usize {
        let src = row * 7 * 4;
        let dst = ((3 + row) * 16 + 5) * 4;
        assert_eq!(t.rgba8[src..src + 28], whole.rgba8[dst..dst + 28]);
    }
}

/// A white diffuse floor (Burley at roughness 0.4 = Lambert) in a white environment, seen from
/// above so that the frame is the floor: radiance = albedo.
fn furnace_floor(b: &mut Builder, mut m: Value) -> usize {
    m["extensions"] = json!({"KHR_materials_specular": {"specularFactor": 0.0}});
    m["pbrMetallicRoughness"]["metallicFactor"] = json!(0.0);
    m["pbrMetallicRoughness"]["roughnessFactor"] = json!(0.4);
    let m = b.material(m);
    let floor = b.floor(1.0, m);
    b.ortho_down([0.0, 1.0, 0.0], 1.0);
    b.scene_extras = Some(json!({"tessera_environment": {"color": [1.0, 1.0, 1.0]}}));
    floor
}

#[test]
fn vertex_colours_multiply_the_base_colour() {
    // Floor corners in vertex order: (−x, +z), (+x, +z), (+x, −z), (−x, −z); the image's top
    // is −z and its left −x.
    let colours: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 1.0],
    ];
    let corners = |img: &tessera_render::TileImage| {
        [
            mean_linear(img, 0, 15, 1, 16), // vertex 0: bottom left
            mean_linear(img, 15, 15, 16, 16),
            mean_linear(img, 15, 0, 16, 1),
            mean_linear(img, 0, 0, 1, 1),
        ]
    };
    let check = |c: [[f64; 3]; 4], scale: [f64; 3], what: &str| {
        for (k, (got, want)) in c.iter().zip(colours).enumerate() {
            for ch in 0..3 {
                let e = want[ch] as f64 * scale[ch];
                // Pixel centres sit 1/16 of the side in from the corner: 7/8 of its colour.
                let lo = 0.8 * e;
                let hi = e + 0.14;
                assert!(
                    got[ch] >= lo - 0.02 && got[ch] <= hi,
                    "{what}: corner {k} {got:?}, vertex colour {want:?} × {scale:?}"
                );
            }
        }
    };
    // Float RGB.
    let mut b = Builder::default();
    let floor = furnace_floor(&mut b, json!({"pbrMetallicRoughness": {}}));
    let acc = b.floats(&colours.concat(), "VEC3", 3);
    set_attribute(&mut b, floor, "COLOR_0", acc);
    check(
        corners(&render(&glb(&b), 16, 16, 64, 2)),
        [1.0; 3],
        "float RGB",
    );
    // Normalised unsigned byte RGBA, times a base colour factor.
    let mut b = Builder::default();
    let floor = furnace_floor(
        &mut b,
        json!({"pbrMetallicRoughness": {"baseColorFactor": [0.5, 1.0, 1.0, 1.0]}}),
    );
    let bytes: Vec<u8> = colours
        .iter()
        .flat_map(|c| [c[0] as u8 * 255, c[1] as u8 * 255, c[2] as u8 * 255, 255])
        .collect();
    let acc = raw_accessor(&mut b, &bytes, 5121, 4, "VEC4", true);
    set_attribute(&mut b, floor, "COLOR_0", acc);
    check(
        corners(&render(&glb(&b), 16, 16, 64, 2)),
        [0.5, 1.0, 1.0],
        "unsigned byte RGBA",
    );
}

/// Texel 0 black, texel 1 white.
const BLACK_WHITE: [[u8; 4]; 2] = [[0, 0, 0, 255], [255, 255, 255, 255]];

/// Mean brightness of the columns around u = (i + 0.5) / 4, i = 0..4, of a 32×32 frame, and of
/// the rows around v likewise.
fn bands(img: &tessera_render::TileImage) -> ([f64; 4], [f64; 4]) {
    let cols =
        std::array::from_fn(|i| lum(mean_linear(img, 8 * i as u32 + 3, 2, 8 * i as u32 + 5, 30)));
    let rows =
        std::array::from_fn(|i| lum(mean_linear(img, 2, 8 * i as u32 + 3, 30, 8 * i as u32 + 5)));
    (cols, rows)
}

fn transformed_checker(transform: Option<Value>) -> Vec<u8> {
    let mut b = Builder::default();
    let tex = texture(&mut b, 2, 1, &BLACK_WHITE, false);
    let mut info = json!({"index": tex});
    if let Some(t) = transform {
        info["extensions"] = json!({"KHR_texture_transform": t});
        b.extensions.push("KHR_texture_transform");
    }
    furnace_floor(
        &mut b,
        json!({"pbrMetallicRoughness": {"baseColorTexture": info}}),
    );
    glb(&b)
}

#[test]
fn texture_transform_scale_repeats_and_rotation_turns_the_texture() {
    // Bilinear taps across the repeat: a band a quarter texel from a texel's centre is 25% the
    // other texel.
    let dark = |v: f64| v < 0.3;
    let bright = |v: f64| v > 0.6;
    // Untransformed: black left half, white right half.
    let (cols, _) = bands(&render(&transformed_checker(None), 32, 32, 16, 2));
    assert!(
        dark(cols[0]) && dark(cols[1]) && bright(cols[2]) && bright(cols[3]),
        "{cols:?}"
    );
    // Scale 2 in u: the pair repeats twice.
    let g = transformed_checker(Some(json!({"scale": [2.0, 1.0]})));
    let s = Scene::from_bundle(&g).unwrap();
    assert!(s
        .extensions()
        .contains(&("KHR_texture_transform".into(), ExtensionStatus::Supported)));
    let (cols, rows) = bands(&render(&g, 32, 32, 16, 2));
    assert!(
        dark(cols[0]) && bright(cols[1]) && dark(cols[2]) && bright(cols[3]),
        "{cols:?}"
    );
    assert!(rows.iter().all(|r| (r - rows[0]).abs() < 0.05), "{rows:?}");
    // Rotation by 90°: u' = v (the UVs turn counter-clockwise), so the halves run down the
    // image (v grows downwards): dark rows at the top.
    let g = transformed_checker(Some(json!({"rotation": std::f64::consts::FRAC_PI_2})));
    let (cols, rows) = bands(&render(&g, 32, 32, 16, 2));
    assert!(
        dark(rows[0]) && dark(rows[1]) && bright(rows[2]) && bright(rows[3]),
        "{rows:?}"
    );
    assert!(cols.iter().all(|c| (c - cols[0]).abs() < 0.05), "{cols:?}");
    // Offset by half a repeat: the halves swap.
    let g = transformed_checker(Some(json!({"offset": [0.5, 0.0]})));
    let (cols, _) = bands(&render(&g, 32, 32, 16, 2));
    assert!(
        bright(cols[0]) && bright(cols[1]) && dark(cols[2]) && dark(cols[3]),
        "{cols:?}"
    );
}

#[test]
fn a_texture_on_texcoord_1_samples_the_second_uv_set() {
    // TEXCOORD_0 is constant (0, 0): only TEXCOORD_1 (the floor's usual UVs) shows the halves.
    let scene = |info: Value| {
        let mut b = Builder::default();
        let tex = texture(&mut b, 2, 1, &BLACK_WHITE, true);
        let mut info = info;
        info["index"] = json!(tex);
        if info.get("extensions").is_some() {
            b.extensions.push("KHR_texture_transform");
        }
        let floor = furnace_floor(
            &mut b,
            json!({"pbrMetallicRoughness": {"baseColorTexture": info}}),
        );
        let uv0 = b.floats(&[0.0; 8], "VEC2", 2);
        let uv1 = b.floats(&[0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], "VEC2", 2);
        set_attribute(&mut b, floor, "TEXCOORD_0", uv0);
        set_attribute(&mut b, floor, "TEXCOORD_1", uv1);
        glb(&b)
    };
    let halves = |g: &[u8]| {
        let (cols, _) = bands(&render(g, 32, 32, 16, 2));
        cols
    };
    let c = halves(&scene(json!({"texCoord": 1})));
    assert!(
        c[0] < 0.3 && c[1] < 0.3 && c[2] > 0.6 && c[3] > 0.6,
        "texCoord 1: {c:?}"
    );
    let c = halves(&scene(json!({})));
    assert!(
        c.iter().all(|v| *v < 0.05),
        "texCoord 0 (constant, texel 0): {c:?}"
    );
    // KHR_texture_transform's texCoord overrides the textureInfo's.
    let c = halves(&scene(
        json!({"texCoord": 0, "extensions": {"KHR_texture_transform": {"texCoord": 1}}}),
    ));
    assert!(c[0] < 0.3 && c[3] > 0.6, "override: {c:?}");
}
