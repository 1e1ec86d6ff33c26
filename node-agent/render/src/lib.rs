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
pub mod bench_scenes;
mod error;
mod render;
pub mod scene;
mod vulkan;

pub use error::{Problem, RenderError, SceneError};
pub use render::{BufferLimits, DeviceOptions, Renderer, TileImage, TileRequest};
pub use scene::{
    encode_glb, extension_status, CameraInfo, Environment, ExtensionStatus, FrameRate, LoadOptions,
    LoadTimings, Scene, SceneLimits, AUTO_CAMERA, AUTO_CAMERA_YFOV_DEGREES,
    NEUTRAL_ENVIRONMENT_STRENGTH,
};

/// The standard benchmark scene (a Blender-exported Cornell box), shipped with the crate.
pub const STANDARD_SCENE_GLB: &[u8] = include_bytes!("../assets/cornell.glb");

/// blake3 hash of the canonical row-major RGBA8 pixel bytes of a tile or frame.
pub fn pixel_hash(rgba8: &[u8]) -> [u8; 32] {
    *blake3::hash(rgba8).as_bytes()
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
