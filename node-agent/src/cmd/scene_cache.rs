//! Scenes posed at the frames a node is rendering, so many tiles of one frame pose it once.
//!
//! A posed scene is kept under (scene hash, frame); a scene that no animation moves is kept
//! under (scene hash, every frame) and loaded once for all its frames. Only the last few
//! bundles and posed scenes are kept.
use std::collections::VecDeque;

use tessera_render::{FrameRate, LoadOptions, Scene};

/// Bundles (downloaded bytes) kept for posing further frames.
const BUNDLES: usize = 2;
/// Posed scenes kept: a node usually works through one or two frames at a time.
const POSED: usize = 4;

/// Which pose of which scene: `frame` (at the job's rate) is `None` for a static scene (the
/// same for every frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoseKey {
    pub hash: String,
    pub frame: Option<(u32, FrameRate)>,
}

impl PoseKey {
    /// The renderer's upload key: the scene hash for a static scene, else a hash of
    /// (scene hash, frame), so every frame of an animated scene is uploaded anew.
    pub fn renderer_key(&self) -> [u8; 32] {
        let scene = super::run::scene_key(&self.hash);
        match self.frame {
            None => scene,
            Some((f, rate)) => {
                let mut h = blake3::Hasher::new();
                h.update(b"tessera-pose-v1");
                h.update(&scene);
                h.update(&f.to_le_bytes());
                if rate != FrameRate::DEFAULT {
                    h.update(&rate.num.to_le_bytes());
                    h.update(&rate.den.to_le_bytes());
                }
                *h.finalize().as_bytes()
            }
        }
    }
}

#[derive(Default)]
pub struct SceneCache {
    bundles: VecDeque<(String, Vec<u8>)>,
    posed: VecDeque<(PoseKey, Scene)>,
    /// Scenes loaded (posed) so far, for tests and logs.
    pub loads: usize,
}

impl SceneCache {
    /// The scene `hash` posed at `frame` of a job at `rate`, and its renderer key.
    /// `fetch` is called for the bundle's bytes only when they are not cached.
    pub fn get(
        &mut self,
        hash: &str,
        frame: u32,
        rate: FrameRate,
        fetch: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<(&Scene, [u8; 32])> {
        let found = self
            .posed
            .iter()
            .position(|(k, _)| k.hash == hash && k.frame.is_none_or(|f| f == (frame, rate)));
        let i = match found {
            Some(i) => i,
            None => {
                let b = match self.bundles.iter().position(|(h, _)| h == hash) {
                    Some(b) => b,
                    None => {
                        let bytes = fetch()?;
                        if self.bundles.len() >= BUNDLES {
                            self.bundles.pop_front();
                        }
                        self.bundles.push_back((hash.to_owned(), bytes));
                        self.bundles.len() - 1
                    }
                };
                let opts = LoadOptions::at_frame(frame, rate);
                let scene = Scene::from_bundle_with(&self.bundles[b].1, &opts)?;
                self.loads += 1;
                let key = PoseKey {
                    hash: hash.to_owned(),
                    frame: scene.is_animated().then_some((frame, rate)),
                };
                if self.posed.len() >= POSED {
                    self.posed.pop_front();
                }
                self.posed.push_back((key, scene));
                self.posed.len() - 1
            }
        };
        let (key, scene) = &self.posed[i];
        Ok((scene, key.renderer_key()))
    }

    #[cfg(test)]
    fn posed_len(&self) -> usize {
        self.posed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    /// A triangle whose node moves from x = 0 (frame 1) to x = 10 (frame 25), and a camera.
    fn animated_gltf() -> Vec<u8> {
        let mut bin: Vec<u8> = Vec::new();
        let floats = |v: &[f32], bin: &mut Vec<u8>| {
            let off = bin.len();
            bin.extend(v.iter().flat_map(|f| f.to_le_bytes()));
            (off, v.len() * 4)
        };
        let pos = floats(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0], &mut bin);
        let times = floats(&[0.0, 1.0], &mut bin);
        let xs = floats(&[0.0, 0.0, 0.0, 10.0, 0.0, 0.0], &mut bin);
        let uri = format!(
            "data:application/octet-stream;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&bin)
        );
        let view = |(o, l): (usize, usize)| json!({"buffer": 0, "byteOffset": o, "byteLength": l});
        let doc = json!({
            "asset": {"version": "2.0"},
            "scene": 0,
            "scenes": [{"nodes": [0, 1]}],
            "nodes": [{"mesh": 0}, {"camera": 0, "translation": [0.0, 0.0, 5.0]}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            "cameras": [{"type": "perspective", "perspective": {"yfov": 0.8, "znear": 0.01}}],
            "buffers": [{"byteLength": bin.len(), "uri": uri}],
            "bufferViews": [view(pos), view(times), view(xs)],
            "accessors": [
                {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                 "min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 0.0]},
                {"bufferView": 1, "componentType": 5126, "count": 2, "type": "SCALAR",
                 "min": [0.0], "max": [1.0]},
                {"bufferView": 2, "componentType": 5126, "count": 2, "type": "VEC3"}
            ],
            "animations": [{
                "channels": [{"sampler": 0, "target": {"node": 0, "path": "translation"}}],
                "samplers": [{"input": 1, "output": 2, "interpolation": "LINEAR"}]
            }]
        });
        serde_json::to_vec(&doc).unwrap()
    }

    #[test]
    fn a_static_scene_is_loaded_once_for_every_frame() {
        let mut cache = SceneCache::default();
        let mut fetches = 0;
        let mut keys = Vec::new();
        for frame in [1, 2, 3, 2, 40] {
            let (scene, key) = cache
                .get("ab", frame, FrameRate::DEFAULT, || {
                    fetches += 1;
                    Ok(tessera_render::STANDARD_SCENE_GLB.to_vec())
                })
                .unwrap();
            assert!(!scene.is_animated());
            keys.push(key);
        }
        assert_eq!((fetches, cache.loads, cache.posed_len()), (1, 1, 1));
        assert!(keys.iter().all(|k| *k == keys[0]));
        assert_eq!(keys[0], super::super::run::scene_key("ab"));
    }

    #[test]
    fn an_animated_scene_is_posed_once_per_frame_and_keyed_per_frame() {
        let gltf = animated_gltf();
        let mut cache = SceneCache::default();
        let fetches = std::cell::Cell::new(0);
        let get = |cache: &mut SceneCache, frame: u32| {
            let (scene, key) = cache
                .get("cd", frame, FrameRate::DEFAULT, || {
                    fetches.set(fetches.get() + 1);
                    Ok(gltf.clone())
                })
                .unwrap();
            (scene.bounds().0[0], key)
        };
        let (x1, k1) = get(&mut cache, 1);
        let (x13, k13) = get(&mut cache, 13);
        assert_eq!(x1, 0.0);
        assert!((x13 - 5.0).abs() < 1e-5, "x = {x13}");
        assert_ne!(k1, k13, "each frame is a new upload");
        // Many tiles of frame 13: no new load.
        for _ in 0..5 {
            assert_eq!(get(&mut cache, 13).1, k13);
        }
        assert_eq!(cache.loads, 2);
        // Many frames: the cache stays small, and the bundle is fetched only once.
        for frame in 14..30 {
            get(&mut cache, frame);
        }
        assert_eq!(cache.posed_len(), POSED);
        assert_eq!(cache.loads, 2 + 16);
        // Frame 1 was dropped long ago: posed again, to the same key.
        assert_eq!(get(&mut cache, 1), (0.0, k1));
        assert_eq!(fetches.get(), 1);
    }
}
