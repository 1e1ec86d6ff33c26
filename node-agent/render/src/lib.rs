//! Tessera's headless Vulkan path tracer.
//!
//! * [`Scene`] turns a glTF 2.0 bundle into flat CPU arrays and a SAH BVH; it never touches Vulkan,
//!   so the orchestrator can validate uploads without a GPU.
//! * [`Renderer`] owns the Vulkan instance and device, uploads a scene once per `scene_key` and
//!   path-traces tiles of a frame with a WGSL compute shader (compiled to SPIR-V by `naga` at build time).
//! * [`pixel_hash`] is the blake3 hash of canonical row-major RGBA8 bytes, the value nodes commit on-chain.
//!
//! Each pixel's random sequence depends only on (frame pixel, sample index, seed), and samples are
//! accumulated in a fixed order, so tiles of a frame stitch into exactly the bytes of a whole-frame
//! render on the same device and driver.

pub mod bench;
mod error;
mod render;
pub mod scene;
mod vulkan;

pub use error::{RenderError, SceneError};
pub use render::{DeviceOptions, Renderer, TileImage, TileRequest};
pub use scene::{Environment, Scene, SceneLimits};

/// The standard benchmark scene (a Blender-exported Cornell box), shipped with the crate.
pub const STANDARD_SCENE_GLB: &[u8] = include_bytes!("../assets/cornell.glb");

/// blake3 hash of the canonical row-major RGBA8 pixel bytes of a tile or frame.
pub fn pixel_hash(rgba8: &[u8]) -> [u8; 32] {
    *blake3::hash(rgba8).as_bytes()
}

/// Worker threads for Mesa's CPU drivers (lavapipe/llvmpipe), which read `LP_NUM_THREADS` when
/// the Vulkan device is created; GPU drivers ignore it. Call at the very start of `main`, before
/// any other thread exists (it sets an environment variable). Leaves a value the user set alone.
///
/// Twice the available cores: with one worker per core, Linux was seen to wake both workers
/// of a 2-core machine onto the same core and leave them there for whole dispatches (107% CPU
/// instead of 190%); with four, the same renders ran 12–19% faster in wall time for the same
/// CPU time and the same bytes (node-agent/render/README.md).
pub fn set_cpu_driver_threads() {
    if std::env::var_os("LP_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::env::set_var("LP_NUM_THREADS", (2 * cores).min(32).to_string());
}

/// Lower-case hex of a hash, as the CLI prints it.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_hash_is_blake3_of_bytes() {
        let px = [1u8, 2, 3, 255, 4, 5, 6, 255];
        assert_eq!(pixel_hash(&px), *blake3::hash(&px).as_bytes());
        assert_ne!(pixel_hash(&px), pixel_hash(&px[..4]));
        assert_eq!(hex(&[0xab; 32]).len(), 64);
        assert!(hex(&[0xab; 32]).starts_with("abab"));
    }
}
