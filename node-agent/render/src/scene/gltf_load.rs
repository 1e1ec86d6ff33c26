//! glTF 2.0 → [`Scene`]: node transforms (posed at [`LoadOptions::time`]), triangles, materials,
//! textures, lights, camera.
//! Every index and byte range is checked; anything unsupported is an error, not a guess.

use super::animation;
use super::bundle::decode_data_uri;
use super::math::{self, M4, V3};
use super::survey;
use super::*;
use gltf::accessor::{DataType, Dimensions};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

/// glTF photometric units (cd, lux) to the renderer's radiometric units, as Blender converts them.
const LUMENS_PER_WATT: f32 = 683.0;
const MAX_COORD: f32 = 1e15;
const MAX_NODE_DEPTH: usize = 128;
/// [`LoadOptions::camera`] value that selects the automatic camera.
pub const AUTO_CAMERA: &str = "auto";
/// Vertical field of view of the automatic camera: Blender's default 50 mm lens on its 36 mm sensor.
pub const AUTO_CAMERA_YFOV_DEGREES: f64 = 39.6;
/// Radiance of the neutral uniform environment used when a scene has no light at all (no punctual
/// light, no emissive surface, no environment): a white furnace, so diffuse surfaces show their
/// base colour, as glTF viewers' neutral lighting does.
pub const NEUTRAL_ENVIRONMENT_STRENGTH: f32 = 1.0;

type Resolver<'a> = dyn Fn(&str) -> Result<Vec<u8>, SceneError> + 'a;

pub fn load(bytes: &[u8], resolve: &Resolver, opts: &LoadOptions) -> Result<Scene, SceneError> {
    let started = Instant::now();
    let limits = &opts.limits;
    // Bytes after a .glb's declared length are not part of it (a glb padded or appended to).
    let mut trailing = None;
    let bytes = match super::bundle::glb_declared_length(bytes)? {
        Some(len) if len < bytes.len() => {
            trailing = Some(format!(
                "{} bytes after the .glb's declared length of {len} bytes ignored",
                bytes.len() - len
            ));
            &bytes[..len]
        }
        _ => bytes,
    };
    let gltf::Gltf { document, blob } = gltf::Gltf::from_slice_without_validation(bytes)
        .map_err(|e| SceneError::Gltf(e.to_string()))?;
    // Every unsupported feature at once, before any data is read. Extensions come from the JSON
    // first: `gltf`'s validation stops at the first required extension it does not know.
    let mut root = document.into_json();
    let extensions = survey::extensions(&root);
    let mut problems = survey::extension_problems(&extensions);
    // Past the survey, `gltf` need not judge required extensions: it refuses those it has no
    // type for (clearcoat, sheen, quantization), which this loader reads from the JSON itself.
    root.extensions_required.clear();
    check_unvalidated(&root)?;
    let doc = &match gltf::Document::from_json(root) {
        Ok(doc) => doc,
        // Data that a refused extension describes need not validate: report the extensions.
        Err(_) if !problems.is_empty() => return Err(SceneError::Unsupported(problems)),
        Err(e) => return Err(SceneError::Gltf(e.to_string())),
    };
    problems.extend(survey::feature_problems(doc));
    if !problems.is_empty() {
        return Err(SceneError::Unsupported(problems));
    }
    let mut warnings: Vec<String> = trailing.into_iter().collect();
    if doc.nodes().len() > limits.max_nodes {
        return Err(SceneError::Limit(format!(
            "{} nodes (max {})",
            doc.nodes().len(),
            limits.max_nodes
        )));
    }

    let buffers = load_buffers(doc, blob.as_deref(), resolve, limits)?;
    if !opts.time.is_finite() {
        return Err(SceneError::data("load options", "non-finite time"));
    }
    let pose_started = Instant::now();
    let pose = animation::pose(doc, &buffers, opts.time, &mut warnings)?;
    let pose_s = pose_started.elapsed().as_secs_f64();
    let mut ctx = Loader {
        buffers,
        resolve,
        limits,
        warnings,
        images: HashMap::new(),
        textures: HashMap::new(),
        gpu_textures: Vec::new(),
        texels: Vec::new(),
        default_material: doc.materials().len(),
        quantized: doc.extensions_used().any(|e| e == "KHR_mesh_quantization"),
    };

    // --- walk the scene graph ---
    let scene = doc
        .default_scene()
        .or_else(|| doc.scenes().next())
        .ok_or_else(|| SceneError::Gltf("no scene".into()))?;
    let walk_started = Instant::now();
    let Walk {
        geo,
        cameras,
        lights,
    } = ctx.walk(doc, &scene, &pose)?;
    let walk_s = walk_started.elapsed().as_secs_f64();
    if geo.tris.is_empty() {
        return Err(SceneError::data("scene", "no triangles to render"));
    }
    let camera_infos: Vec<CameraInfo> = cameras
        .iter()
        .map(|c| CameraInfo {
            node: c.0.clone(),
            name: c.1.clone(),
        })
        .collect();
    let want = opts.camera.as_deref();
    let camera_used = if want == Some(AUTO_CAMERA) || (want.is_none() && cameras.is_empty()) {
        None
    } else {
        Some(pick_camera(&cameras, want)?)
    };
    let camera = match camera_used {
        Some(i) => file_camera(&cameras[i])?,
        None => {
            // Frame the scene as it stands at the animation's first and last instants (or as
            // it is, when static), so the automatic camera is the same for every frame.
            let (mut lo, mut hi) = tri_bounds(&geo.tris);
            if let Some((t0, t1)) = pose.range.filter(|_| pose.moves_anything()) {
                // Before its first key a channel holds the first value: t = 0 is frame 1.
                let _ = t0;
                let (lo0, hi0) = if opts.time == 0.0 {
                    (lo, hi)
                } else {
                    ctx.bounds_at(doc, &scene, 0.0)?
                };
                let (lo1, hi1) = if opts.time == t1 {
                    (lo, hi)
                } else {
                    ctx.bounds_at(doc, &scene, t1)?
                };
                (lo, hi) = (math::min3(lo0, lo1), math::max3(hi0, hi1));
            }
            let cam = auto_camera(lo, hi);
            let why = if cameras.is_empty() {
                "the scene has no camera"
            } else {
                "camera \"auto\" requested"
            };
            ctx.warnings.push(format!(
                "{why}: using an automatic perspective camera ({AUTO_CAMERA_YFOV_DEGREES}° vertical field of view) looking along −Z from ({:.3}, {:.3}, {:.3}) at the scene's bounds",
                cam.position[0], cam.position[1], cam.position[2]
            ));
            cam
        }
    };

    // --- materials (glTF order, then the default material) ---
    let mut materials = Vec::with_capacity(doc.materials().len() + 1);
    for m in doc.materials() {
        materials.push(ctx.material(doc, &m)?);
    }
    materials.push(default_material());

    // --- environment ---
    let set_environment = match &opts.environment {
        Some(e) => Some(e.clone()),
        None => ctx.environment(&scene)?,
    };

    // --- BVH and reordering ---
    let bvh_started = Instant::now();
    let (nodes, order) = bvh::build(&geo.tris);
    let bvh_s = bvh_started.elapsed().as_secs_f64();
    let mut tris = Vec::with_capacity(order.len());
    let mut shade = Vec::with_capacity(order.len());
    for &i in &order {
        let i = i as usize;
        let [a, b, c] = geo.tris[i];
        let (e1, e2) = (math::sub(b, a), math::sub(c, a));
        let material = geo.material[i];
        let mat = &materials[material as usize];
        // Unlit materials are tested too: they are transparent to all but camera rays.
        let alpha = mat.ext[2] != ALPHA_OPAQUE || mat.spec_tint[3] == UNLIT;
        let bits = material | if alpha { ALPHA_BIT } else { 0 };
        tris.push(GpuTri {
            v0: [a[0], a[1], a[2], f32::from_bits(bits)],
            e1: [e1[0], e1[1], e1[2], f32::from_bits(geo.attr_of[i])],
            e2: [e2[0], e2[1], e2[2], 0.0],
        });
        let n = geo.normals[i];
        let uv = geo.uvs[i];
        shade.push(GpuShade {
            n0: [n[0][0], n[0][1], n[0][2], uv[0][0]],
            n1: [n[1][0], n[1][1], n[1][2], uv[0][1]],
            n2: [n[2][0], n[2][1], n[2][2], uv[1][0]],
            extra: [uv[1][1], uv[2][0], uv[2][1], 0.0],
        });
    }

    // --- lights: emissive triangles + punctual, one CDF by estimated power ---
    let bounds_radius = scene_radius(&geo.tris);
    let mut power: Vec<f32> = Vec::new();
    let mut all_lights = Vec::new();
    for (k, t) in tris.iter().enumerate() {
        let m = &materials[(t.v0[3].to_bits() & !ALPHA_BIT) as usize];
        let e = [m.emissive[0], m.emissive[1], m.emissive[2]];
        if e.iter().all(|v| *v <= 0.0) {
            continue;
        }
        let area = 0.5
            * math::length(math::cross(
                [t.e1[0], t.e1[1], t.e1[2]],
                [t.e2[0], t.e2[1], t.e2[2]],
            ));
        if area <= 0.0 || !area.is_finite() {
            continue;
        }
        let sides = if m.emissive[3] > 0.5 { 2.0 } else { 1.0 };
        power.push(math::luminance(e).max(1e-6) * area * std::f32::consts::PI * sides);
        // The triangle's own record and UVs ride along (dir, color, cone = v0, e1, e2): a light
        // sample then reads one record instead of three (GpuLight).
        let sh = &shade[k];
        all_lights.push(GpuLight {
            pos: [f32::from_bits(k as u32), sh.extra[1], sh.extra[2], 0.0],
            dir: t.v0,
            color: t.e1,
            meta: [LIGHT_TRIANGLE as f32, 0.0, 0.0, 0.0],
            cone: t.e2,
            uv: [sh.n0[3], sh.n1[3], sh.n2[3], sh.extra[0]],
        });
    }
    for l in lights {
        let lum = math::luminance([l.color[0], l.color[1], l.color[2]]).max(1e-6);
        let p = match l.meta[0] as u32 {
            LIGHT_POINT => 4.0 * std::f32::consts::PI * lum,
            LIGHT_SPOT => 2.0 * std::f32::consts::PI * (1.0 - l.cone[0]).max(1e-3) * lum,
            _ => lum * std::f32::consts::PI * bounds_radius * bounds_radius,
        };
        power.push(p.max(1e-12));
        all_lights.push(l);
    }
    let total: f64 = power.iter().map(|p| *p as f64).sum();
    let mut acc = 0.0f64;
    for (l, p) in all_lights.iter_mut().zip(&power) {
        acc += *p as f64;
        l.meta[1] = (acc / total) as f32;
        l.meta[2] = (*p as f64 / total) as f32;
        if l.meta[0] as u32 == LIGHT_TRIANGLE {
            shade[l.pos[0].to_bits() as usize].extra[3] = l.meta[2];
        }
    }
    if let Some(last) = all_lights.last_mut() {
        last.meta[1] = 1.0;
    }
    // A scene with no light at all would render black: light it as viewers do, uniformly.
    let environment = match set_environment {
        Some(e) => e,
        None if all_lights.is_empty() => {
            ctx.warnings.push(format!(
                "the scene has no light (no punctual light, emissive surface or environment): using a uniform white environment of radiance {NEUTRAL_ENVIRONMENT_STRENGTH}"
            ));
            Environment::Color([NEUTRAL_ENVIRONMENT_STRENGTH; 3])
        }
        None => Environment::Black,
    };

    let Loader {
        gpu_textures,
        texels,
        warnings,
        ..
    } = ctx;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(Scene {
        tris,
        shade,
        attrs: geo.attrs,
        nodes,
        materials,
        textures: gpu_textures,
        texels,
        lights: all_lights,
        camera,
        environment,
        animated: pose.moves_anything(),
        cameras: camera_infos,
        camera_used,
        animation_range: pose.range,
        extensions: extensions.into_iter().map(|(n, s, _)| (n, s)).collect(),
        warnings,
        timings: LoadTimings {
            pose_s,
            walk_s,
            bvh_s,
            total_s: started.elapsed().as_secs_f64(),
        },
    })
}

