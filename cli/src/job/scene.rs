//! The scene check artists get before any token moves: the same loader the nodes use.
use std::path::{Path, PathBuf};

use serde::Serialize;

use tessera_render::scene::{read_in_dir, safe_relative_path};
use tessera_render::{FrameRate, LoadOptions, SceneError, SceneLimits};

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
pub fn check_scene(path: &Path, frames: FrameRange, rate: FrameRate) -> CliResult<SceneFile> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| input(format!("cannot read the scene {}: {e}", path.display())))?;
    if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("gltf"))
    {
        bytes = pack_gltf(path, bytes)?;
    }
    let load = |frame: u32| {
        let opts = LoadOptions::at_frame(frame, rate);
        tessera_render::Scene::from_bundle_with(&bytes, &opts).map_err(|e| {
            input(format!(
                "scene {} does not load at frame {frame}: {e}",
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

/// A `.gltf` that references files beside it becomes a tar bundle of the `.gltf` and exactly
/// the files it names (sorted, fixed metadata, so the same files always hash the same).
/// A self-contained `.gltf` is returned as it is.
fn pack_gltf(path: &Path, json: Vec<u8>) -> CliResult<Vec<u8>> {
    let doc: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| input(format!("scene {} is not glTF JSON: {e}", path.display())))?;
    let mut uris: Vec<String> = ["buffers", "images"]
        .iter()
        .flat_map(|k| doc[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["uri"].as_str().map(str::to_string))
        .filter(|u| !u.starts_with("data:"))
        .collect();
    if uris.is_empty() {
        return Ok(json);
    }
    uris.sort();
    uris.dedup();
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut files = vec![(name, json)];
    let limit = SceneLimits::default().max_file_bytes;
    for uri in uris {
        // The renderer's own rules for files beside a .gltf: no `..`, no absolute paths, no
        // symbolic link out of the folder, bounded size.
        let refused = |e: SceneError| match e {
            SceneError::Bundle(_) => input(format!(
                "scene {} references {uri:?} outside its folder ({e})",
                path.display()
            )),
            e => input(format!("scene {} needs {uri:?}: {e}", path.display())),
        };
        let rel = safe_relative_path(&uri).map_err(refused)?;
        let data = read_in_dir(dir, &uri, limit).map_err(refused)?;
        files.push((rel.to_string_lossy().into_owned(), data));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in &files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_slice())?;
    }
    Ok(tar.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gltf_with_files_beside_it_is_packed_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        // One triangle in a separate .bin, an emissive material so it is lit.
        let positions: Vec<u8> = [0f32, 0., 0., 1., 0., 0., 0., 1., 0.]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        std::fs::write(dir.path().join("tri angle.bin"), &positions).unwrap();
        let gltf = serde_json::json!({
            "asset": {"version": "2.0"},
            "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            "buffers": [{"uri": "tri%20angle.bin", "byteLength": 36}],
            "bufferViews": [{"buffer": 0, "byteLength": 36}],
            "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                           "min": [0, 0, 0], "max": [1, 1, 0]}]
        });
        let path = dir.path().join("scene.gltf");
        std::fs::write(&path, serde_json::to_vec(&gltf).unwrap()).unwrap();
        let frames = FrameRange { start: 1, end: 1 };
        let rate = FrameRate::DEFAULT;
        let a = check_scene(&path, frames, rate).unwrap();
        assert_eq!(a.triangles, 1);
        assert!(a.bytes.len() > 512 && &a.bytes[257..262] == b"ustar");
        assert_eq!(
            check_scene(&path, frames, rate).unwrap().hash,
            a.hash,
            "packing is deterministic"
        );

        let escape = serde_json::json!({"asset": {"version": "2.0"},
            "buffers": [{"uri": "../secret.bin", "byteLength": 1}]});
        std::fs::write(&path, serde_json::to_vec(&escape).unwrap()).unwrap();
        let e = check_scene(&path, frames, rate).unwrap_err().to_string();
        assert!(e.contains("outside its folder"), "{e}");

        // A symbolic link beside the .gltf that leads out of its folder is refused too.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.bin"), &positions).unwrap();
        std::fs::remove_file(dir.path().join("tri angle.bin")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.bin"),
            dir.path().join("tri angle.bin"),
        )
        .unwrap();
        std::fs::write(&path, serde_json::to_vec(&gltf).unwrap()).unwrap();
        let e = check_scene(&path, frames, rate).unwrap_err().to_string();
        assert!(e.contains("outside its folder"), "{e}");
    }
}
