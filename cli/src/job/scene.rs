//! The scene check artists get before any token moves: the same loader the nodes use.
use std::path::{Path, PathBuf};

use serde::Serialize;

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
    pub warnings: Vec<String>,
}

impl SceneFile {
    pub fn hash_bytes(&self) -> [u8; 32] {
        *blake3::hash(&self.bytes).as_bytes()
    }
}

/// Reads and parses a `.glb`, a self-contained `.gltf` or a tar bundle.
pub fn check_scene(path: &Path) -> CliResult<SceneFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| input(format!("cannot read the scene {}: {e}", path.display())))?;
    let scene = tessera_render::Scene::from_bundle(&bytes).map_err(|e| {
        let hint = if path.extension().is_some_and(|x| x == "gltf") {
            " (a .gltf with separate files: export as .glb, or pack the folder as a tar bundle)"
        } else {
            ""
        };
        input(format!("scene {} does not load: {e}{hint}", path.display()))
    })?;
    Ok(SceneFile {
        path: path.to_path_buf(),
        size_bytes: bytes.len(),
        hash: blake3::hash(&bytes).to_hex().to_string(),
        triangles: scene.triangle_count(),
        lights: scene.light_count(),
        textures: scene.texture_count(),
        warnings: scene.warnings().to_vec(),
        bytes,
    })
}