fn load_buffers(
    doc: &gltf::Document,
    blob: Option<&[u8]>,
    resolve: &Resolver,
    limits: &SceneLimits,
) -> Result<Vec<Vec<u8>>, SceneError> {
    let mut total = 0u64;
    let mut out = Vec::new();
    for b in doc.buffers() {
        let declared = b.length() as u64;
        total = total.saturating_add(declared);
        if total > limits.max_buffer_bytes {
            return Err(SceneError::Limit(format!(
                "buffers total more than {} bytes",
                limits.max_buffer_bytes
            )));
        }
        let mut data = match b.source() {
            gltf::buffer::Source::Bin => blob
                .ok_or_else(|| {
                    SceneError::data(format!("buffer {}", b.index()), "GLB has no BIN chunk")
                })?
                .to_vec(),
            gltf::buffer::Source::Uri(uri) if uri.starts_with("data:") => {
                decode_data_uri(uri, limits.max_buffer_bytes)?
            }
            gltf::buffer::Source::Uri(uri) => resolve(uri)?,
        };
        if (data.len() as u64) < declared {
            return Err(SceneError::data(
                format!("buffer {}", b.index()),
                format!("truncated: declares {declared} bytes, holds {}", data.len()),
            ));
        }
        data.truncate(declared as usize);
        out.push(data);
    }
    Ok(out)
}

/// Morph weights of a node's mesh: animated, else the node's, else the mesh's, else zero.
fn morph_weights<'p>(
    pose: &'p animation::Pose,
    node: &'p gltf::Node,
    mesh: &'p gltf::Mesh,
) -> &'p [f32] {
    match &pose.weights[node.index()] {
        Some(w) => w,
        None => node.weights().or(mesh.weights()).unwrap_or(&[]),
    }
}

/// Where a primitive's vertices go.
#[derive(Clone, Copy)]
enum Place<'p> {
    /// Every vertex by its node's world matrix.
    Rigid(&'p M4),
    /// Linear blend skinning: each vertex by Σ wᵢ·Jᵢ over its joints, Jᵢ = world(joint) ×
    /// inverseBindMatrix, in the skin's joint order.
    Skinned(&'p [M4]),
}

/// What a walk of the scene graph found.
struct Walk {
    geo: Geometry,
    cameras: Vec<CameraEntry>,
    lights: Vec<GpuLight>,
}

#[derive(Default)]
struct Geometry {
    tris: Vec<[V3; 3]>,
    normals: Vec<[V3; 3]>,
    uvs: Vec<[[f32; 2]; 3]>,
    material: Vec<u32>,
    /// Per triangle: 1 + index into `attrs`, 0 for none.
    attr_of: Vec<u32>,
    attrs: Vec<GpuAttrs>,
}

struct Loader<'a> {
    buffers: Vec<Vec<u8>>,
    resolve: &'a Resolver<'a>,
    limits: &'a SceneLimits,
    warnings: Vec<String>,
    /// image index → (texel offset, width, height)
    images: HashMap<usize, (u32, u32, u32)>,
    /// (texture index, UV transform rows as bits) → GPU texture index
    textures: HashMap<TexKey, i32>,
    gpu_textures: Vec<GpuTexture>,
    texels: Vec<u32>,
    default_material: usize,
    /// The document uses KHR_mesh_quantization: integer positions, normals, tangents, UVs and
    /// morph deltas are allowed.
    quantized: bool,
}

/// Bytes of one accessor: (data starting at the first element, stride, element size, count).
pub(super) type AccessorBytes<'b> = (Cow<'b, [u8]>, usize, usize, usize);

/// [`AccessorBytes`] of an accessor. A sparse accessor's elements are copied, tightly packed, with its listed elements replaced
/// (glTF 3.6.2.3); a dense one is borrowed from its buffer.
pub(super) fn accessor_view<'b>(
    buffers: &'b [Vec<u8>],
    acc: &gltf::Accessor,
) -> Result<AccessorBytes<'b>, SceneError> {
    let Some(sp) = acc.sparse() else {
        let (bytes, stride, elem, count) = dense_view(buffers, acc)?;
        return Ok((Cow::Borrowed(bytes), stride, elem, count));
    };
    let what = format!("accessor {}", acc.index());
    let elem = acc.data_type().size() * acc.dimensions().multiplicity();
    let mut packed = if acc.view().is_none() {
        // Without a view the accessor starts from zeros: no buffer bounds its count.
        if acc.count() > MAX_VIEWLESS_ELEMENTS {
            return Err(SceneError::Limit(format!(
                "{what}: {} elements without a buffer view (max {MAX_VIEWLESS_ELEMENTS})",
                acc.count()
            )));
        }
        vec![0u8; acc.count() * elem]
    } else {
        let (bytes, stride, _, count) = dense_view(buffers, acc)?;
        let mut v = Vec::with_capacity(count * elem);
        for i in 0..count {
            v.extend_from_slice(&bytes[i * stride..i * stride + elem]);
        }
        v
    };
    apply_sparse(buffers, &sp, &mut packed, elem, &what)?;
    Ok((Cow::Owned(packed), elem, elem, acc.count()))
}

/// The bytes of a buffer view, checked against its buffer.
fn view_bytes<'b>(
    buffers: &'b [Vec<u8>],
    view: &gltf::buffer::View,
    what: &str,
) -> Result<&'b [u8], SceneError> {
    let buf = buffers
        .get(view.buffer().index())
        .ok_or_else(|| SceneError::data(what, "buffer index out of range"))?;
    let view_end = view
        .offset()
        .checked_add(view.length())
        .filter(|e| *e <= buf.len())
        .ok_or_else(|| SceneError::data(what, "buffer view outside its buffer"))?;
    Ok(&buf[view.offset()..view_end])
}

/// [`accessor_view`] of the accessor's buffer view, whether or not it is sparse.
fn dense_view<'b>(
    buffers: &'b [Vec<u8>],
    acc: &gltf::Accessor,
) -> Result<(&'b [u8], usize, usize, usize), SceneError> {
    let what = || format!("accessor {}", acc.index());
    let view = acc
        .view()
        .ok_or_else(|| SceneError::data(what(), "no buffer view"))?;
    let view_bytes = view_bytes(buffers, &view, &what())?;
    let elem = acc.data_type().size() * acc.dimensions().multiplicity();
    let stride = view.stride().unwrap_or(elem);
    if stride < elem {
        return Err(SceneError::data(
            what(),
            "byte stride smaller than the element",
        ));
    }
    let count = acc.count();
    if count == 0 {
        return Ok((&[], stride, elem, 0));
    }
    let need = (count - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(elem))
        .and_then(|v| v.checked_add(acc.offset()))
        .filter(|e| *e <= view_bytes.len())
        .ok_or_else(|| SceneError::data(what(), "elements run past the end of the buffer view"))?;
    Ok((&view_bytes[acc.offset()..need], stride, elem, count))
}

/// Component types an attribute may have.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Components {
    /// Float only.
    Float,
    /// Float, or normalised unsigned byte/short (core glTF: TEXCOORD, COLOR, WEIGHTS).
    UnsignedNorm,
    /// Float, or any byte/short, signed or unsigned, normalised or not (KHR_mesh_quantization:
    /// the node transform dequantises).
    Quantized,
}

impl Components {
    fn allows(self, dt: DataType, normalized: bool) -> bool {
        match self {
            _ if dt == DataType::F32 => !normalized,
            Components::Float => false,
            Components::UnsignedNorm => normalized && matches!(dt, DataType::U8 | DataType::U16),
            Components::Quantized => {
                matches!(
                    dt,
                    DataType::I8 | DataType::U8 | DataType::I16 | DataType::U16
                )
            }
        }
    }
}

