//! CPU-side scene: glTF 2.0 → flat arrays + BVH, in the exact layouts the shader reads.
//! Nothing here touches Vulkan, so bundles can be validated on machines without a GPU.

pub(crate) mod animation;
mod bundle;
pub(crate) mod bvh;
mod gltf_load;
#[cfg(test)]
mod lanes;
mod math;
mod survey;

use crate::error::SceneError;
use bytemuck::{Pod, Zeroable};
use std::path::Path;

pub use animation::FrameRate;
pub use bundle::{encode_glb, read_in_dir, safe_relative_path};
pub use gltf_load::{AUTO_CAMERA, AUTO_CAMERA_YFOV_DEGREES, NEUTRAL_ENVIRONMENT_STRENGTH};
pub use survey::{extension_status, ExtensionStatus, IGNORED_EXTENSIONS, SUPPORTED_EXTENSIONS};

/// Limits that keep hostile bundles from exhausting memory or time.
#[derive(Clone, Debug)]
pub struct SceneLimits {
    /// Largest bundle / glTF / buffer file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Largest total of all buffers, in bytes.
    pub max_buffer_bytes: u64,
    pub max_triangles: usize,
    /// Largest width or height of any texture or environment image.
    pub max_texture_dimension: u32,
    /// Largest total of decoded texture memory, in bytes.
    pub max_texture_bytes: u64,
    pub max_nodes: usize,
    pub max_lights: usize,
    /// Largest number of files in a tar bundle.
    pub max_archive_entries: usize,
    /// Largest GPU array, in bytes: the device's `maxStorageBufferRange`
    /// ([`crate::Renderer::scene_limits`]); unlimited by default (the upload checks it again).
    /// Checked while loading for the triangle shading records (64 bytes per triangle) and the
    /// texels of all textures (4 bytes each), before the BVH is built.
    pub max_array_bytes: u64,
}

impl Default for SceneLimits {
    fn default() -> Self {
        SceneLimits {
            max_file_bytes: 1 << 30,
            max_buffer_bytes: 1 << 30,
            max_triangles: 4_000_000,
            max_texture_dimension: 8192,
            max_texture_bytes: 512 << 20,
            max_nodes: 100_000,
            max_lights: 4096,
            max_archive_entries: 4096,
            max_array_bytes: u64::MAX,
        }
    }
}

/// Background seen by rays that leave the scene.
#[derive(Clone, Debug, Default)]
pub enum Environment {
    /// Black (the default).
    #[default]
    Black,
    /// Uniform linear radiance.
    Color([f32; 3]),
    /// Equirectangular image (linear RGB, row-major from the top), times `strength`.
    /// Orientation follows Blender's world mapping (+Y up in glTF; the image centre looks along −X).
    Image {
        width: u32,
        height: u32,
        rgb: Vec<[f32; 3]>,
        strength: f32,
    },
}

/// Options for loading; [`Default`] takes the first camera, t = 0 and the default limits.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The instant to pose the scene at, in seconds: node animation channels are sampled here
    /// (see [`FrameRate::time_of`] for a frame's time; [`LoadOptions::at_frame`]).
    pub time: f64,
    /// Camera node or camera name, or an index into the cameras found in scene order;
    /// [`AUTO_CAMERA`] (`"auto"`) for the automatic camera even when the file has cameras.
    /// `None`: the first camera, or the automatic one when the file has none.
    pub camera: Option<String>,
    /// Overrides the environment given in the bundle (scene `extras.tessera_environment`).
    pub environment: Option<Environment>,
    pub limits: SceneLimits,
}

impl LoadOptions {
    /// Defaults posed at `frame` of an animation at `rate` (frame 1 is t = 0).
    pub fn at_frame(frame: u32, rate: FrameRate) -> LoadOptions {
        LoadOptions {
            time: rate.time_of(frame),
            ..Default::default()
        }
    }
}

/// Camera in world space.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    pub position: [f32; 3],
    pub right: [f32; 3],
    pub up: [f32; 3],
    /// Viewing direction (the camera's −Z).
    pub forward: [f32; 3],
    /// Perspective: `tan(yfov / 2)` (the vertical field of view; the horizontal one follows
    /// the image's aspect). Orthographic: `max(xmag, ymag)`, half the extent of the image's
    /// longer side, as Blender's glTF importer sets `ortho_scale = 2·max(xmag, ymag)` with sensor
    /// fit Auto: the shorter side gets the same scale per pixel, so the image is never
    /// stretched whatever xmag/ymag are. See [`Camera::half_extents`].
    pub scale_y: f32,
    pub orthographic: bool,
}

