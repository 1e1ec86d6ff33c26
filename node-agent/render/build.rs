//! Compiles `shaders/*.wgsl` to SPIR-V with naga (version pinned in the workspace) into OUT_DIR.
//!
//! `pathtrace.wgsl` is compiled twice: as written (`pathtrace.spv`) and with
//! `const HAS_TEXTURES: bool = false;` (`pathtrace_notex.spv`) for scenes without textures.
//! CPU drivers (lavapipe) run both sides of every branch under a lane mask, so code that can
//! never run for a scene still costs time unless it is compiled out.

use naga::back::spv;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use std::path::PathBuf;

const SHADERS: &[&str] = &["pathtrace"];

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for name in SHADERS {
        let src_path = format!("shaders/{name}.wgsl");
        println!("cargo:rerun-if-changed={src_path}");
        let src = std::fs::read_to_string(&src_path).expect("read shader");
        compile(&src, &src_path, &out.join(format!("{name}.spv")));
        if *name == "pathtrace" {
            let on = "const HAS_TEXTURES: bool = true;";
            assert!(src.contains(on), "{src_path} must declare `{on}`");
            let notex = src.replace(on, "const HAS_TEXTURES: bool = false;");
            compile(&notex, &src_path, &out.join(format!("{name}_notex.spv")));
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