/// One component: floats as they are; normalised integers to [0, 1] or [−1, 1] (glTF:
/// max(c / 127, −1) for signed bytes), others as their integer value.
fn component(b: &[u8], dt: DataType, normalized: bool) -> f32 {
    let (v, scale) = match dt {
        DataType::F32 => return f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        DataType::I8 => (b[0] as i8 as f32, 127.0),
        DataType::U8 => (b[0] as f32, 255.0),
        DataType::I16 => (i16::from_le_bytes([b[0], b[1]]) as f32, 32767.0),
        DataType::U16 => (u16::from_le_bytes([b[0], b[1]]) as f32, 65535.0),
        DataType::U32 => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32, 1.0),
    };
    if normalized {
        (v / scale).max(-1.0)
    } else {
        v
    }
}

fn read_f32s<const N: usize>(
    buffers: &[Vec<u8>],
    acc: &gltf::Accessor,
    dims: Dimensions,
    types: Components,
) -> Result<Vec<[f32; N]>, SceneError> {
    let what = || format!("accessor {}", acc.index());
    if acc.dimensions() != dims {
        return Err(SceneError::data(
            what(),
            format!("expected {dims:?}, found {:?}", acc.dimensions()),
        ));
    }
    let dt = acc.data_type();
    let normalized = acc.normalized();
    if !types.allows(dt, normalized) {
        let fix = if types != Components::Quantized && Components::Quantized.allows(dt, normalized)
        {
            " (integers only with KHR_mesh_quantization, for POSITION, NORMAL, TANGENT, TEXCOORD and morph targets)"
        } else {
            ""
        };
        return Err(SceneError::unsupported(
            what(),
            format!("component type {dt:?} (normalized: {normalized}){fix}"),
        ));
    }
    let cs = dt.size();
    let decode = |e: &[u8]| -> [f32; N] {
        std::array::from_fn(|c| component(&e[c * cs..c * cs + cs], dt, normalized))
    };
    let (bytes, stride, _, count) = accessor_view(buffers, acc)?;
    Ok((0..count).map(|i| decode(&bytes[i * stride..])).collect())
}

/// Most elements of a sparse accessor without a buffer view (its zeros are allocated here).
const MAX_VIEWLESS_ELEMENTS: usize = 1 << 22;

/// Replaces the elements a sparse accessor lists (glTF 3.6.2.3: strictly increasing indices into
/// the accessor, values tightly packed in the accessor's component type) in `out`, the
/// accessor's elements packed `elem` bytes each.
fn apply_sparse(
    buffers: &[Vec<u8>],
    sp: &gltf::accessor::sparse::Sparse,
    out: &mut [u8],
    elem: usize,
    what: &str,
) -> Result<(), SceneError> {
    let len = out.len() / elem.max(1);
    use gltf::accessor::sparse::IndexType;
    let n = sp.count();
    let idx = sp.indices();
    let (isize, itype) = match idx.index_type() {
        IndexType::U8 => (1, 0),
        IndexType::U16 => (2, 1),
        IndexType::U32 => (4, 2),
    };
    let ibytes = view_bytes(buffers, &idx.view(), what)?;
    let vbytes = view_bytes(buffers, &sp.values().view(), what)?;
    fn slice(bytes: &[u8], offset: usize, len: Option<usize>) -> Option<&[u8]> {
        len.and_then(|l| offset.checked_add(l))
            .filter(|end| *end <= bytes.len())
            .map(|end| &bytes[offset..end])
    }
    let ibytes = slice(ibytes, idx.offset(), n.checked_mul(isize))
        .ok_or_else(|| SceneError::data(what, "sparse indices run past their buffer view"))?;
    let vbytes = slice(vbytes, sp.values().offset(), n.checked_mul(elem))
        .ok_or_else(|| SceneError::data(what, "sparse values run past their buffer view"))?;
    let mut last = None;
    for k in 0..n {
        let b = &ibytes[k * isize..];
        let i = match itype {
            0 => b[0] as usize,
            1 => u16::from_le_bytes([b[0], b[1]]) as usize,
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
        };
        if i >= len || last.is_some_and(|l| i <= l) {
            return Err(SceneError::data(
                what,
                format!("sparse index {i} out of range or not increasing (count {len})"),
            ));
        }
        last = Some(i);
        out[i * elem..(i + 1) * elem].copy_from_slice(&vbytes[k * elem..(k + 1) * elem]);
    }
    Ok(())
}

fn read_indices(buffers: &[Vec<u8>], acc: &gltf::Accessor) -> Result<Vec<u32>, SceneError> {
    if acc.dimensions() != Dimensions::Scalar {
        return Err(SceneError::data(
            format!("accessor {}", acc.index()),
            "indices must be scalar",
        ));
    }
    let dt = acc.data_type();
    if !matches!(dt, DataType::U8 | DataType::U16 | DataType::U32) {
        return Err(SceneError::data(
            format!("accessor {}", acc.index()),
            format!("index component type {dt:?}"),
        ));
    }
    let (bytes, stride, _, count) = accessor_view(buffers, acc)?;
    Ok((0..count)
        .map(|i| {
            let b = &bytes[i * stride..];
            match dt {
                DataType::U8 => b[0] as u32,
                DataType::U16 => u16::from_le_bytes([b[0], b[1]]) as u32,
                _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            }
        })
        .collect())
}

/// JOINTS_n: unsigned byte or short joint indices, four per vertex.
fn read_joints(buffers: &[Vec<u8>], acc: &gltf::Accessor) -> Result<Vec<[u16; 4]>, SceneError> {
    let dt = acc.data_type();
    if acc.dimensions() != Dimensions::Vec4
        || !matches!(dt, DataType::U8 | DataType::U16)
        || acc.normalized()
    {
        return Err(SceneError::data(
            format!("accessor {}", acc.index()),
            format!(
                "JOINTS must be VEC4 of unsigned byte or short, found {:?} of {dt:?}",
                acc.dimensions()
            ),
        ));
    }
    let (bytes, stride, _, count) = accessor_view(buffers, acc)?;
    Ok((0..count)
        .map(|i| {
            let e = &bytes[i * stride..];
            std::array::from_fn(|c| match dt {
                DataType::U8 => e[c] as u16,
                _ => u16::from_le_bytes([e[2 * c], e[2 * c + 1]]),
            })
        })
        .collect())
}

/// A primitive's triangles for MikkTSpace: one tangent per corner, in index order.
struct Mikk<'g> {
    positions: &'g [V3],
    normals: Option<&'g [V3]>,
    uvs: Option<&'g [[f32; 2]]>,
    indices: &'g [u32],
    out: Vec<[f32; 4]>,
}

impl mikktspace::Geometry for Mikk<'_> {
    fn num_faces(&self) -> usize {
        self.indices.len() / 3
    }
    fn num_vertices_of_face(&self, _face: usize) -> usize {
        3
    }
    fn position(&self, face: usize, vert: usize) -> [f32; 3] {
        self.positions[self.indices[3 * face + vert] as usize]
    }
    fn normal(&self, face: usize, vert: usize) -> [f32; 3] {
        match self.normals {
            Some(n) => n[self.indices[3 * face + vert] as usize],
            None => {
                let p = |k: usize| self.position(face, k);
                math::normalize(math::cross(math::sub(p(1), p(0)), math::sub(p(2), p(0))))
                    .unwrap_or([0.0, 1.0, 0.0])
            }
        }
    }
    fn tex_coord(&self, face: usize, vert: usize) -> [f32; 2] {
        self.uvs
            .map_or([0.0; 2], |u| u[self.indices[3 * face + vert] as usize])
    }
    fn set_tangent_encoded(&mut self, tangent: [f32; 4], face: usize, vert: usize) {
        self.out[3 * face + vert] = tangent;
    }
}

