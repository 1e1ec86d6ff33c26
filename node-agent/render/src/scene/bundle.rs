//! Bundle plumbing: tar archives, bounded file reads and safe relative URIs.

use super::SceneLimits;
use crate::error::SceneError;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Reads a whole file, refusing files larger than `limit` before allocating.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, SceneError> {
    let io = |source| SceneError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > limit {
        return Err(SceneError::Limit(format!(
            "{} is {len} bytes (max {limit})",
            path.display()
        )));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(SceneError::Limit(format!(
            "{} grew past {limit} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

/// Percent-decodes a relative URI and refuses absolute paths, `..` and schemes.
pub fn safe_relative_path(uri: &str) -> Result<PathBuf, SceneError> {
    let bad = |why: &str| SceneError::Bundle(format!("refusing URI {uri:?}: {why}"));
    if uri.contains("://") || uri.starts_with('/') || uri.starts_with('\\') {
        return Err(bad("only relative paths inside the bundle are allowed"));
    }
    let decoded = percent_decode(uri).ok_or_else(|| bad("bad percent-encoding"))?;
    let p = PathBuf::from(&decoded);
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => return Err(bad("path leaves the bundle directory")),
        }
    }
    if decoded.contains(':') {
        return Err(bad("drive letters and schemes are not allowed"));
    }
    Ok(p)
}

/// Reads the file a relative `uri` names inside the folder `dir`, refusing (like a `../` URI) a
/// path that leaves the folder through a symbolic link: the file's canonical path must lie under
/// the folder's canonical path. The canonical path is the one opened.
pub fn read_in_dir(dir: &Path, uri: &str, limit: u64) -> Result<Vec<u8>, SceneError> {
    let rel = safe_relative_path(uri)?;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let canonical = |p: &Path| {
        p.canonicalize().map_err(|source| SceneError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    let root = canonical(dir)?;
    let file = canonical(&dir.join(&rel))?;
    if !file.starts_with(&root) {
        return Err(SceneError::Bundle(format!(
            "refusing URI {uri:?}: path leaves the bundle directory (a symbolic link points outside it)"
        )));
    }
    read_limited(&file, limit)
}

/// The length a binary glTF's header declares, when `bytes` starts with the GLB magic `glTF`;
/// an error when the header is cut short, declares less than a header and a chunk header, or
/// more than there is.
pub fn glb_declared_length(bytes: &[u8]) -> Result<Option<usize>, SceneError> {
    if !bytes.starts_with(b"glTF") {
        return Ok(None);
    }
    let bad = |why: String| SceneError::Gltf(format!("bad .glb: {why}"));
    let Some(len) = bytes.get(8..12) else {
        return Err(bad(format!(
            "{} bytes, shorter than its header",
            bytes.len()
        )));
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len < 20 {
        return Err(bad(format!(
            "declared length {len} is shorter than its headers"
        )));
    }
    if len > bytes.len() {
        return Err(bad(format!(
            "declared length {len} but only {} bytes (truncated)",
            bytes.len()
        )));
    }
    Ok(Some(len))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes a `data:...;base64,` URI.
pub fn decode_data_uri(uri: &str, limit: u64) -> Result<Vec<u8>, SceneError> {
    use base64::Engine;
    let (head, data) = uri
        .split_once(',')
        .ok_or_else(|| SceneError::Bundle("malformed data URI".into()))?;
    if !head.ends_with(";base64") {
        return Err(SceneError::unsupported(
            "data URI",
            "not base64 (embed files as base64 or ship them in a tar bundle)",
        ));
    }
    if (data.len() as u64 / 4) * 3 > limit {
        return Err(SceneError::Limit(format!(
            "data URI larger than {limit} bytes"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data.trim_end())
        .map_err(|e| SceneError::Bundle(format!("bad base64 in data URI: {e}")))
}

pub fn looks_like_tar(bytes: &[u8]) -> bool {
    bytes.len() >= 512 && &bytes[257..262] == b"ustar"
}

/// Most links followed to resolve one URI in a tar bundle (more is a loop).
const MAX_LINK_HOPS: usize = 16;

/// The regular files of a tar bundle, keyed by normalised relative path, and its links.
pub struct Archive {
    files: HashMap<PathBuf, Vec<u8>>,
    /// Symbolic and hard links: the archive path each points to, `None` when it points
    /// outside the archive (absolute, or `..` above its root).
    links: HashMap<PathBuf, Option<PathBuf>>,
}

/// Where a link entry at `link` pointing to `target` leads inside the archive: symbolic
/// links are relative to their folder, hard links to the archive's root.
fn link_target(link: &Path, target: &Path, symbolic: bool) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    if symbolic {
        if let Some(parent) = link.parent() {
            out.extend(parent.components().map(|c| c.as_os_str()));
        }
    }
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

impl Archive {
    pub fn read(bytes: &[u8], limits: &SceneLimits) -> Result<Archive, SceneError> {
        let err = |e: std::io::Error| SceneError::Bundle(format!("bad tar archive: {e}"));
        let mut ar = tar::Archive::new(bytes);
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let mut total = 0u64;
        for entry in ar.entries().map_err(err)? {
            let mut entry = entry.map_err(err)?;
            if files.len() + links.len() >= limits.max_archive_entries {
                return Err(SceneError::Limit(format!(
                    "tar holds more than {} files",
                    limits.max_archive_entries
                )));
            }
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let path = entry.path().map_err(err)?.into_owned();
                let rel = normalise(&safe_relative_path(&path.to_string_lossy())?);
                let target = entry
                    .link_name()
                    .map_err(err)?
                    .and_then(|t| link_target(&rel, &t, kind.is_symlink()));
                links.insert(rel, target);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let path = entry.path().map_err(err)?.into_owned();
            let rel = safe_relative_path(&path.to_string_lossy())?;
            let size = entry.size();
            total = total.saturating_add(size);
            if total > limits.max_file_bytes || size > bytes.len() as u64 {
                return Err(SceneError::Limit(format!(
                    "tar content exceeds {} bytes",
                    limits.max_file_bytes
                )));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(err)?;
            files.insert(normalise(&rel), data);
        }
        Ok(Archive { files, links })
    }

    /// The single `.gltf` or `.glb` file and its directory inside the archive.
    pub fn main_file(&self) -> Result<(&[u8], PathBuf), SceneError> {
        let mains: Vec<&PathBuf> = self
            .files
            .keys()
            .filter(|p| {
                p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("gltf") || e.eq_ignore_ascii_case("glb")
                })
            })
            .collect();
        match mains.as_slice() {
            [one] => Ok((
                &self.files[*one],
                one.parent().unwrap_or(Path::new("")).to_path_buf(),
            )),
            [] => Err(SceneError::Bundle("tar holds no .gltf or .glb file".into())),
            _ => Err(SceneError::Bundle(format!(
                "tar holds {} .gltf/.glb files; exactly one is required",
                mains.len()
            ))),
        }
    }

    /// The file `uri` names relative to the folder `dir` of the main file. Links in the archive
    /// are followed; like a `../` URI, one that leads outside `dir` (or the archive) is refused.
    pub fn resolve(&self, dir: &Path, uri: &str) -> Result<Vec<u8>, SceneError> {
        let rel = safe_relative_path(uri)?;
        let escape = || {
            SceneError::Bundle(format!(
                "refusing URI {uri:?}: path leaves the bundle directory (a link in the tar points outside it)"
            ))
        };
        let mut key = normalise(&dir.join(rel));
        for _ in 0..=MAX_LINK_HOPS {
            if let Some(data) = self.files.get(&key) {
                if !key.starts_with(dir) {
                    return Err(escape());
                }
                return Ok(data.clone());
            }
            // The first leading part of the path that is a link (a linked file or folder).
            let parts: Vec<Component> = key.components().collect();
            let link = (1..=parts.len()).find_map(|i| {
                let head: PathBuf = parts[..i].iter().collect();
                self.links.get(&head).map(|t| (i, t))
            });
            match link {
                None => {
                    return Err(SceneError::Bundle(format!(
                        "file {uri:?} is missing from the bundle"
                    )))
                }
                Some((_, None)) => return Err(escape()),
                Some((i, Some(target))) => {
                    key = normalise(&target.join(parts[i..].iter().collect::<PathBuf>()));
                }
            }
        }
        Err(SceneError::Bundle(format!(
            "refusing URI {uri:?}: more than {MAX_LINK_HOPS} links to follow in the tar (a loop?)"
        )))
    }
}

fn normalise(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// A binary glTF (`.glb`, glTF 2.0 section 4.4) of `json` and one BIN chunk: both chunks padded
/// to 4 bytes (JSON with spaces, BIN with zeros), as the loader and every viewer expect. Used
/// by the generated benchmark scenes and by tests that build scenes in code.
pub fn encode_glb(json: &serde_json::Value, bin: &[u8]) -> Vec<u8> {
    let mut js = serde_json::to_vec(json).expect("a JSON value always serialises");
    while !js.len().is_multiple_of(4) {
        js.push(b' ');
    }
    let mut b = bin.to_vec();
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
    let total = 12 + 8 + js.len() + 8 + b.len();
    let mut out = Vec::with_capacity(total);
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend((total as u32).to_le_bytes());
    out.extend((js.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(js);
    out.extend((b.len() as u32).to_le_bytes());
    out.extend(b"BIN\0");
    out.extend(b);
    out
}