impl Camera {
    /// Half the width and half the height of the view at a `width`×`height` image: tangents
    /// of the half angles (perspective) or world units (orthographic). Pixels are square.
    pub fn half_extents(&self, width: u32, height: u32) -> (f32, f32) {
        let aspect = width as f32 / height as f32;
        let s = self.scale_y;
        if self.orthographic {
            (s * aspect.min(1.0), s * (1.0 / aspect).min(1.0))
        } else {
            (s * aspect, s)
        }
    }

    /// The ray (origin, unit direction) through the point (`x`, `y`) of a `width`×`height`
    /// image, in pixels from its top-left corner (a pixel's centre is at +0.5), as the shader's
    /// `camera_ray` makes it.
    pub fn ray(&self, x: f32, y: f32, width: u32, height: u32) -> ([f32; 3], [f32; 3]) {
        let sx = 2.0 * x / width as f32 - 1.0;
        let sy = 1.0 - 2.0 * y / height as f32;
        let (hw, hh) = self.half_extents(width, height);
        let side = math::add(
            math::scale(self.right, sx * hw),
            math::scale(self.up, sy * hh),
        );
        if self.orthographic {
            (math::add(self.position, side), self.forward)
        } else {
            let d = math::add(self.forward, side);
            (self.position, math::normalize(d).unwrap_or(self.forward))
        }
    }
}

/// A camera found in the scene, in scene order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraInfo {
    /// Name of the node that holds it.
    pub node: Option<String>,
    /// Name of the glTF camera.
    pub name: Option<String>,
}

// ---- GPU layouts (must match shaders/pathtrace.wgsl) ----

/// Triangle geometry in BVH order: v0 (w = material index bits, [`ALPHA_BIT`] set when the
/// material is not opaque), edge1 (w = bits of 1 + its [`GpuAttrs`] record's index, 0 for none),
/// edge2.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GpuTri {
    pub v0: [f32; 4],
    pub e1: [f32; 4],
    pub e2: [f32; 4],
}

/// Shading data in BVH order: normals with uvs packed in w, plus uv2 and the light pick probability.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GpuShade {
    pub n0: [f32; 4],
    pub n1: [f32; 4],
    pub n2: [f32; 4],
    /// x = uv1.y, y = uv2.x, z = uv2.y, w = probability of picking this triangle for NEE.
    pub extra: [f32; 4],
}

/// Set in a triangle's material bits (`GpuTri::v0` w) when its material's alpha mode is MASK
/// or BLEND: rays test its alpha (the shader masks it off to find the material).
pub(crate) const ALPHA_BIT: u32 = 1 << 31;