impl Loader<'_> {
    /// Component types of POSITION, NORMAL, TANGENT and morph deltas.
    fn quantized(&self) -> Components {
        if self.quantized {
            Components::Quantized
        } else {
            Components::Float
        }
    }

    /// Walks the scene graph posed by `pose`: triangles in world space, cameras and lights.
    fn walk(
        &mut self,
        doc: &gltf::Document,
        scene: &gltf::Scene,
        pose: &animation::Pose,
    ) -> Result<Walk, SceneError> {
        let mut geo = Geometry::default();
        let mut cameras: Vec<CameraEntry> = Vec::new();
        let mut lights: Vec<GpuLight> = Vec::new();
        let mut stack: Vec<(gltf::Node, M4, usize)> =
            scene.nodes().map(|n| (n, math::IDENTITY, 0)).collect();
        stack.reverse();
        let mut visited = 0usize;
        // World matrices of the nodes visited (joints of skins are looked up here), and skinned
        // meshes, placed once every joint's world matrix is known.
        let mut world_of: Vec<Option<M4>> = vec![None; doc.nodes().len()];
        let mut skinned: Vec<gltf::Node> = Vec::new();
        while let Some((node, parent, depth)) = stack.pop() {
            visited += 1;
            if visited > self.limits.max_nodes || depth > MAX_NODE_DEPTH {
                return Err(SceneError::Limit(format!(
                    "node graph too large or too deep (cycle?) at node {}",
                    node.index()
                )));
            }
            let local = match pose.trs[node.index()] {
                Some(trs) => trs.matrix(),
                None => node.transform().matrix(),
            };
            let world = math::mul(&parent, &local);
            if world.iter().flatten().any(|v| !v.is_finite()) {
                return Err(SceneError::data(
                    format!("node {}", node.index()),
                    "non-finite transform",
                ));
            }
            world_of[node.index()].get_or_insert(world);
            if let Some(mesh) = node.mesh() {
                if node.skin().is_some() {
                    skinned.push(node.clone());
                } else {
                    let weights = morph_weights(pose, &node, &mesh);
                    for prim in mesh.primitives() {
                        self.primitive(
                            &prim,
                            Place::Rigid(&world),
                            weights,
                            &mut geo,
                            mesh.index(),
                        )?;
                    }
                }
            }
            if let Some(cam) = node.camera() {
                cameras.push((
                    node.name().map(str::to_owned),
                    cam.name().map(str::to_owned),
                    world,
                    match cam.projection() {
                        gltf::camera::Projection::Perspective(p) => ((p.yfov() * 0.5).tan(), false),
                        // As Blender's importer: ortho_scale = 2·max(xmag, ymag) with sensor
                        // fit Auto, so the image keeps its own aspect (see `Camera::scale_y`).
                        gltf::camera::Projection::Orthographic(o) => {
                            (o.xmag().abs().max(o.ymag().abs()), true)
                        }
                    },
                ));
            }
            if let Some(light) = node.light() {
                if lights.len() >= self.limits.max_lights {
                    return Err(SceneError::Limit(format!(
                        "more than {} lights",
                        self.limits.max_lights
                    )));
                }
                if light.range().is_some() {
                    self.warnings.push(format!(
                        "light {}: range ignored (inverse-square falloff only)",
                        light.index()
                    ));
                }
                lights.push(punctual_light(&light, &world)?);
            }
            let mut children: Vec<_> = node.children().map(|c| (c, world, depth + 1)).collect();
            children.reverse();
            stack.extend(children);
        }
        // Skinned meshes: the skeleton places them, so the mesh node's own transform is ignored.
        for node in &skinned {
            let (Some(mesh), Some(skin)) = (node.mesh(), node.skin()) else {
                continue;
            };
            let joints = self.joint_matrices(&skin, &world_of)?;
            let weights = morph_weights(pose, node, &mesh);
            for prim in mesh.primitives() {
                self.primitive(
                    &prim,
                    Place::Skinned(&joints),
                    weights,
                    &mut geo,
                    mesh.index(),
                )?;
            }
        }
        Ok(Walk {
            geo,
            cameras,
            lights,
        })
    }

    /// Bounds of the scene's triangles posed at `t` (warnings of that pass are dropped).
    fn bounds_at(
        &mut self,
        doc: &gltf::Document,
        scene: &gltf::Scene,
        t: f64,
    ) -> Result<(V3, V3), SceneError> {
        let n = self.warnings.len();
        let pose = animation::pose(doc, &self.buffers, t, &mut Vec::new())?;
        let walk = self.walk(doc, scene, &pose);
        self.warnings.truncate(n);
        Ok(tri_bounds(&walk?.geo.tris))
    }

    fn primitive(
        &mut self,
        prim: &gltf::Primitive,
        place: Place,
        weights: &[f32],
        geo: &mut Geometry,
        mesh: usize,
    ) -> Result<(), SceneError> {
        let what = format!("mesh {mesh} primitive {}", prim.index());
        if prim.mode() != gltf::mesh::Mode::Triangles {
            return Err(SceneError::unsupported(
                what,
                format!("mode {:?} (triangles only)", prim.mode()),
            ));
        }
        let pos_acc = prim
            .get(&gltf::Semantic::Positions)
            .ok_or_else(|| SceneError::data(&what, "no POSITION attribute"))?;
        let mut positions =
            read_f32s::<3>(&self.buffers, &pos_acc, Dimensions::Vec3, self.quantized())?;
        let mut normals = match prim.get(&gltf::Semantic::Normals) {
            Some(a) => Some(read_f32s::<3>(
                &self.buffers,
                &a,
                Dimensions::Vec3,
                self.quantized(),
            )?),
            None => None,
        };
        let mut tangents = match prim.get(&gltf::Semantic::Tangents) {
            Some(a) => Some(read_f32s::<4>(
                &self.buffers,
                &a,
                Dimensions::Vec4,
                self.quantized(),
            )?),
            None => None,
        };
        // Morph targets: POSITION, NORMAL and TANGENT deltas times the weights.
        let n_vertices = positions.len();
        for (i, target) in prim.morph_targets().enumerate() {
            let w = weights.get(i).copied().unwrap_or(0.0);
            if !w.is_finite() {
                return Err(SceneError::data(&what, "non-finite morph weight"));
            }
            let deltas = |acc: Option<gltf::Accessor>| -> Result<Option<Vec<V3>>, SceneError> {
                let Some(acc) = acc else { return Ok(None) };
                let d = read_f32s::<3>(&self.buffers, &acc, Dimensions::Vec3, self.quantized())?;
                if d.len() != n_vertices {
                    return Err(SceneError::data(
                        &what,
                        format!("morph target {i} count differs from POSITION"),
                    ));
                }
                Ok(Some(d))
            };
            if let Some(d) = deltas(target.positions())? {
                for (p, d) in positions.iter_mut().zip(&d) {
                    *p = math::add(*p, math::scale(*d, w));
                }
            }
            if let Some(d) = deltas(target.normals())? {
                if let Some(ns) = normals.as_mut() {
                    for (n, d) in ns.iter_mut().zip(&d) {
                        *n = math::add(*n, math::scale(*d, w));
                    }
                }
            }
            if let Some(d) = deltas(target.tangents())? {
                if let Some(ts) = tangents.as_mut() {
                    for (t, d) in ts.iter_mut().zip(&d) {
                        let v = math::add([t[0], t[1], t[2]], math::scale(*d, w));
                        *t = [v[0], v[1], v[2], t[3]];
                    }
                }
            }
        }
        let uv_types = match self.quantized() {
            Components::Float => Components::UnsignedNorm,
            q => q,
        };
        let uvs = match prim.get(&gltf::Semantic::TexCoords(0)) {
            Some(a) => Some(read_f32s::<2>(
                &self.buffers,
                &a,
                Dimensions::Vec2,
                uv_types,
            )?),
            None => None,
        };
        let uvs1 = match prim.get(&gltf::Semantic::TexCoords(1)) {
            Some(a) => Some(read_f32s::<2>(
                &self.buffers,
                &a,
                Dimensions::Vec2,
                uv_types,
            )?),
            None => None,
        };
        for (name, set) in [("TEXCOORD_0", &uvs), ("TEXCOORD_1", &uvs1)] {
            if set
                .as_ref()
                .is_some_and(|u| u.iter().flatten().any(|c| !c.is_finite()))
            {
                return Err(SceneError::data(&what, format!("non-finite {name}")));
            }
        }
        // COLOR_0: RGB or RGBA, float or normalised unsigned byte/short, linear.
        let colors: Option<Vec<[f32; 4]>> = match prim.get(&gltf::Semantic::Colors(0)) {
            Some(a) if a.dimensions() == Dimensions::Vec3 => Some(
                read_f32s::<3>(
                    &self.buffers,
                    &a,
                    Dimensions::Vec3,
                    Components::UnsignedNorm,
                )?
                .into_iter()
                .map(|c| [c[0], c[1], c[2], 1.0])
                .collect(),
            ),
            Some(a) => Some(read_f32s::<4>(
                &self.buffers,
                &a,
                Dimensions::Vec4,
                Components::UnsignedNorm,
            )?),
            None => None,
        };
        if colors
            .as_ref()
            .is_some_and(|c| c.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(SceneError::data(&what, "non-finite COLOR_0"));
        }
        if tangents
            .as_ref()
            .is_some_and(|t| t.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(SceneError::data(&what, "non-finite TANGENT"));
        }
        for (name, len) in [
            ("NORMAL", normals.as_ref().map(Vec::len)),
            ("TANGENT", tangents.as_ref().map(Vec::len)),
            ("TEXCOORD_0", uvs.as_ref().map(Vec::len)),
            ("TEXCOORD_1", uvs1.as_ref().map(Vec::len)),
            ("COLOR_0", colors.as_ref().map(Vec::len)),
        ] {
            if len.is_some_and(|l| l != positions.len()) {
                return Err(SceneError::data(
                    &what,
                    format!("{name} count differs from POSITION"),
                ));
            }
        }
        let indices = match prim.indices() {
            Some(a) => read_indices(&self.buffers, &a)?,
            None => (0..positions.len() as u32).collect(),
        };
        if indices.len() % 3 != 0 {
            return Err(SceneError::data(
                &what,
                "index count is not a multiple of 3",
            ));
        }
        let n_tris = indices.len() / 3;
        if geo.tris.len() + n_tris > self.limits.max_triangles {
            return Err(SceneError::Limit(format!(
                "more than {} triangles",
                self.limits.max_triangles
            )));
        }
        let shade_bytes = (geo.tris.len() + n_tris) as u64 * size_of::<super::GpuShade>() as u64;
        if shade_bytes > self.limits.max_array_bytes {
            return Err(SceneError::Limit(format!(
                "{} triangles need {shade_bytes} bytes of shading records (64 each), over the \
                 device's maxStorageBufferRange of {} bytes",
                geo.tris.len() + n_tris,
                self.limits.max_array_bytes
            )));
        }
        if let Some(bad) = indices.iter().find(|&&i| i as usize >= positions.len()) {
            return Err(SceneError::data(
                &what,
                format!("index {bad} out of range ({} vertices)", positions.len()),
            ));
        }
        // Tangents for a normal map: the file's, else MikkTSpace's (per corner, in index order)
        // from the normal texture's UV set, in the mesh's own space.
        let normal_use = prim.material().normal_texture().map(TexUse::normal);
        let corner_tangents: Option<Vec<[f32; 4]>> = match (&normal_use, &tangents) {
            (None, _) => None,
            (Some(_), Some(t)) => Some(indices.iter().map(|&i| t[i as usize]).collect()),
            (Some(normal_use), None) => {
                let set = normal_use.set;
                let uv = match set {
                    0 => uvs.as_deref(),
                    1 => uvs1.as_deref(),
                    _ => None,
                };
                // In the texture's own frame: the UVs after the normal texture's
                // KHR_texture_transform, so a rotated or mirrored map tilts along its own axes.
                let uv: Option<Vec<[f32; 2]>> =
                    uv.map(|uv| uv.iter().map(|&c| normal_use.apply(c)).collect());
                let uv = uv.as_deref();
                let mut g = Mikk {
                    positions: &positions,
                    normals: normals.as_deref(),
                    uvs: uv,
                    indices: &indices,
                    out: vec![[0.0; 4]; indices.len()],
                };
                if uv.is_none() || !mikktspace::generate_tangents(&mut g) {
                    self.warnings.push(format!(
                        "{what}: no tangents could be generated for its normal map (no TEXCOORD_{set}?): the map is not applied"
                    ));
                    g.out.fill([0.0; 4]);
                }
                Some(g.out)
            }
        };
        let has_attrs = corner_tangents.is_some() || colors.is_some() || uvs1.is_some();
        // Per-vertex matrices for a skinned primitive (None: every vertex by `world`).
        let (world, skin) = match place {
            Place::Rigid(world) => (*world, None),
            Place::Skinned(joints) => (
                math::IDENTITY,
                Some(self.skin_matrices(prim, joints, n_vertices, &what)?),
            ),
        };
        let wp: Vec<V3> = match &skin {
            None => positions
                .iter()
                .map(|p| math::transform_point(&world, *p))
                .collect(),
            Some(m) => positions
                .iter()
                .zip(m)
                .map(|(p, m)| math::transform_point(m, *p))
                .collect(),
        };
        if wp
            .iter()
            .flatten()
            .any(|v| !v.is_finite() || v.abs() > MAX_COORD)
        {
            return Err(SceneError::data(
                &what,
                "non-finite or absurd vertex positions",
            ));
        }
        // Normals by the inverse-transpose of the vertex's matrix (for a skinned vertex, of its
        // blended matrix Σ wᵢ·Jᵢ: exact for the linear map that moved the vertex, also where
        // the joints scale unevenly).
        let nm = math::normal_matrix(&world);
        let vertex_nm: Option<Vec<Option<[V3; 3]>>> = match (&skin, &normals) {
            (Some(m), Some(_)) => Some(m.iter().map(math::normal_matrix).collect()),
            _ => None,
        };
        let flip_world = math::det3(&world) < 0.0;
        // Primitives without a material use the default material, appended after the document's.
        let material = prim.material().index().unwrap_or(self.default_material) as u32;
        geo.tris.reserve(n_tris);
        for (f, t) in indices.chunks_exact(3).enumerate() {
            let mut id = [t[0] as usize, t[1] as usize, t[2] as usize];
            let mut corner = [3 * f, 3 * f + 1, 3 * f + 2];
            // A mirroring matrix reverses the winding; skinned triangles go by their first vertex.
            let flip = match &skin {
                None => flip_world,
                Some(m) => math::det3(&m[id[0]]) < 0.0,
            };
            if flip {
                id.swap(1, 2);
                corner.swap(1, 2);
            }
            let p = [wp[id[0]], wp[id[1]], wp[id[2]]];
            let face = math::normalize(math::cross(math::sub(p[1], p[0]), math::sub(p[2], p[0])))
                .unwrap_or([0.0, 1.0, 0.0]);
            let mut n = [face; 3];
            if let Some(ns) = &normals {
                for k in 0..3 {
                    let m = match &vertex_nm {
                        Some(v) => v[id[k]].as_ref(),
                        None => nm.as_ref(),
                    };
                    if let Some(m) = m {
                        n[k] = math::normalize(math::apply3(m, ns[id[k]])).unwrap_or(face);
                    }
                }
            }
            let uv = match &uvs {
                Some(u) => [u[id[0]], u[id[1]], u[id[2]]],
                None => [[0.0; 2]; 3],
            };
            geo.tris.push(p);
            geo.normals.push(n);
            geo.uvs.push(uv);
            geo.material.push(material);
            if !has_attrs {
                geo.attr_of.push(0);
                continue;
            }
            let mut a = GpuAttrs {
                tangent: [[0.0; 4]; 3],
                color: [[1.0; 4]; 3],
                uv1: [[0.0; 4]; 2],
            };
            for k in 0..3 {
                if let Some(ts) = &corner_tangents {
                    // Tangents follow the surface (the vertex's matrix, not its inverse
                    // transpose); a mirroring matrix flips the bitangent's sign.
                    let m = match &skin {
                        Some(m) => &m[id[k]],
                        None => &world,
                    };
                    let t = ts[corner[k]];
                    let sign = if (t[3] < 0.0) != (math::det3(m) < 0.0) {
                        -1.0
                    } else {
                        1.0
                    };
                    if let Some(d) = math::normalize(math::transform_dir(m, [t[0], t[1], t[2]])) {
                        a.tangent[k] = [d[0], d[1], d[2], sign];
                    }
                }
                if let Some(c) = &colors {
                    a.color[k] = c[id[k]];
                }
            }
            if let Some(u) = &uvs1 {
                let (u0, u1, u2) = (u[id[0]], u[id[1]], u[id[2]]);
                a.uv1 = [[u0[0], u0[1], u1[0], u1[1]], [u2[0], u2[1], 0.0, 0.0]];
            }
            geo.attrs.push(a);
            geo.attr_of.push(geo.attrs.len() as u32);
        }
        Ok(())
    }

    /// Joint matrices of `skin` at this pose: world(joint) × inverseBindMatrix (identity where
    /// the skin has no inverseBindMatrices), in the skin's joint order.
    fn joint_matrices(
        &self,
        skin: &gltf::Skin,
        world_of: &[Option<M4>],
    ) -> Result<Vec<M4>, SceneError> {
        let what = format!("skin {}", skin.index());
        let joints: Vec<gltf::Node> = skin.joints().collect();
        if joints.is_empty() {
            return Err(SceneError::data(&what, "no joints"));
        }
        let ibms: Option<Vec<[f32; 16]>> = match skin.inverse_bind_matrices() {
            Some(acc) => {
                let m = read_f32s::<16>(&self.buffers, &acc, Dimensions::Mat4, Components::Float)?;
                if m.len() < joints.len() {
                    return Err(SceneError::data(
                        &what,
                        format!(
                            "{} inverse bind matrices for {} joints",
                            m.len(),
                            joints.len()
                        ),
                    ));
                }
                if m.iter().flatten().any(|v| !v.is_finite()) {
                    return Err(SceneError::data(&what, "non-finite inverse bind matrix"));
                }
                Some(m)
            }
            None => None,
        };
        joints
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let world = world_of.get(j.index()).copied().flatten().ok_or_else(|| {
                    SceneError::data(
                        &what,
                        format!("joint node {} is not in the rendered scene", j.index()),
                    )
                })?;
                Ok(match &ibms {
                    None => world,
                    Some(m) => {
                        let c = &m[i];
                        let ibm: M4 = std::array::from_fn(|col| {
                            [c[4 * col], c[4 * col + 1], c[4 * col + 2], c[4 * col + 3]]
                        });
                        math::mul(&world, &ibm)
                    }
                })
            })
            .collect()
    }

    /// Each vertex's skinning matrix Σ wᵢ·Jᵢ over every JOINTS_n/WEIGHTS_n set, the weights
    /// normalised to sum to 1; zero weights are skipped (their joint index is not looked at).
    /// A vertex with no weight at all keeps its bind-pose position (identity), with a warning.
    fn skin_matrices(
        &mut self,
        prim: &gltf::Primitive,
        joints: &[M4],
        n_vertices: usize,
        what: &str,
    ) -> Result<Vec<M4>, SceneError> {
        let mut sets = 0u32;
        for (sem, _) in prim.attributes() {
            if let gltf::Semantic::Joints(n) | gltf::Semantic::Weights(n) = sem {
                sets = sets.max(n + 1);
            }
        }
        if sets == 0 {
            return Err(SceneError::data(
                what,
                "skinned mesh primitive without JOINTS_0 and WEIGHTS_0",
            ));
        }
        let mut mats = vec![[[0.0f32; 4]; 4]; n_vertices];
        let mut sums = vec![0.0f32; n_vertices];
        for set in 0..sets {
            let (Some(j_acc), Some(w_acc)) = (
                prim.get(&gltf::Semantic::Joints(set)),
                prim.get(&gltf::Semantic::Weights(set)),
            ) else {
                return Err(SceneError::data(
                    what,
                    format!("JOINTS_{set} and WEIGHTS_{set} must come together"),
                ));
            };
            let js = read_joints(&self.buffers, &j_acc)?;
            let ws = read_f32s::<4>(
                &self.buffers,
                &w_acc,
                Dimensions::Vec4,
                Components::UnsignedNorm,
            )?;
            if js.len() != n_vertices || ws.len() != n_vertices {
                return Err(SceneError::data(
                    what,
                    format!(
                        "JOINTS_{set} has {} and WEIGHTS_{set} {} elements for {n_vertices} vertices",
                        js.len(),
                        ws.len()
                    ),
                ));
            }
            for (v, (j, w)) in js.iter().zip(&ws).enumerate() {
                for (&joint, &weight) in j.iter().zip(w) {
                    if weight == 0.0 {
                        continue;
                    }
                    if !weight.is_finite() || weight < 0.0 {
                        return Err(SceneError::data(
                            what,
                            format!("vertex {v}: weight {weight} in WEIGHTS_{set}"),
                        ));
                    }
                    let m = joints.get(joint as usize).ok_or_else(|| {
                        SceneError::data(
                            what,
                            format!(
                                "vertex {v}: joint {joint} in JOINTS_{set}, but the skin has {} joints",
                                joints.len()
                            ),
                        )
                    })?;
                    for (col, mc) in mats[v].iter_mut().zip(m) {
                        for (x, y) in col.iter_mut().zip(mc) {
                            *x += weight * y;
                        }
                    }
                    sums[v] += weight;
                }
            }
        }
        let mut unweighted = 0usize;
        for (m, &sum) in mats.iter_mut().zip(&sums) {
            if sum > 0.0 {
                if sum != 1.0 {
                    for x in m.iter_mut().flatten() {
                        *x /= sum;
                    }
                }
            } else {
                *m = math::IDENTITY;
                unweighted += 1;
            }
        }
        if unweighted > 0 {
            self.warnings.push(format!(
                "{what}: {unweighted} vertices have no joint weight and stay in their bind pose"
            ));
        }
        Ok(mats)
    }

    fn material(
        &mut self,
        doc: &gltf::Document,
        m: &gltf::Material,
    ) -> Result<GpuMaterial, SceneError> {
        let what = format!(
            "material {} ({})",
            m.index().unwrap_or(0),
            m.name().unwrap_or("")
        );
        if m.occlusion_texture().is_some() {
            self.warnings.push(format!(
                "{what}: occlusion texture ignored (the path tracer computes occlusion)"
            ));
        }
        let pbr = m.pbr_metallic_roughness();
        let base_tex = self.texture_info(pbr.base_color_texture().map(TexUse::info), &what)?;
        let mr_tex =
            self.texture_info(pbr.metallic_roughness_texture().map(TexUse::info), &what)?;
        let em_tex = self.texture_info(m.emissive_texture().map(TexUse::info), &what)?;
        let normal = m.normal_texture();
        let normal_scale = normal.as_ref().map_or(1.0, |n| n.scale());
        let normal_tex = self.texture_info(normal.map(TexUse::normal), &what)?;
        use gltf::material::AlphaMode;
        let alpha_mode = match m.alpha_mode() {
            AlphaMode::Opaque => ALPHA_OPAQUE,
            AlphaMode::Mask => ALPHA_MASK,
            AlphaMode::Blend => ALPHA_BLEND,
        };
        let cutoff = m.alpha_cutoff().unwrap_or(0.5);
        if !normal_scale.is_finite() || !cutoff.is_finite() {
            return Err(SceneError::data(
                &what,
                "non-finite normal scale or alpha cutoff",
            ));
        }
        let strength = m.emissive_strength().unwrap_or(1.0);
        let e = m.emissive_factor();
        let ior = m.ior().unwrap_or(1.5);
        let (spec_factor, spec_color, spec_tex, spec_color_tex) = match m.specular() {
            Some(s) => (
                s.specular_factor(),
                s.specular_color_factor(),
                self.texture_info(s.specular_texture().map(TexUse::info), &what)?,
                self.texture_info(s.specular_color_texture().map(TexUse::info), &what)?,
            ),
            None => (1.0, [1.0; 3], -1, -1),
        };
        let (trans, mut atten) = self.transmission(m, ior, &what)?;
        atten[3] = spec_color_tex as f32;
        let (coat, coat_normal) = self.clearcoat(doc, m, &what)?;
        let (sheen, sheen_tex, sheen_e) = self.sheen(doc, m, &what)?;
        let f0 = ((ior - 1.0) / (ior + 1.0)).powi(2);
        // Blender writes specularColorFactor = 0 for "Specular 0": no specular lobe at all.
        let f90 = if spec_color.iter().all(|c| *c <= 0.0) {
            0.0
        } else {
            spec_factor
        };
        let nums = [
            e[0] * strength,
            e[1] * strength,
            e[2] * strength,
            pbr.metallic_factor(),
            pbr.roughness_factor(),
            ior,
            spec_factor,
        ];
        if nums.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(SceneError::data(&what, "negative or non-finite factors"));
        }
        // KHR_materials_unlit: the base colour is seen by camera rays, unshaded; nothing else of
        // the material counts (no emission: it is no light).
        let unlit = m
            .extensions()
            .is_some_and(|x| x.contains_key("KHR_materials_unlit"));
        let strength = if unlit { 0.0 } else { strength };
        Ok(GpuMaterial {
            base: pbr.base_color_factor(),
            emissive: [
                e[0] * strength,
                e[1] * strength,
                e[2] * strength,
                m.double_sided() as u32 as f32,
            ],
            pbr: [
                pbr.metallic_factor().clamp(0.0, 1.0),
                pbr.roughness_factor().clamp(0.0, 1.0),
                (f0 * spec_factor).min(1.0),
                f90,
            ],
            tex: [base_tex, mr_tex, em_tex, spec_tex],
            spec_tint: [
                spec_color[0].min(1.0 / f0.max(1e-6)),
                spec_color[1].min(1.0 / f0.max(1e-6)),
                spec_color[2].min(1.0 / f0.max(1e-6)),
                if unlit { UNLIT } else { 0.0 },
            ],
            ext: [normal_tex as f32, normal_scale, alpha_mode, cutoff],
            trans,
            atten,
            coat,
            layer_tex: [coat_normal[0], coat_normal[1], sheen_tex[0], sheen_tex[1]],
            sheen,
            sheen_e,
        })
    }

    /// KHR_materials_clearcoat (read from the JSON: `gltf` has no type for it): the `coat`
    /// record and the coat's normal texture and scale.
    fn clearcoat(
        &mut self,
        doc: &gltf::Document,
        m: &gltf::Material,
        what: &str,
    ) -> Result<([f32; 4], [f32; 2]), SceneError> {
        let Some(c) = m
            .extensions()
            .and_then(|e| e.get("KHR_materials_clearcoat"))
        else {
            return Ok(([0.0, 0.0, -1.0, -1.0], [-1.0, 1.0]));
        };
        let factor = json_factor(c, "clearcoatFactor", 0.0, what)?;
        let rough = json_factor(c, "clearcoatRoughnessFactor", 0.0, what)?;
        let tex = TexUse::json(doc, c.get("clearcoatTexture"), what)?;
        let factor_tex = self.texture_info(tex, what)?;
        let tex = TexUse::json(doc, c.get("clearcoatRoughnessTexture"), what)?;
        let rough_tex = self.texture_info(tex, what)?;
        let normal = c.get("clearcoatNormalTexture");
        let scale = match normal.and_then(|n| n.get("scale")) {
            None => 1.0,
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| SceneError::data(what, "bad clearcoatNormalTexture scale"))?
                as f32,
        };
        let normal_tex = self.texture_info(TexUse::json(doc, normal, what)?, what)?;
        Ok((
            [factor, rough, factor_tex as f32, rough_tex as f32],
            [normal_tex as f32, scale],
        ))
    }

    /// KHR_materials_sheen (from the JSON): colour and roughness, their textures, and the
    /// lobe's directional albedo table.
    #[allow(clippy::type_complexity)]
    fn sheen(
        &mut self,
        doc: &gltf::Document,
        m: &gltf::Material,
        what: &str,
    ) -> Result<([f32; 4], [f32; 2], [[f32; 4]; 2]), SceneError> {
        let Some(sh) = m.extensions().and_then(|e| e.get("KHR_materials_sheen")) else {
            return Ok(([0.0; 4], [-1.0, -1.0], [[0.0; 4]; 2]));
        };
        let color = match sh.get("sheenColorFactor") {
            None => [0.0; 3],
            Some(v) => {
                let c: Vec<f32> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_f64())
                            .map(|x| x as f32)
                            .collect()
                    })
                    .unwrap_or_default();
                match c[..] {
                    [r, g, b] if c.iter().all(|x| x.is_finite() && *x >= 0.0) => {
                        [r.min(1.0), g.min(1.0), b.min(1.0)]
                    }
                    _ => return Err(SceneError::data(what, "bad sheenColorFactor")),
                }
            }
        };
        let rough = json_factor(sh, "sheenRoughnessFactor", 0.0, what)?;
        let tex = TexUse::json(doc, sh.get("sheenColorTexture"), what)?;
        let color_tex = self.texture_info(tex, what)?;
        let tex = TexUse::json(doc, sh.get("sheenRoughnessTexture"), what)?;
        let rough_tex = self.texture_info(tex, what)?;
        let e = sheen_albedo_table(rough);
        Ok((
            [color[0], color[1], color[2], rough],
            [color_tex as f32, rough_tex as f32],
            [[e[0], e[1], e[2], e[3]], [e[4], e[5], e[6], e[7]]],
        ))
    }

    /// KHR_materials_transmission and KHR_materials_volume: the `trans` and `atten` records.
    fn transmission(
        &mut self,
        m: &gltf::Material,
        ior: f32,
        what: &str,
    ) -> Result<([f32; 4], [f32; 4]), SceneError> {
        let Some(t) = m.transmission() else {
            return Ok(([0.0, -1.0, ior, THIN_WALLED], [0.0; 4]));
        };
        let factor = t.transmission_factor();
        let tex = self.texture_info(t.transmission_texture().map(TexUse::info), what)?;
        let volume = m.volume();
        let thickness = volume.as_ref().map_or(0.0, |v| v.thickness_factor());
        let (color, distance) = volume.as_ref().map_or(([1.0; 3], f32::INFINITY), |v| {
            (v.attenuation_color(), v.attenuation_distance())
        });
        let bad = |v: f32| !v.is_finite() || v < 0.0;
        if bad(factor) || bad(thickness) || color.iter().any(|c| bad(*c)) || distance.is_nan() {
            return Err(SceneError::data(
                what,
                "negative or non-finite transmission or volume factors",
            ));
        }
        if distance <= 0.0 {
            return Err(SceneError::data(
                what,
                "attenuationDistance must be positive",
            ));
        }
        if volume
            .as_ref()
            .is_some_and(|v| v.thickness_texture().is_some())
        {
            self.warnings.push(format!(
                "{what}: thickness texture ignored (the mesh itself is the volume)"
            ));
        }
        // Beer–Lambert: transmittance colour^(x / distance) = exp(−σx), σ = −ln(colour)/distance.
        let sigma = color.map(|c| {
            if distance.is_infinite() || c >= 1.0 {
                0.0
            } else {
                (-c.max(1e-6).ln() / distance).min(1e6)
            }
        });
        let thin = if thickness > 0.0 { 0.0 } else { THIN_WALLED };
        Ok((
            [factor.min(1.0), tex as f32, ior.max(1.0), thin],
            [sigma[0], sigma[1], sigma[2], 0.0],
        ))
    }

    /// The GPU texture for one use of a texture (its UV set and transform); −1 for none.
    fn texture_info(&mut self, info: Option<TexUse>, what: &str) -> Result<i32, SceneError> {
        let Some(TexUse {
            texture: tex,
            set,
            transform,
        }) = info
        else {
            return Ok(-1);
        };
        if set > 1 {
            return Err(SceneError::unsupported(
                what,
                format!("TEXCOORD_{set} (only TEXCOORD_0 and TEXCOORD_1)"),
            ));
        }
        let [ox, oy, rotation, sx, sy] = transform;
        if transform.iter().any(|v| !v.is_finite()) {
            return Err(SceneError::data(what, "non-finite KHR_texture_transform"));
        }
        // KHR_texture_transform: uv' = T·R·S·uv, R turning the UVs counter-clockwise (v down).
        let (sin, cos) = rotation.sin_cos();
        let u_row = [cos * sx, sin * sy, ox, set as f32];
        let v_row = [-sin * sx, cos * sy, oy, 0.0];
        let key = (
            tex.index(),
            u_row.map(f32::to_bits),
            v_row.map(f32::to_bits),
        );
        if let Some(&i) = self.textures.get(&key) {
            return Ok(i);
        }
        let image = tex.source();
        let (offset, w, h) = match self.images.get(&image.index()) {
            Some(v) => *v,
            None => {
                let bytes = self.image_bytes(&image)?;
                let name = format!("image {}", image.index());
                let img = decode_image(
                    &bytes,
                    &name,
                    self.limits,
                    self.texels.len() as u64 * 4,
                    (self.texels.len() as u64 * 4, 4),
                )?
                .to_rgba8();
                let offset = self.texels.len() as u32;
                self.texels
                    .extend(img.pixels().map(|p| u32::from_le_bytes(p.0)));
                let v = (offset, img.width(), img.height());
                self.images.insert(image.index(), v);
                v
            }
        };
        let wrap = |m: gltf::texture::WrappingMode| match m {
            gltf::texture::WrappingMode::Repeat => 0u32,
            gltf::texture::WrappingMode::ClampToEdge => 1,
            gltf::texture::WrappingMode::MirroredRepeat => 2,
        };
        let s = tex.sampler();
        let idx = self.gpu_textures.len() as i32;
        self.gpu_textures.push(GpuTexture {
            info: [offset, w, h, wrap(s.wrap_s()) | (wrap(s.wrap_t()) << 8)],
            u_row,
            v_row,
        });
        self.textures.insert(key, idx);
        Ok(idx)
    }

    fn image_bytes(&self, image: &gltf::Image) -> Result<Vec<u8>, SceneError> {
        match image.source() {
            gltf::image::Source::View { view, .. } => {
                let buf = self.buffers.get(view.buffer().index()).ok_or_else(|| {
                    SceneError::data(format!("image {}", image.index()), "bad buffer")
                })?;
                let end = view
                    .offset()
                    .checked_add(view.length())
                    .filter(|e| *e <= buf.len())
                    .ok_or_else(|| {
                        SceneError::data(format!("image {}", image.index()), "view outside buffer")
                    })?;
                Ok(buf[view.offset()..end].to_vec())
            }
            gltf::image::Source::Uri { uri, .. } if uri.starts_with("data:") => {
                decode_data_uri(uri, self.limits.max_file_bytes)
            }
            gltf::image::Source::Uri { uri, .. } => (self.resolve)(uri),
        }
    }

    /// The environment the scene's extras set, if any.
    fn environment(&mut self, scene: &gltf::Scene) -> Result<Option<Environment>, SceneError> {
        let Some(raw) = scene.extras() else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(raw.get())
            .map_err(|e| SceneError::data("scene extras", e.to_string()))?;
        let Some(env) = v.get("tessera_environment") else {
            return Ok(None);
        };
        let strength = env.get("strength").and_then(|s| s.as_f64()).unwrap_or(1.0) as f32;
        if !strength.is_finite() || strength < 0.0 {
            return Err(SceneError::data("tessera_environment", "bad strength"));
        }
        if let Some(uri) = env.get("image").and_then(|u| u.as_str()) {
            let bytes = if uri.starts_with("data:") {
                decode_data_uri(uri, self.limits.max_file_bytes)?
            } else {
                (self.resolve)(uri)?
            };
            let img = decode_image(
                &bytes,
                uri,
                self.limits,
                self.texels.len() as u64 * 4,
                (0, 16),
            )?;
            let linear_source = matches!(
                img,
                image::DynamicImage::ImageRgb32F(_) | image::DynamicImage::ImageRgba32F(_)
            );
            let rgb = img.to_rgb32f();
            let conv = |c: f32| if linear_source { c } else { srgb_to_linear(c) };
            let (width, height) = rgb.dimensions();
            let px = rgb
                .pixels()
                .map(|p| [conv(p.0[0]), conv(p.0[1]), conv(p.0[2])])
                .collect::<Vec<_>>();
            if px.iter().flatten().any(|c| !c.is_finite()) {
                return Err(SceneError::data(uri, "non-finite environment texels"));
            }
            return Ok(Some(Environment::Image {
                width,
                height,
                rgb: px,
                strength,
            }));
        }
        if let Some(c) = env.get("color").and_then(|c| c.as_array()) {
            let c: Vec<f32> = c
                .iter()
                .filter_map(|x| x.as_f64())
                .map(|x| x as f32)
                .collect();
            if c.len() != 3 || c.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(SceneError::data(
                    "tessera_environment",
                    "color must be 3 non-negative numbers",
                ));
            }
            return Ok(Some(Environment::Color([
                c[0] * strength,
                c[1] * strength,
                c[2] * strength,
            ])));
        }
        Err(SceneError::data(
            "tessera_environment",
            "needs \"color\" or \"image\"",
        ))
    }
}

