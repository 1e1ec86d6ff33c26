//! Builds small glTF fixtures in memory (so tests need no binary files) and helpers for GPU tests.
#![allow(dead_code)]

use serde_json::{json, Value};
use tessera_render::{DeviceOptions, Renderer};

#[derive(Default)]
pub struct Builder {
    pub bin: Vec<u8>,
    pub accessors: Vec<Value>,
    pub views: Vec<Value>,
    pub meshes: Vec<Value>,
    pub nodes: Vec<Value>,
    pub materials: Vec<Value>,
    pub cameras: Vec<Value>,
    pub lights: Vec<Value>,
    pub images: Vec<Value>,
    pub textures: Vec<Value>,
    pub extensions: Vec<&'static str>,
    pub scene_extras: Option<Value>,
    /// Channels of one animation, written as `animations[0]` when not empty.
    pub channels: Vec<Value>,
    pub samplers: Vec<Value>,
    pub skins: Vec<Value>,
}

impl Builder {
    fn view(&mut self, bytes: &[u8]) -> usize {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        self.views
            .push(json!({"buffer": 0, "byteOffset": self.bin.len(), "byteLength": bytes.len()}));
        self.bin.extend_from_slice(bytes);
        self.views.len() - 1
    }

    pub fn floats(&mut self, data: &[f32], ty: &str, n: usize) -> usize {
        let bytes: Vec<u8> = data.iter().flat_map(|f| f.to_le_bytes()).collect();
        let view = self.view(&bytes);
        let mut acc =
            json!({"bufferView": view, "componentType": 5126, "count": data.len() / n, "type": ty});
        if ty == "SCALAR" {
            let lo = data.iter().copied().fold(f32::MAX, f32::min);
            let hi = data.iter().copied().fold(f32::MIN, f32::max);
            acc["min"] = json!([lo]);
            acc["max"] = json!([hi]);
        }
        if ty == "VEC3" {
            let mut lo = [f32::MAX; 3];
            let mut hi = [f32::MIN; 3];
            for p in data.chunks(3) {
                for k in 0..3 {
                    lo[k] = lo[k].min(p[k]);
                    hi[k] = hi[k].max(p[k]);
                }
            }
            acc["min"] = json!(lo);
            acc["max"] = json!(hi);
        }
        self.accessors.push(acc);
        self.accessors.len() - 1
    }

    /// Unsigned shorts (component type 5123), `n` per element, e.g. JOINTS_n as "VEC4".
    pub fn ushorts(&mut self, data: &[u16], ty: &str, n: usize) -> usize {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = self.view(&bytes);
        self.accessors.push(
            json!({"bufferView": view, "componentType": 5123, "count": data.len() / n, "type": ty}),
        );
        self.accessors.len() - 1
    }

    pub fn indices(&mut self, idx: &[u32]) -> usize {
        let bytes: Vec<u8> = idx.iter().flat_map(|i| i.to_le_bytes()).collect();
        let view = self.view(&bytes);
        self.accessors
            .push(json!({"bufferView": view, "componentType": 5125, "count": idx.len(), "type": "SCALAR"}));
        self.accessors.len() - 1
    }

    pub fn material(&mut self, m: Value) -> usize {
        self.materials.push(m);
        self.materials.len() - 1
    }

    /// A quad (two triangles, corners counter-clockwise seen from the front) with UVs, as a node.
    /// A square of side 2·`half` in the plane y = 0, centred on the origin, facing up (+y).
    pub fn floor(&mut self, half: f32, material: usize) -> usize {
        let h = half;
        self.quad(
            [[-h, 0.0, h], [h, 0.0, h], [h, 0.0, -h], [-h, 0.0, -h]],
            material,
        )
    }