/// Per-vertex attributes beyond position, normal and TEXCOORD_0, for the triangles that have
/// any (`GpuTri::e1` w): tangents (world space, w = bitangent sign), vertex colours (linear
/// RGBA, 1 without COLOR_0) and TEXCOORD_1 (0 without).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub(crate) struct GpuAttrs {
    pub tangent: [[f32; 4]; 3],
    pub color: [[f32; 4]; 3],
    /// uv1 of vertices 0 and 1, then of vertex 2 (zw unused).
    pub uv1: [[f32; 4]; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GpuMaterial {
    pub base: [f32; 4],
    /// rgb = emissive × strength, w = 1 when double-sided.
    pub emissive: [f32; 4],
    /// x metallic, y roughness, z F0 (dielectric, scalar), w F90.
    pub pbr: [f32; 4],
    /// Texture indices (−1 = none): base colour, metallic-roughness, emissive; w = the
    /// `KHR_materials_specular` texture (its alpha scales the specular factor).
    pub tex: [i32; 4],
    /// Dielectric specular colour tint (KHR_materials_specular); w = [`UNLIT`] for
    /// `KHR_materials_unlit` (else 0).
    pub spec_tint: [f32; 4],
    /// x = normal texture index (−1 = none), y = normal scale, z = alpha mode (0 opaque,
    /// 1 mask, 2 blend), w = alpha cutoff.
    pub ext: [f32; 4],
    /// KHR_materials_transmission / volume: x = transmission factor, y = transmission texture
    /// index (−1 none), z = ior, w = [`THIN_WALLED`] without a volume (thickness 0), else 0.
    pub trans: [f32; 4],
    /// KHR_materials_volume: xyz = absorption coefficient σ per unit length (Beer–Lambert,
    /// −ln(attenuationColor) / attenuationDistance; 0 for an infinite distance); w = the
    /// `KHR_materials_specular` colour texture index (−1 none).
    pub atten: [f32; 4],
    /// KHR_materials_clearcoat: x = factor, y = roughness, z = factor texture, w = roughness
    /// texture (−1 none).
    pub coat: [f32; 4],
    /// x = clearcoat normal texture (−1 none), y = its scale; z, w = sheen colour and sheen
    /// roughness textures (KHR_materials_sheen).
    pub layer_tex: [f32; 4],
    /// KHR_materials_sheen: rgb = sheen colour, w = sheen roughness.
    pub sheen: [f32; 4],
    /// Directional albedo E(μ) of the material's sheen lobe (Charlie distribution, Neubelt
    /// visibility, at its roughness factor) at μ = cos θ = k/7, k = 0…7, for glTF's albedo scaling.
    pub sheen_e: [[f32; 4]; 2],
}

/// `GpuMaterial::trans` w of a thin-walled transmissive material (no `KHR_materials_volume`
/// or thickness 0): light passes the surface without bending and without a medium.
pub(crate) const THIN_WALLED: f32 = 1.0;

impl GpuMaterial {
    /// Transmission, clearcoat or sheen: the extension materials of the shader's texture path.
    pub(crate) fn has_layers(&self) -> bool {
        self.trans[0] > 0.0 || self.coat[0] > 0.0 || self.sheen[..3].iter().any(|c| *c > 0.0)
    }
}

/// `GpuMaterial::spec_tint` w of an unlit material.
pub(crate) const UNLIT: f32 = 1.0;

pub(crate) const ALPHA_OPAQUE: f32 = 0.0;
pub(crate) const ALPHA_MASK: f32 = 1.0;
pub(crate) const ALPHA_BLEND: f32 = 2.0;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GpuTexture {
    /// Offset (in texels), width, height, wrap modes (s | t << 8; 0 repeat, 1 clamp, 2 mirror).
    pub info: [u32; 4],
    /// UV transform (KHR_texture_transform) rows: u' = dot(u_row.xyz, (u, v, 1)), likewise v';
    /// u_row.w = the UV set (0 or 1).
    pub u_row: [f32; 4],
    pub v_row: [f32; 4],
}

pub(crate) const LIGHT_TRIANGLE: u32 = 0;
pub(crate) const LIGHT_POINT: u32 = 1;
pub(crate) const LIGHT_SPOT: u32 = 2;
pub(crate) const LIGHT_DIRECTIONAL: u32 = 3;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GpuLight {
    /// Position (point/spot), or triangle index in BVH order as bits in x (triangle; yz = the
    /// UV of its vertex 2).
    pub pos: [f32; 4],
    /// Unit direction the light shines along (spot/directional); a triangle's v0 (`GpuTri`).
    pub dir: [f32; 4],
    /// Radiant intensity (point/spot, W/sr) or irradiance (directional, W/m²); a triangle's e1.
    pub color: [f32; 4],
    /// x = kind, y = cdf end (inclusive), z = pick probability; w unused.
    pub meta: [f32; 4],
    /// Spot cone: x = cos(outer), y = width in cosine of the blend ring inside it (Cycles'
    /// spread); a triangle's e2.
    pub cone: [f32; 4],
    /// A triangle's UVs at vertices 0 and 1 (its third vertex's in pos.yz), as in `GpuShade`.
    pub uv: [f32; 4],
}

/// Per-scene constants (one element).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GpuGlobals {
    pub cam_pos: [f32; 4],
    pub cam_right: [f32; 4],
    pub cam_up: [f32; 4],
    pub cam_fwd: [f32; 4],
    /// x = scale_y, y unused, z = 1 if orthographic.
    pub cam_params: [f32; 4],
    /// Environment colour (or image strength in w when an image is present).
    pub env_color: [f32; 4],
    /// x = has image, y = width, z = height.
    pub env_info: [u32; 4],
    /// x = lights, y = triangles, z = nodes.
    pub counts: [u32; 4],
    /// Quantisation grid of the packed BVH ([`bvh::PackedBvh`]): origin and step per axis.
    pub bvh_origin: [f32; 4],
    pub bvh_step: [f32; 4],
    /// The linear value of every 8-bit sRGB code in x ([`srgb_table`]): the shader decodes
    /// texels by a table lookup instead of a `pow` per channel.
    pub srgb: [[f32; 4]; 256],
}