type TexKey = (usize, [u32; 4], [u32; 4]);

/// One use of a texture by a material: the texture, its UV set and its KHR_texture_transform
/// (offset x, y, rotation, scale x, y).
pub(super) struct TexUse<'a> {
    texture: gltf::Texture<'a>,
    pub(super) set: u32,
    transform: [f32; 5],
}

const IDENTITY_UV_TRANSFORM: [f32; 5] = [0.0, 0.0, 0.0, 1.0, 1.0];

impl<'a> TexUse<'a> {
    pub(super) fn info(info: gltf::texture::Info<'a>) -> TexUse<'a> {
        match info.texture_transform() {
            Some(t) => TexUse {
                texture: info.texture(),
                set: t.tex_coord().unwrap_or(info.tex_coord()),
                transform: [
                    t.offset()[0],
                    t.offset()[1],
                    t.rotation(),
                    t.scale()[0],
                    t.scale()[1],
                ],
            },
            None => TexUse {
                texture: info.texture(),
                set: info.tex_coord(),
                transform: IDENTITY_UV_TRANSFORM,
            },
        }
    }

    /// The UV where this use samples the texture: KHR_texture_transform's T·R·S·uv, as the
    /// shader's `sample_tex` applies it (rows of `texture_info`).
    pub(super) fn apply(&self, uv: [f32; 2]) -> [f32; 2] {
        let [ox, oy, rotation, sx, sy] = self.transform;
        let (sin, cos) = rotation.sin_cos();
        [
            cos * sx * uv[0] + sin * sy * uv[1] + ox,
            -sin * sx * uv[0] + cos * sy * uv[1] + oy,
        ]
    }

    /// The normal texture's use (`gltf` leaves its KHR_texture_transform in the JSON).
    pub(super) fn normal(n: gltf::material::NormalTexture<'a>) -> TexUse<'a> {
        let t = n.extensions().and_then(|e| e.get("KHR_texture_transform"));
        TexUse::with_json_transform(n.texture(), n.tex_coord(), t)
    }

    /// A textureInfo written in an extension's JSON (`{"index", "texCoord", "extensions"}`),
    /// which `gltf` does not validate: the index is checked here.
    pub(super) fn json(
        doc: &'a gltf::Document,
        info: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<Option<TexUse<'a>>, SceneError> {
        let Some(info) = info else {
            return Ok(None);
        };
        let texture = info
            .get("index")
            .and_then(|i| i.as_u64())
            .and_then(|i| doc.textures().nth(i.min(usize::MAX as u64) as usize))
            .ok_or_else(|| SceneError::data(what, "extension texture index out of range"))?;
        let set = match info.get("texCoord") {
            None => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| SceneError::data(what, "bad texCoord"))?
                .min(u32::MAX as u64) as u32,
        };
        let t = info
            .get("extensions")
            .and_then(|e| e.get("KHR_texture_transform"));
        Ok(Some(TexUse::with_json_transform(texture, set, t)))
    }

    fn with_json_transform(
        texture: gltf::Texture<'a>,
        set: u32,
        t: Option<&serde_json::Value>,
    ) -> TexUse<'a> {
        let mut out = TexUse {
            texture,
            set,
            transform: IDENTITY_UV_TRANSFORM,
        };
        let Some(t) = t else {
            return out;
        };
        let num = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_f64()).map(|x| x as f32);
        let pair = |key: &str, default: [f32; 2]| match t.get(key).and_then(|v| v.as_array()) {
            Some(a) if a.len() == 2 => [
                num(a.first()).unwrap_or(f32::NAN),
                num(a.get(1)).unwrap_or(f32::NAN),
            ],
            Some(_) => [f32::NAN; 2],
            None => default,
        };
        let offset = pair("offset", [0.0, 0.0]);
        let scale = pair("scale", [1.0, 1.0]);
        let rotation = match t.get("rotation") {
            Some(r) => num(Some(r)).unwrap_or(f32::NAN),
            None => 0.0,
        };
        out.transform = [offset[0], offset[1], rotation, scale[0], scale[1]];
        if let Some(set) = t.get("texCoord").and_then(|v| v.as_u64()) {
            out.set = set.min(u32::MAX as u64) as u32;
        }
        out
    }
}

