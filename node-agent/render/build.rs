//! Compiles `shaders/*.wgsl` to SPIR-V with naga (version pinned in the workspace) into OUT_DIR.
//!
//! `pathtrace.wgsl` is compiled in 32 variants, `pathtrace_v{N}.spv`: bit 0 of N sets
//! `const HAS_TEXTURES: bool = false;`, bit 1 `const HAS_PUNCTUAL: bool = false;`, bit 2
//! `const HAS_ALPHA: bool = false;` (for scenes without textures / punctual lights / alpha-tested
//! materials; N = 0 is the file as written). CPU drivers (lavapipe) run
//! both sides of every branch under a lane mask, so code that can never run for a scene still
//! costs time unless it is compiled out. Bit 3 swaps the block between `SCENE_ARRAYS_BEGIN` and
//! `SCENE_ARRAYS_END` (the scene's storage buffers) for `SCENE_UNIFORM`, for small scenes: lavapipe
//! reads a uniform buffer at per-lane offsets with a branch-free gather, a storage buffer with a
//! bounds-checked loop over the lanes. Bit 4 puts only the materials and lights of a storage
//! variant in uniform buffers (`RECORDS_UNIFORM`).

use naga::back::spv;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use std::path::PathBuf;

const SHADERS: &[&str] = &["pathtrace"];
/// The small-scene variant's scene arrays: 64 KiB uniform buffers of 4096 vec4 (per-triangle
/// records split by component so that each fits), 256 materials and 512 lights. The limits and
/// bindings are those of src/render/layout.rs (`UNIFORM_ENTRIES`, `UNIFORM_MATERIALS`,
/// `UNIFORM_RECORDS`).
const SCENE_UNIFORM: &str = "// Small-scene variant (build.rs): every scene array in uniform buffers.
@group(0) @binding(1) var<uniform> nodes: array<vec4<u32>, 4096>;
@group(0) @binding(2) var<uniform> tri_v0: array<vec4<f32>, 4096>;
@group(0) @binding(10) var<uniform> tri_e1: array<vec4<f32>, 4096>;
@group(0) @binding(11) var<uniform> tri_e2: array<vec4<f32>, 4096>;
@group(0) @binding(3) var<uniform> shade_n0: array<vec4<f32>, 4096>;
@group(0) @binding(12) var<uniform> shade_n1: array<vec4<f32>, 4096>;
@group(0) @binding(13) var<uniform> shade_n2: array<vec4<f32>, 4096>;
@group(0) @binding(14) var<uniform> shade_extra: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<uniform> materials: array<Material, 256>;
@group(0) @binding(7) var<uniform> lights: array<Light, 512>;
@group(0) @binding(15) var<storage, read> attrs: array<Attr>;
fn node_at(i: u32) -> vec4<u32> { return nodes[i]; }
fn tri_at(i: u32) -> Tri { return Tri(tri_v0[i], tri_e1[i], tri_e2[i]); }
fn shade_at(i: u32) -> Shade { return Shade(shade_n0[i], shade_n1[i], shade_n2[i], shade_extra[i]); }
fn material_at(i: u32) -> Material { return materials[i]; }
fn light_at(i: u32) -> Light { return lights[i]; }
";

/// Bit 4: storage variants with materials and lights in uniform buffers (256 materials and 512
/// lights, as in the small-scene variant), for scenes that have no more: each hit reads a material and
/// each light sample a light, and lavapipe gathers from a uniform buffer without its per-lane
/// bounds-checked loop.
const RECORDS_UNIFORM: [(&str, &str); 2] = [
    (
        "@group(0) @binding(4) var<storage, read> materials: array<Material>;",
        "@group(0) @binding(4) var<uniform> materials: array<Material, 256>;",
    ),
    (
        "@group(0) @binding(7) var<storage, read> lights: array<Light>;",
        "@group(0) @binding(7) var<uniform> lights: array<Light, 512>;",
    ),
];

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for name in SHADERS {
        let src_path = format!("shaders/{name}.wgsl");
        println!("cargo:rerun-if-changed={src_path}");
        let src = std::fs::read_to_string(&src_path).expect("read shader");
        if *name != "pathtrace" {
            compile(&src, &src_path, &out.join(format!("{name}.spv")));
            continue;
        }
        let flags = ["HAS_TEXTURES", "HAS_PUNCTUAL", "HAS_ALPHA"];
        // Flags, then the small-scene bit, then the uniform-records bit (storage variants only;
        // with the small-scene bit it changes nothing, those arrays are uniform already).
        for variant in 0..1u32 << (flags.len() + 2) {
            let mut text = src.clone();
            for (bit, flag) in flags.iter().enumerate() {
                let on = format!("const {flag}: bool = true;");
                assert!(src.contains(&on), "{src_path} must declare `{on}`");
                if variant & (1 << bit) != 0 {
                    text = text.replace(&on, &format!("const {flag}: bool = false;"));
                }
            }
            if variant & (1 << flags.len()) != 0 {
                let begin = text.find("// SCENE_ARRAYS_BEGIN");
                let end = text.find("// SCENE_ARRAYS_END");
                let (Some(begin), Some(end)) = (begin, end) else {
                    panic!("{src_path} must mark its scene arrays with SCENE_ARRAYS_BEGIN/END");
                };
                text.replace_range(begin..end, SCENE_UNIFORM);
            } else if variant & (2 << flags.len()) != 0 {
                for (storage, uniform) in RECORDS_UNIFORM {
                    assert!(
                        text.contains(storage),
                        "{src_path} must declare `{storage}`"
                    );
                    text = text.replace(storage, uniform);
                }
            }
            compile(
                &text,
                &src_path,
                &out.join(format!("{name}_v{variant}.spv")),
            );
        }
    }
}

fn compile(src: &str, src_path: &str, out: &std::path::Path) {
    let module = match naga::front::wgsl::parse_str(src) {
        Ok(m) => m,
        Err(e) => panic!("{}", e.emit_to_string_with_path(src, src_path)),
    };
    let info =
        match Validator::new(ValidationFlags::all(), Capabilities::IMMEDIATES).validate(&module) {
            Ok(i) => i,
            Err(e) => panic!("{}", e.emit_to_string_with_path(src, src_path)),
        };
    let options = spv::Options {
        lang_version: (1, 3),
        flags: spv::WriterFlags::empty(),
        ..Default::default()
    };
    let words = spv::write_vec(&module, &info, &options, None).expect("SPIR-V output");
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(out, bytes).expect("write SPIR-V");
}
