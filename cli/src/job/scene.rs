//! The scene check artists get before any token moves: the same loader the nodes use.
use std::path::{Path, PathBuf};

use serde::Serialize;

use tessera_render::{FrameRate, LoadOptions};

use super::spec::{FrameRange, Rate};
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
pub fn check_scene(path: &Path, frames: FrameRange, rate: Rate) -> CliResult<SceneFile> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| input(format!("cannot read the scene {}: {e}", path.display())))?;
    if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("gltf"))
    {
        bytes = pack_gltf(path, bytes)?;
    }
    let load = |frame: u32| {
        let rate = FrameRate {
            num: rate.num,
            den: rate.den,
        };
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
    for uri in uris {
        let rel = percent_decode(&uri);
        if rel.contains("..") || rel.starts_with('/') || rel.contains("://") || rel.contains('\\') {
            return Err(input(format!(
                "scene {} references {uri:?} outside its folder",
                path.display()
            )));
        }
        let file = dir.join(&rel);
        let data = std::fs::read(&file).map_err(|e| {
            input(format!(
                "scene {} needs {}: {e}",
                path.display(),
                file.display()
            ))
        })?;
        files.push((rel, data));
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

/// `%20` → space, as glTF URIs are written; anything malformed stays as it is.
fn percent_decode(uri: &str) -> String {
    let b = uri.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        let rate = Rate { num: 24, den: 1 };
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
    }
}