    pub fn quad(&mut self, c: [[f32; 3]; 4], material: usize) -> usize {
        let pos: Vec<f32> = c.iter().flatten().copied().collect();
        let e1 = [c[1][0] - c[0][0], c[1][1] - c[0][1], c[1][2] - c[0][2]];
        let e2 = [c[3][0] - c[0][0], c[3][1] - c[0][1], c[3][2] - c[0][2]];
        let n = [
            e1[1] * e2[2] - e1[2] * e2[1],
            e1[2] * e2[0] - e1[0] * e2[2],
            e1[0] * e2[1] - e1[1] * e2[0],
        ];
        let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        let nrm: Vec<f32> = (0..4)
            .flat_map(|_| [n[0] / l, n[1] / l, n[2] / l])
            .collect();
        let uv = [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let p = self.floats(&pos, "VEC3", 3);
        let nn = self.floats(&nrm, "VEC3", 3);
        let t = self.floats(&uv, "VEC2", 2);
        let i = self.indices(&[0, 1, 2, 0, 2, 3]);
        self.meshes.push(json!({"primitives": [{"attributes": {"POSITION": p, "NORMAL": nn, "TEXCOORD_0": t}, "indices": i, "material": material}]}));
        self.nodes.push(json!({"mesh": self.meshes.len() - 1}));
        self.nodes.len() - 1
    }

    /// An axis-aligned cube of side 2·`half` centred on the origin (12 triangles, outward faces).
    pub fn cube(&mut self, half: f32, material: usize) -> usize {
        let h = half;
        let mut pos = Vec::new();
        let mut idx = Vec::new();
        // Each face: outward axis `a` with sign `s`; corners counter-clockwise seen from outside.
        for (a, s) in [
            (0, 1.0),
            (0, -1.0),
            (1, 1.0),
            (1, -1.0),
            (2, 1.0),
            (2, -1.0),
        ] {
            let (u, v) = ((a + 1) % 3, (a + 2) % 3);
            let base = (pos.len() / 3) as u32;
            for (cu, cv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let mut p = [0.0f32; 3];
                p[a] = s * h;
                p[u] = cu * h;
                p[v] = cv * h * s;
                pos.extend(p);
            }
            idx.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
        }
        let p = self.floats(&pos, "VEC3", 3);
        let i = self.indices(&idx);
        self.meshes.push(json!({"primitives": [{"attributes": {"POSITION": p}, "indices": i, "material": material}]}));
        self.nodes.push(json!({"mesh": self.meshes.len() - 1}));
        self.nodes.len() - 1
    }

    /// Adds a channel driving `path` ("translation", "rotation", "scale", "weights") of `node`.
    /// `values` holds the outputs' floats: 3 or 4 per key, or one per morph target per key for
    /// weights; three times as many for CUBICSPLINE (in-tangent, value, out-tangent).
    pub fn animate(
        &mut self,
        node: usize,
        path: &str,
        interpolation: &str,
        times: &[f32],
        values: &[f32],
    ) {
        let input = self.floats(times, "SCALAR", 1);
        let (ty, n) = match path {
            "rotation" => ("VEC4", 4),
            "weights" => ("SCALAR", 1),
            _ => ("VEC3", 3),
        };
        let output = self.floats(values, ty, n);
        self.samplers
            .push(json!({"input": input, "output": output, "interpolation": interpolation}));
        self.channels.push(
            json!({"sampler": self.samplers.len() - 1, "target": {"node": node, "path": path}}),
        );
    }

    /// Adds a morph target to the first primitive of `node`'s mesh: per-vertex POSITION and
    /// (optionally) NORMAL deltas.
    pub fn morph_target(&mut self, node: usize, positions: &[f32], normals: Option<&[f32]>) {
        let mesh = self.nodes[node]["mesh"].as_u64().unwrap() as usize;
        let p = self.floats(positions, "VEC3", 3);
        let mut target = json!({ "POSITION": p });
        if let Some(n) = normals {
            target["NORMAL"] = json!(self.floats(n, "VEC3", 3));
        }
        let prim = &mut self.meshes[mesh]["primitives"][0];
        if prim.get("targets").is_none() {
            prim["targets"] = json!([]);
        }
        prim["targets"].as_array_mut().unwrap().push(target);
    }

    pub fn node(&mut self, n: Value) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    /// Perspective camera at `pos` looking down −Z.
    pub fn perspective(&mut self, pos: [f32; 3], yfov: f32) {
        self.cameras
            .push(json!({"type": "perspective", "perspective": {"yfov": yfov, "znear": 0.01}}));
        self.node(json!({"camera": self.cameras.len() - 1, "translation": pos}));
    }

    /// Orthographic camera at `pos` looking straight down (−Y).
    pub fn ortho_down(&mut self, pos: [f32; 3], mag: f32) {
        self.cameras.push(json!({"type": "orthographic", "orthographic": {"xmag": mag, "ymag": mag, "znear": 0.001, "zfar": 100.0}}));
        let s = std::f32::consts::FRAC_1_SQRT_2;
        self.node(json!({"camera": self.cameras.len() - 1, "translation": pos, "rotation": [-s, 0.0, 0.0, s]}));
    }

    pub fn point_light(&mut self, pos: [f32; 3], intensity: f32) {
        if !self.extensions.contains(&"KHR_lights_punctual") {
            self.extensions.push("KHR_lights_punctual");
        }
        self.lights
            .push(json!({"type": "point", "intensity": intensity, "color": [1.0, 1.0, 1.0]}));
        self.node(json!({"translation": pos, "extensions": {"KHR_lights_punctual": {"light": self.lights.len() - 1}}}));
    }

    pub fn json(&self, buffer_uri: Option<&str>) -> Value {
        let mut buffer = json!({"byteLength": self.bin.len()});
        if let Some(u) = buffer_uri {
            buffer["uri"] = json!(u);
        }
        // Root nodes: those that are nobody's child.
        let children: Vec<u64> = self
            .nodes
            .iter()
            .filter_map(|n| n.get("children").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        let roots: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !children.contains(&(*i as u64)))
            .collect();
        let mut scene = json!({ "nodes": roots });
        if let Some(e) = &self.scene_extras {
            scene["extras"] = e.clone();
        }
        let mut j = json!({
            "asset": {"version": "2.0"},
            "scene": 0,
            "scenes": [scene],
            "nodes": self.nodes, "meshes": self.meshes, "materials": self.materials,
            "accessors": self.accessors, "bufferViews": self.views, "buffers": [buffer],
        });
        if !self.cameras.is_empty() {
            j["cameras"] = json!(self.cameras);
        }
        if !self.images.is_empty() {
            j["images"] = json!(self.images);
            j["textures"] = json!(self.textures);
        }
        if !self.channels.is_empty() {
            j["animations"] = json!([{"channels": self.channels, "samplers": self.samplers}]);
        }
        if !self.skins.is_empty() {
            j["skins"] = json!(self.skins);
        }
        if !self.lights.is_empty() {
            j["extensions"] = json!({"KHR_lights_punctual": {"lights": self.lights}});
        }
        let mut used = self.extensions.clone();
        if !used.contains(&"KHR_materials_specular") {
            used.push("KHR_materials_specular");
        }
        j["extensionsUsed"] = json!(used);
        j
    }

    pub fn glb(&self) -> Vec<u8> {
        glb_from(&self.json(None), &self.bin)
    }
}

pub fn glb_from(json: &Value, bin: &[u8]) -> Vec<u8> {
    tessera_render::encode_glb(json, bin)
}

pub fn diffuse(rgb: [f32; 3]) -> Value {
    json!({"pbrMetallicRoughness": {"baseColorFactor": [rgb[0], rgb[1], rgb[2], 1.0], "metallicFactor": 0.0, "roughnessFactor": 1.0},
           "extensions": {"KHR_materials_specular": {"specularColorFactor": [0.0, 0.0, 0.0]}}})
}

/// A renderer on lavapipe (or the preferred device) — GPU tests need a Vulkan driver.
pub fn renderer() -> Renderer {
    Renderer::new(&DeviceOptions {
        prefer: std::env::var("TESSERA_TEST_DEVICE").ok(),
        validation: false,
    })
    .expect("GPU tests need a Vulkan device: apt-get install mesa-vulkan-drivers")
}

pub fn mean_linear(
    img: &tessera_render::TileImage,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
) -> [f64; 3] {
    let lin = img.linear.as_ref().expect("linear output requested");
    let mut s = [0.0f64; 3];
    let mut n = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = ((y * img.width + x) * 4) as usize;
            for k in 0..3 {
                s[k] += lin[i + k] as f64;
            }
            n += 1.0;
        }
    }
    [s[0] / n, s[1] / n, s[2] / n]
}