/// A factor in [0, 1] of an extension's JSON object (`default` when absent).
fn json_factor(
    obj: &serde_json::Value,
    key: &str,
    default: f32,
    what: &str,
) -> Result<f32, SceneError> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| x.min(1.0) as f32)
            .ok_or_else(|| SceneError::data(what, format!("bad {key}"))),
    }
}

/// Smallest sheen roughness the shader uses: below it the Charlie lobe is too narrow for f32.
pub(crate) const MIN_SHEEN_ROUGHNESS: f32 = 0.07;

/// The sheen lobe at roughness r (α = r², as glTF defines it): Charlie distribution
/// D(h) = (2 + 1/α) sin^(1/α)θh / 2π with Neubelt's visibility 1 / (4 (n·l + n·v − n·l n·v)),
/// times n·l, for unit sheen colour. The shader evaluates the same (`sheen_f_cos`).
pub(crate) fn sheen_f_cos(r: f32, nv: f64, nl: f64, nh: f64) -> f64 {
    let alpha = (r.max(MIN_SHEEN_ROUGHNESS) as f64).powi(2);
    let sin2 = (1.0 - nh * nh).max(0.0);
    let d = (2.0 + 1.0 / alpha) * sin2.powf(0.5 / alpha) / (2.0 * std::f64::consts::PI);
    d / (4.0 * (nl + nv - nl * nv)) * nl
}