/// `srgb[i][0]` is the linear value of sRGB code i (IEC 61966-2-1, computed in f64 and rounded
/// once); the other components are unused (a uniform array of f32 has a 16-byte stride).
pub(crate) fn srgb_table() -> [[f32; 4]; 256] {
    let mut t = [[0.0; 4]; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let c = i as f64 / 255.0;
        let linear = if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        };
        e[0] = linear as f32;
    }
    t
}

/// A scene ready for upload: flat arrays and a BVH, no Vulkan.
pub struct Scene {
    pub(crate) tris: Vec<GpuTri>,
    pub(crate) shade: Vec<GpuShade>,
    pub(crate) attrs: Vec<GpuAttrs>,
    pub(crate) nodes: Vec<bvh::BvhNode>,
    pub(crate) materials: Vec<GpuMaterial>,
    pub(crate) textures: Vec<GpuTexture>,
    pub(crate) texels: Vec<u32>,
    pub(crate) lights: Vec<GpuLight>,
    pub(crate) camera: Camera,
    pub(crate) environment: Environment,
    pub(crate) animated: bool,
    pub(crate) cameras: Vec<CameraInfo>,
    /// Index into `cameras` of the camera used; `None` for the automatic camera.
    pub(crate) camera_used: Option<usize>,
    /// First and last keyframe times of the channels that drive nodes.
    pub(crate) animation_range: Option<(f64, f64)>,
    /// Extensions the document uses or requires, with what the loader did with each.
    pub(crate) extensions: Vec<(String, ExtensionStatus)>,
    pub(crate) warnings: Vec<String>,
    pub(crate) timings: LoadTimings,
}

/// Wall time of the parts of one load (the benchmark reports posing and BVH time per frame).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadTimings {
    /// Sampling the animation: node transforms, morph weights, skins' joint matrices.
    pub pose_s: f64,
    /// Walking the scene graph: posed vertices (node transforms, morphs, skinning), materials,
    /// texture decoding.
    pub walk_s: f64,
    /// Building the BVH over the posed triangles.
    pub bvh_s: f64,
    /// The whole load: parsing, decoding, posing, geometry, BVH, lights.
    pub total_s: f64,
}

impl Scene {
    /// Loads `.glb` bytes, `.gltf` JSON (with only embedded data URIs), or a tar archive that
    /// holds exactly one `.gltf`/`.glb` and the files it references.
    pub fn from_bundle(bytes: &[u8]) -> Result<Scene, SceneError> {
        Self::from_bundle_with(bytes, &LoadOptions::default())
    }

    pub fn from_bundle_with(bytes: &[u8], opts: &LoadOptions) -> Result<Scene, SceneError> {
        if bytes.len() as u64 > opts.limits.max_file_bytes {
            return Err(SceneError::Limit(format!(
                "bundle is {} bytes (max {})",
                bytes.len(),
                opts.limits.max_file_bytes
            )));
        }
        if bundle::looks_like_tar(bytes) {
            let archive = bundle::Archive::read(bytes, &opts.limits)?;
            let (main, dir) = archive.main_file()?;
            let resolver = |uri: &str| archive.resolve(&dir, uri);
            gltf_load::load(main, &resolver, opts)
        } else {
            let resolver = |uri: &str| -> Result<Vec<u8>, SceneError> {
                Err(SceneError::Bundle(format!(
                    "external file {uri:?} referenced, but a bare .glb/.gltf bundle carries no files (use a tar bundle)"
                )))
            };
            gltf_load::load(bytes, &resolver, opts)
        }
    }

