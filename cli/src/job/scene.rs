//! The scene check artists get before any token moves: the same loader the nodes use.
use std::path::{Path, PathBuf};

use serde::Serialize;

use tessera_render::{FrameRate, LoadOptions};

use super::spec::FrameRange;
use crate::error::{input, CliResult};

#[derive(Debug, Clone, Serialize)]
pub struct SceneFile {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub path: PathBuf,
    pub size_bytes: usize,
    /// blake3 of the bytes: the hash the job commits to.
    pub hash: String,
    pub triangles: usize,
    pub lights: usize,
    pub textures: usize,
    /// Whether frames differ (glTF animation), so each frame is posed at its own time.
    pub animated: bool,
    pub warnings: Vec<String>,
}

impl SceneFile {
    pub fn hash_bytes(&self) -> [u8; 32] {
        *blake3::hash(&self.bytes).as_bytes()
    }
}

/// Reads and parses a `.glb`, a self-contained `.gltf` or a tar bundle, posed at the job's
/// first frame and, for an animated scene, at its last too (as the nodes will load it).
pub fn check_scene(path: &Path, frames: FrameRange) -> CliResult<SceneFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| input(format!("cannot read the scene {}: {e}", path.display())))?;
    let load = |frame: u32| {
        let opts = LoadOptions::at_frame(frame, FrameRate::default());
        tessera_render::Scene::from_bundle_with(&bytes, &opts).map_err(|e| {
            let hint = if path.extension().is_some_and(|x| x == "gltf") {
                " (a .gltf with separate files: export as .glb, or pack the folder as a tar bundle)"
            } else {
                ""
            };
            input(format!(
                "scene {} does not load at frame {frame}: {e}{hint}",
                path.display()
            ))
        })
    };
    let scene = load(frames.start)?;
    let animated = scene.is_animated();
    if animated && frames.end != frames.start {
        load(frames.end)?;
    }
    Ok(SceneFile {
        path: path.to_path_buf(),
        size_bytes: bytes.len(),
        hash: blake3::hash(&bytes).to_hex().to_string(),
        triangles: scene.triangle_count(),
        lights: scene.light_count(),
        textures: scene.texture_count(),
        animated,
        warnings: scene.warnings().to_vec(),
        bytes,
    })
}