/// Directional albedo E(μ) = ∫ f cos dω of the sheen lobe at μ = k/7 (midpoint rule over the
/// hemisphere), for glTF's albedo scaling of the layers under the sheen.
pub(crate) fn sheen_albedo_table(r: f32) -> [f32; 8] {
    let (nt, np) = (192, 96);
    let pi = std::f64::consts::PI;
    std::array::from_fn(|k| {
        let mu = (k as f64 / 7.0).max(1e-3);
        let wo = [(1.0 - mu * mu).sqrt(), 0.0, mu];
        let mut sum = 0.0;
        for i in 0..nt {
            let th = (i as f64 + 0.5) * (pi / 2.0) / nt as f64;
            for j in 0..np {
                let ph = (j as f64 + 0.5) * pi / np as f64; // symmetric in φ: half, doubled
                let wi = [th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()];
                let h = [wo[0] + wi[0], wo[1] + wi[1], wo[2] + wi[2]];
                let hl = (h[0] * h[0] + h[1] * h[1] + h[2] * h[2]).sqrt();
                let nh = h[2] / hl;
                sum += sheen_f_cos(r, mu, wi[2], nh) * th.sin();
            }
        }
        (sum * 2.0 * (pi / 2.0 / nt as f64) * (pi / np as f64)) as f32
    })
}

