//! Compiles `shaders/*.wgsl` to SPIR-V with naga (version pinned in the workspace) into OUT_DIR.
//!
//! `pathtrace.wgsl` is compiled in eight variants, `pathtrace_v{N}.spv`: bit 0 of N sets
//! `const HAS_TEXTURES: bool = false;`, bit 1 `const HAS_PUNCTUAL: bool = false;` (for scenes
//! without textures / punctual lights; N = 0 is the file as written). CPU drivers (lavapipe) run
//! both sides of every branch under a lane mask, so code that can never run for a scene still
//! costs time unless it is compiled out. Bit 2 declares the BVH nodes (binding 1) as a 64 KiB
//! uniform buffer instead of a storage buffer, for scenes of at most 4096 nodes: lavapipe reads
//! a uniform buffer at per-lane offsets with a branch-free gather, a storage buffer with a
//! bounds-checked loop over the lanes.

use naga::back::spv;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use std::path::PathBuf;

const SHADERS: &[&str] = &["pathtrace"];
const NODES_STORAGE: &str = "@group(0) @binding(1) var<storage, read> nodes: array<vec4<u32>>;";
const NODES_UNIFORM: &str =
    "@group(0) @binding(1) var<uniform> nodes: array<vec4<u32>, 4096>; // UNIFORM_NODES";

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
        let flags = ["HAS_TEXTURES", "HAS_PUNCTUAL"];
        for variant in 0..1u32 << (flags.len() + 1) {
            let mut text = src.clone();
            for (bit, flag) in flags.iter().enumerate() {
                let on = format!("const {flag}: bool = true;");
                assert!(src.contains(&on), "{src_path} must declare `{on}`");
                if variant & (1 << bit) != 0 {
                    text = text.replace(&on, &format!("const {flag}: bool = false;"));
                }
            }
            if variant & (1 << flags.len()) != 0 {
                assert!(
                    text.contains(NODES_STORAGE),
                    "{src_path} must declare `{NODES_STORAGE}`"
                );
                text = text.replace(NODES_STORAGE, NODES_UNIFORM);
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