    /// Loads a `.glb`, a `.gltf` with its external files beside it, or a `.tar` bundle.
    pub fn from_path(path: &Path) -> Result<Scene, SceneError> {
        Self::from_path_with(path, &LoadOptions::default())
    }

    pub fn from_path_with(path: &Path, opts: &LoadOptions) -> Result<Scene, SceneError> {
        let bytes = bundle::read_limited(path, opts.limits.max_file_bytes)?;
        let is_gltf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gltf"));
        if !is_gltf {
            return Self::from_bundle_with(&bytes, opts);
        }
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let limit = opts.limits.max_file_bytes;
        let resolver = move |uri: &str| -> Result<Vec<u8>, SceneError> {
            bundle::read_in_dir(&dir, uri, limit)
        };
        gltf_load::load(&bytes, &resolver, opts)
    }

    pub fn load_timings(&self) -> LoadTimings {
        self.timings
    }

    pub fn triangle_count(&self) -> usize {
        self.tris.len()
    }
    /// Number of lights used for next-event estimation (punctual lights + emissive triangles).
    pub fn light_count(&self) -> usize {
        self.lights.len()
    }
    pub fn material_count(&self) -> usize {
        self.materials.len()
    }
    pub fn texture_count(&self) -> usize {
        self.textures.len()
    }
    pub fn bvh_node_count(&self) -> usize {
        self.nodes.len()
    }
    /// The camera rendered from (the automatic one when [`Scene::camera_index`] is `None`).
    pub fn camera(&self) -> &Camera {
        &self.camera
    }
    /// Every camera in the scene, in scene order.
    pub fn cameras(&self) -> &[CameraInfo] {
        &self.cameras
    }
    /// Which of [`Scene::cameras`] is used; `None` when the automatic camera is.
    pub fn camera_index(&self) -> Option<usize> {
        self.camera_used
    }
    /// Seconds from t = 0 to the last keyframe of the channels that move nodes (`None` when
    /// nothing is animated).
    pub fn animation_duration(&self) -> Option<f64> {
        self.animation_range
            .filter(|_| self.animated)
            .map(|(_, end)| end.max(0.0))
    }
    /// Frames from frame 1 (t = 0) to the first frame at or after the last keyframe at `rate`
    /// (1 for a static scene).
    pub fn animation_frames(&self, rate: FrameRate) -> u32 {
        match self.animation_duration() {
            None => 1,
            Some(d) => ((d * rate.fps() - 1e-6).ceil().max(0.0) as u32).saturating_add(1),
        }
    }
    /// Every extension the file uses or requires, with its status (a loaded scene has no
    /// refused ones: those are [`SceneError::Unsupported`] problems).
    pub fn extensions(&self) -> &[(String, ExtensionStatus)] {
        &self.extensions
    }
    /// Bytes of decoded texture memory (RGBA8 texels).
    pub fn texture_bytes(&self) -> u64 {
        self.texels.len() as u64 * 4
    }
    /// Punctual lights (point, spot, directional).
    pub fn punctual_light_count(&self) -> usize {
        self.lights
            .iter()
            .filter(|l| l.meta[0] as u32 != LIGHT_TRIANGLE)
            .count()
    }
    /// Triangles with an emissive material, each an area light.
    pub fn emissive_triangle_count(&self) -> usize {
        self.light_count() - self.punctual_light_count()
    }
    pub fn environment(&self) -> &Environment {
        &self.environment
    }
    /// Whether animation channels moved any node: when false, every frame (every
    /// [`LoadOptions::time`]) gives this same scene, and callers may load it once for all frames.
    pub fn is_animated(&self) -> bool {
        self.animated
    }
    /// Things that were ignored on purpose (for example occlusion textures); see the README.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    /// Replaces the background.
    pub fn set_environment(&mut self, env: Environment) {
        self.environment = env;
    }

    /// Whether rendering needs the shader's texture path: textures, per-vertex attribute
    /// records, non-opaque, unlit or transmissive materials (the extension materials live on
    /// that path, so scenes without them pay nothing for their code on CPU drivers).
    pub(crate) fn needs_texture_path(&self) -> bool {
        !self.textures.is_empty()
            || !self.attrs.is_empty()
            || self
                .materials
                .iter()
                .any(|m| m.ext[2] != ALPHA_OPAQUE || m.spec_tint[3] == UNLIT || m.has_layers())
    }