fn default_material() -> GpuMaterial {
    GpuMaterial {
        base: [1.0; 4],
        emissive: [0.0, 0.0, 0.0, 0.0],
        pbr: [1.0, 1.0, 0.04, 1.0],
        tex: [-1, -1, -1, 0],
        spec_tint: [1.0, 1.0, 1.0, 0.0],
        ext: [-1.0, 1.0, ALPHA_OPAQUE, 0.5],
        trans: [0.0, -1.0, 1.5, THIN_WALLED],
        atten: [0.0, 0.0, 0.0, -1.0],
        coat: [0.0, 0.0, -1.0, -1.0],
        layer_tex: [-1.0, 1.0, -1.0, -1.0],
        sheen: [0.0; 4],
        sheen_e: [[0.0; 4]; 2],
    }
}

fn decode_image(
    bytes: &[u8],
    name: &str,
    limits: &SceneLimits,
    used: u64,
    // Bytes already in the GPU array this image goes to, and bytes per texel there.
    (array_used, texel_size): (u64, u64),
) -> Result<image::DynamicImage, SceneError> {
    let err = |e: &dyn std::fmt::Display| SceneError::Image {
        name: name.to_owned(),
        detail: e.to_string(),
    };
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err(&e))
    };
    // Read only the header first: refuse absurd dimensions before any pixel allocation.
    let (w, h) = reader()?.into_dimensions().map_err(|e| err(&e))?;
    let max = limits.max_texture_dimension;
    if w == 0 || h == 0 || w > max || h > max {
        return Err(SceneError::Limit(format!(
            "{name} is {w}×{h} (max {max}×{max})"
        )));
    }
    let texel_bytes = array_used + (w as u64) * (h as u64) * texel_size;
    if texel_bytes > limits.max_array_bytes {
        return Err(SceneError::Limit(format!(
            "{name} ({w}×{h}) needs a texel array of {texel_bytes} bytes ({texel_size} per texel, \
             with the textures before it), over the device's maxStorageBufferRange of {} bytes",
            limits.max_array_bytes
        )));
    }
    let budget = limits.max_texture_bytes.saturating_sub(used);
    if (w as u64) * (h as u64) * 4 > budget {
        return Err(SceneError::Limit(format!(
            "textures exceed {} bytes",
            limits.max_texture_bytes
        )));
    }
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(max);
    lim.max_image_height = Some(max);
    // Decoders may hold a float copy (HDR) while converting.
    lim.max_alloc = Some(budget.saturating_mul(4).max(1 << 20));
    let mut r = reader()?;
    r.limits(lim);
    r.decode().map_err(|e| err(&e))
}

pub(crate) fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn punctual_light(
    light: &gltf::khr_lights_punctual::Light,
    world: &M4,
) -> Result<GpuLight, SceneError> {
    use gltf::khr_lights_punctual::Kind;
    let c = light.color();
    let i = light.intensity() / LUMENS_PER_WATT;
    let color = [c[0] * i, c[1] * i, c[2] * i, 0.0];
    if color.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(SceneError::data(
            format!("light {}", light.index()),
            "bad color or intensity",
        ));
    }
    let p = math::column(world, 3);
    let d =
        math::normalize(math::transform_dir(world, [0.0, 0.0, -1.0])).unwrap_or([0.0, 0.0, -1.0]);
    let (kind, cone) = match light.kind() {
        Kind::Point => (LIGHT_POINT, [0.0; 4]),
        Kind::Directional => (LIGHT_DIRECTIONAL, [0.0; 4]),
        Kind::Spot {
            inner_cone_angle,
            outer_cone_angle,
        } => {
            // As Blender imports it: spot size 2·outer, spot blend 1 − inner/outer; Cycles
            // blends over a ring of (1 − cos outer) × blend in cosine inside the outer cone.
            let co = outer_cone_angle.cos();
            let blend = (1.0 - inner_cone_angle / outer_cone_angle.max(1e-6)).clamp(0.0, 1.0);
            (LIGHT_SPOT, [co, (1.0 - co) * blend, 0.0, 0.0])
        }
    };
    Ok(GpuLight {
        pos: [p[0], p[1], p[2], 0.0],
        dir: [d[0], d[1], d[2], 0.0],
        color,
        meta: [kind as f32, 0.0, 0.0, 0.0],
        cone,
        uv: [0.0; 4],
    })
}

/// Checks what `gltf` 1.4 indexes without a bounds check, or never validates and unwraps later,
/// so that a bad file is an error rather than a panic (found by `tests/fuzz.rs`): primitives'
/// attribute accessors (its validation reads the POSITION accessor), and animation channel
/// targets (node index and path, which its validation skips).
fn check_unvalidated(root: &gltf::json::Root) -> Result<(), SceneError> {
    let bad = |what: String| Err(SceneError::Gltf(what));
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (p, prim) in mesh.primitives.iter().enumerate() {
            for acc in prim.attributes.values() {
                if acc.value() >= root.accessors.len() {
                    return bad(format!(
                        "mesh {m} primitive {p}: attribute accessor {} out of range ({} accessors)",
                        acc.value(),
                        root.accessors.len()
                    ));
                }
            }
        }
    }
    for (a, anim) in root.animations.iter().enumerate() {
        for (c, channel) in anim.channels.iter().enumerate() {
            let node = channel.target.node.value();
            if node >= root.nodes.len() {
                return bad(format!(
                    "animation {a} channel {c}: target node {node} out of range ({} nodes)",
                    root.nodes.len()
                ));
            }
            if !matches!(
                channel.target.path,
                gltf::json::validation::Checked::Valid(_)
            ) {
                return bad(format!(
                    "animation {a} channel {c}: unknown target path (translation, rotation, scale or weights)"
                ));
            }
        }
    }
    Ok(())
}

/// (node name, camera name, world matrix, ([`Camera::scale_y`], orthographic)).
type CameraEntry = (Option<String>, Option<String>, M4, (f32, bool));

/// Index of the camera `want` names (node name, camera name, or index in scene order);
/// the first camera when `want` is `None`.
fn pick_camera(cameras: &[CameraEntry], want: Option<&str>) -> Result<usize, SceneError> {
    match want {
        None => (!cameras.is_empty()).then_some(0),
        Some(w) => cameras
            .iter()
            .position(|c| c.0.as_deref() == Some(w) || c.1.as_deref() == Some(w))
            .or_else(|| w.parse::<usize>().ok().filter(|i| *i < cameras.len())),
    }
    .ok_or_else(|| match want {
        None => SceneError::data("scene", "no camera"),
        Some(w) => SceneError::data(
            "scene",
            format!(
                "no camera named or numbered {w:?} (or \"{AUTO_CAMERA}\" for an automatic one)"
            ),
        ),
    })
}

fn file_camera(entry: &CameraEntry) -> Result<Camera, SceneError> {
    let (_, _, m, proj) = entry;
    let right = math::normalize(math::column(m, 0));
    let up = math::normalize(math::column(m, 1));
    let back = math::normalize(math::column(m, 2));
    let (Some(right), Some(up), Some(back)) = (right, up, back) else {
        return Err(SceneError::data("camera", "degenerate transform"));
    };
    let (scale_y, orthographic) = *proj;
    if !(scale_y.is_finite() && scale_y > 0.0) {
        return Err(SceneError::data(
            "camera",
            "bad field of view or magnification",
        ));
    }
    Ok(Camera {
        position: math::column(m, 3),
        right,
        up,
        forward: math::scale(back, -1.0),
        scale_y,
        orthographic,
    })
}

/// The automatic camera: perspective, [`AUTO_CAMERA_YFOV_DEGREES`] vertical field of view, looking
/// along −Z (+Y up) at the centre of the box `lo`–`hi` from the distance at which the box's
/// bounding sphere just fits the vertical field of view (and so any frame at least as wide as
/// it is tall).
pub(super) fn auto_camera(lo: V3, hi: V3) -> Camera {
    let centre = math::scale(math::add(lo, hi), 0.5);
    let radius = (0.5 * math::length(math::sub(hi, lo))).max(1e-3);
    let half = (AUTO_CAMERA_YFOV_DEGREES as f32).to_radians() * 0.5;
    let distance = radius / half.sin();
    Camera {
        position: math::add(centre, [0.0, 0.0, distance]),
        right: [1.0, 0.0, 0.0],
        up: [0.0, 1.0, 0.0],
        forward: [0.0, 0.0, -1.0],
        scale_y: half.tan(),
        orthographic: false,
    }
}

fn tri_bounds(tris: &[[V3; 3]]) -> (V3, V3) {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for t in tris {
        for p in t {
            lo = math::min3(lo, *p);
            hi = math::max3(hi, *p);
        }
    }
    (lo, hi)
}

fn scene_radius(tris: &[[V3; 3]]) -> f32 {
    let (lo, hi) = tri_bounds(tris);
    0.5 * math::length(math::sub(hi, lo)).max(1e-3)
}