    /// Whether any material is alpha-tested in traversal (MASK, BLEND or unlit).
    pub(crate) fn has_alpha_tests(&self) -> bool {
        self.materials
            .iter()
            .any(|m| m.ext[2] != ALPHA_OPAQUE || m.spec_tint[3] == UNLIT)
    }

    /// Whether any light is punctual (point, spot, directional) rather than an emissive triangle.
    pub(crate) fn has_punctual_lights(&self) -> bool {
        self.lights
            .iter()
            .any(|l| l.meta[0] as u32 != LIGHT_TRIANGLE)
    }

    /// World-space bounding box of all triangles (as posed): (min, max).
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for t in &self.tris {
            for p in tri_vertices(t) {
                lo = math::min3(lo, p);
                hi = math::max3(hi, p);
            }
        }
        (lo, hi)
    }

    /// Closest hit of a ray on the CPU (mirrors the shader's traversal): distance and material index.
    pub fn intersect(&self, origin: [f32; 3], dir: [f32; 3]) -> Option<(f32, u32)> {
        let tris: Vec<[[f32; 3]; 3]> = self.tris.iter().map(tri_vertices).collect();
        bvh::intersect(&self.nodes, &tris, origin, dir)
            .map(|(t, i)| (t, self.tris[i as usize].v0[3].to_bits() & !ALPHA_BIT))
    }

    pub(crate) fn globals(&self) -> GpuGlobals {
        let c = &self.camera;
        let v4 = |v: [f32; 3]| [v[0], v[1], v[2], 0.0];
        let (env_color, env_info) = match &self.environment {
            Environment::Black => ([0.0; 4], [0; 4]),
            Environment::Color(rgb) => ([rgb[0], rgb[1], rgb[2], 0.0], [0; 4]),
            Environment::Image {
                width,
                height,
                strength,
                ..
            } => ([0.0, 0.0, 0.0, *strength], [1, *width, *height, 0]),
        };
        GpuGlobals {
            cam_pos: v4(c.position),
            cam_right: v4(c.right),
            cam_up: v4(c.up),
            cam_fwd: v4(c.forward),
            cam_params: [c.scale_y, 0.0, c.orthographic as u32 as f32, 0.0],
            env_color,
            env_info,
            counts: [
                self.lights.len() as u32,
                self.tris.len() as u32,
                self.nodes.len() as u32,
                0,
            ],
            bvh_origin: [0.0; 4],
            bvh_step: [0.0; 4],
            srgb: srgb_table(),
        }
    }

    /// Environment texels as vec4 (at least one element: Vulkan buffers cannot be empty).
    pub(crate) fn env_texels(&self) -> Vec<[f32; 4]> {
        match &self.environment {
            Environment::Image { rgb, .. } => rgb.iter().map(|c| [c[0], c[1], c[2], 0.0]).collect(),
            _ => vec![[0.0; 4]],
        }
    }
}

fn tri_vertices(t: &GpuTri) -> [[f32; 3]; 3] {
    let v0 = [t.v0[0], t.v0[1], t.v0[2]];
    let e1 = [t.e1[0], t.e1[1], t.e1[2]];
    let e2 = [t.e2[0], t.e2[1], t.e2[2]];
    [v0, math::add(v0, e1), math::add(v0, e2)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn srgb_table_decodes_every_code_as_the_standard_curve() {
        let t = super::srgb_table();
        assert_eq!(t[0][0], 0.0);
        assert_eq!(t[255][0], 1.0);
        // Code 10 (0.0392) is on the linear segment, code 11 (0.0431) on the power curve.
        assert_eq!(t[10][0], (10.0f64 / 255.0 / 12.92) as f32);
        let c = 11.0f64 / 255.0;
        assert_eq!(t[11][0], ((c + 0.055) / 1.055).powf(2.4) as f32);
        // Mid grey 0.5 (code 128 = 0.50196) decodes to 0.2158605.
        assert!((t[128][0] - 0.215_860_5).abs() < 1e-6, "{}", t[128][0]);
        assert!(t.windows(2).all(|w| w[0][0] < w[1][0]));
        assert!(t.iter().all(|e| e[1..] == [0.0; 3]));
    }
}
