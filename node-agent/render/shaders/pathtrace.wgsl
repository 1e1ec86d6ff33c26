// Tessera path tracer: one invocation per pixel of a tile, samples [s_begin, s_end) per dispatch.
// Unbiased: next-event estimation with MIS (power heuristic) for emissive triangles, NEE for
// punctual lights, GGX (VNDF sampling) + Burley diffuse, Russian roulette after 3 bounces.
// Each pixel's random sequence depends only on (frame pixel, sample index, seed), and samples
// are summed one by one in index order, so any split of the work gives identical bytes.

struct Params {
    tile: vec4<u32>,     // x, y, width, height of the tile in the frame
    frame: vec4<u32>,    // frame width, frame height, first tile row of this dispatch, rows
    samples: vec4<u32>,  // 0: start afresh, else go on from accum.w; end sample (exclusive), max bounces, max samples per pixel in this dispatch
    seed: vec4<u32>,     // seed low, seed high, unused, unused
}
var<immediate> params: Params;

struct Globals {
    cam_pos: vec4<f32>,
    cam_right: vec4<f32>,
    cam_up: vec4<f32>,
    cam_fwd: vec4<f32>,
    cam_params: vec4<f32>, // scale_y, unused, orthographic
    env_color: vec4<f32>,  // rgb, w = image strength
    env_info: vec4<u32>,   // has image, width, height
    counts: vec4<u32>,     // lights, triangles, nodes (per copy), octant copies (1) or not (0)
    bvh_origin: vec4<f32>, // packed node bounds: origin + f32(q) * step, per axis
    bvh_step: vec4<f32>,
    srgb: array<vec4<f32>, 256>, // x: the linear value of each 8-bit sRGB code
}
struct Tri { v0: vec4<f32>, e1: vec4<f32>, e2: vec4<f32> }
struct Shade { n0: vec4<f32>, n1: vec4<f32>, n2: vec4<f32>, extra: vec4<f32> }
// ext: normal texture index (−1 none), normal scale, alpha mode (0 opaque, 1 mask, 2 blend), cutoff.
// trans: transmission factor, its texture (−1 none), ior, 1 when thin-walled; atten.xyz: the
// volume's absorption coefficient σ, atten.w the specular colour texture (tex.w: the specular
// texture); coat: clearcoat factor, roughness, their textures; layer_tex: clearcoat normal
// texture and scale, sheen colour and roughness textures; sheen: colour, roughness; sheen_e0/1:
// the sheen lobe's albedo E(k/7), k = 0…7 (src/scene/mod.rs `GpuMaterial`).
struct Material { base: vec4<f32>, emissive: vec4<f32>, pbr: vec4<f32>, tex: vec4<i32>, spec_tint: vec4<f32>, ext: vec4<f32>, trans: vec4<f32>, atten: vec4<f32>, coat: vec4<f32>, layer_tex: vec4<f32>, sheen: vec4<f32>, sheen_e0: vec4<f32>, sheen_e1: vec4<f32> }
// info: texel offset, width, height, wrap modes; u_row/v_row: UV transform rows, u_row.w = UV set.
struct Texture { info: vec4<u32>, u_row: vec4<f32>, v_row: vec4<f32> }
// Per-vertex attributes of a triangle (src/scene/mod.rs `GpuAttrs`): tangents (w = bitangent
// sign), linear RGBA vertex colours, TEXCOORD_1 (uva = vertices 0 and 1, uvb.xy = vertex 2).
struct Attr { t0: vec4<f32>, t1: vec4<f32>, t2: vec4<f32>, c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, uva: vec4<f32>, uvb: vec4<f32> }
// A triangle light also holds its triangle (dir, color, cone = v0, e1, e2) and UVs (uv, pos.yz).
struct Light { pos: vec4<f32>, dir: vec4<f32>, color: vec4<f32>, info: vec4<f32>, cone: vec4<f32>, uv: vec4<f32> }

// A uniform buffer: read at the same offset by every invocation, a scalar load on CPU drivers.
@group(0) @binding(0) var<uniform> globals: Globals;
// SCENE_ARRAYS_BEGIN (build.rs swaps this block for uniform buffers in the small-scene variants)
// Packed BVH nodes (src/scene/bvh.rs `pack`): 16-bit bounds on a grid, index | count << 24.
@group(0) @binding(1) var<storage, read> nodes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> tris: array<Tri>;
@group(0) @binding(3) var<storage, read> shades: array<Shade>;
@group(0) @binding(4) var<storage, read> materials: array<Material>;
@group(0) @binding(7) var<storage, read> lights: array<Light>;
fn node_at(i: u32) -> vec4<u32> { return nodes[i]; }
fn tri_at(i: u32) -> Tri { return tris[i]; }
fn shade_at(i: u32) -> Shade { return shades[i]; }
fn material_at(i: u32) -> Material { return materials[i]; }
fn light_at(i: u32) -> Light { return lights[i]; }
// Per-vertex attribute records, indexed by a triangle's e1.w bits − 1 (0: no record). The last
// binding of each variant (src/render/layout.rs `attrs`).
@group(0) @binding(10) var<storage, read> attrs: array<Attr>;
// SCENE_ARRAYS_END
@group(0) @binding(5) var<storage, read> textures: array<Texture>;
@group(0) @binding(6) var<storage, read> texels: array<u32>;
@group(0) @binding(8) var<storage, read> env_texels: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> accum: array<vec4<f32>>;

// build.rs also compiles this file with these set to false, for scenes without textures (every
// texture index is then −1), attribute records and alpha-tested materials, or without punctual lights (every light is an emissive triangle):
// the same result, without paying for masked-off code on CPU drivers.
const HAS_TEXTURES: bool = true;
const HAS_PUNCTUAL: bool = true;
// False for scenes without MASK/BLEND or unlit materials: the alpha test then costs every
// triangle test nothing (it holds a material read and a texture lookup).
const HAS_ALPHA: bool = true;
const PI: f32 = 3.14159265358979;
const NO_HIT: u32 = 0xffffffffu;
const BIG: f32 = 1e30;
const LIGHT_TRIANGLE: u32 = 0u;
const LIGHT_POINT: u32 = 1u;
const LIGHT_SPOT: u32 = 2u;
// A triangle's material bits (v0.w): the index, and this bit when the material is MASK or BLEND.
const ALPHA_BIT: u32 = 0x80000000u;
const MATERIAL_MASK: u32 = 0x7fffffffu;

// ---------------- random numbers (PCG) ----------------
var<private> rng: u32;
// Set when a loop ended while its own condition still held: llvmpipe (lavapipe) of Mesa 22 stops
// every loop of an invocation after 65 535 iterations per dispatch. The sample in flight is then
// dropped; the pixel's count of summed samples (accumulator w) tells the host where to go on.
var<private> cut: bool;
// Seeds the BLEND coin flips of the ray being traced (per pixel, sample, bounce, ray kind), so
// that stochastic transparency is as deterministic as the rest of a pixel's randomness.
var<private> alpha_key: u32;
// Whether the ray being traced is a camera ray: unlit materials are transparent to all others.
var<private> camera_trace: bool;

fn pcg_hash(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}
fn rand() -> f32 {
    rng = rng * 747796405u + 2891336453u;
    let s = rng;
    var w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    w = (w >> 22u) ^ w;
    return f32(w >> 8u) * (1.0 / 16777216.0);
}

// ---------------- traversal ----------------
struct Hit { t: f32, tri: u32, u: f32, v: f32 }

// Whether the ray enters a packed node's box before tmax. The box is `origin + q * step`; with
// scale = step / d and offset = (origin - o) / d precomputed per ray, each slab distance is one
// multiply-add.
fn box_entered(qnear: vec3<f32>, qfar: vec3<f32>, scale: vec3<f32>, offset: vec3<f32>, tmax: f32) -> bool {
    let tn = bitcast<vec3<i32>>(qnear * scale + offset);
    let tf = bitcast<vec3<i32>>(qfar * scale + offset);
    // max(tn, 0) <= min(tf, tmax) on the bits as integers: they order floats ≥ 0 as the floats
    // do, and every negative float below them, which is all this test needs (tmax > 0). Float
    // min/max cost three instructions each on CPU drivers (they handle NaN), integer ones one.
    let a = max(max(tn.x, tn.y), max(tn.z, 0));
    let b = min(min(tf.x, tf.y), min(tf.z, bitcast<i32>(tmax)));
    return a <= b;
}

// One node visit of the walk to the next leaves (see `trace`). Returns true once a second leaf
// is found. Branch-free (cheaper under a lane mask): a missed inner node skips its subtree;
// anything else moves on in pre-order.
fn walk_step(node: ptr<function, u32>, leaves: ptr<function, vec4<u32>>, scale: vec3<f32>, offset: vec3<f32>, neg: vec3<bool>, tmax: f32) -> bool {
    let n = node_at(*node);
    let qmin = vec3<u32>(n.x & 0xffffu, n.x >> 16u, n.y & 0xffffu);
    let qmax = vec3<u32>(n.y >> 16u, n.z & 0xffffu, n.z >> 16u);
    let index = n.w & 0xffffffu;
    let count = n.w >> 24u;
    let qnear = select(qmin, qmax, neg);
    let qfar = select(qmax, qmin, neg);
    let entered = box_entered(vec3<f32>(qnear), vec3<f32>(qfar), scale, offset, tmax);
    let leaf = count > 0u;
    *node = select(*node + 1u, index, !entered && !leaf);
    let take = entered && leaf;
    let l = *leaves;
    let second = take && l.x != l.y;
    *leaves = select(l, vec4<u32>(index, index + count, l.z, l.w), take && !second);
    if (second) {
        *leaves = vec4<u32>(l.x, l.y, index, index + count);
    }
    return second;
}

// A ray's traversal set-up: per-axis slab constants for the packed bounds, the BVH copy to walk
// and its first node.
struct Walk { scale: vec3<f32>, offset: vec3<f32>, neg: vec3<bool>, node: u32, end: u32 }

fn walk_setup(o: vec3<f32>, d: vec3<f32>) -> Walk {
    let dd = select(d, vec3<f32>(1e-20), abs(d) < vec3<f32>(1e-20));
    let inv = 1.0 / dd;
    // With octant copies (counts.w = 1) the tree ordered nearest child first for this ray's
    // direction octant starts at octant × nodes (src/scene/bvh.rs `octant_copies`).
    let oct = select(0u, 1u, d.x < 0.0) | select(0u, 2u, d.y < 0.0) | select(0u, 4u, d.z < 0.0);
    let base = select(0u, oct * globals.counts.z, globals.counts.w != 0u);
    let scale = globals.bvh_step.xyz * inv;
    let offset = (globals.bvh_origin.xyz - o) * inv;
    let neg = inv < vec3<f32>(0.0); // which bound of each slab the ray meets first
    // A ray that starts inside the root box (every bounce and shadow ray) enters it: such rays
    // start at the root's first child, one node visit less. (Skipping a box test never loses a
    // hit; the root test only saves work for rays from outside that miss the scene.) The
    // quantisation grid spans the root box.
    let root_max = globals.bvh_origin.xyz + globals.bvh_step.xyz * 65535.0;
    let inside = all(o >= globals.bvh_origin.xyz) && all(o <= root_max);
    let node = base + select(0u, 1u, inside && globals.counts.z > 1u);
    return Walk(scale, offset, neg, node, base + globals.counts.z);
}

// Ray–triangle test (Möller–Trumbore): (t, u, v), t = BIG where the ray misses.
fn tri_test(tr: Tri, o: vec3<f32>, d: vec3<f32>) -> vec3<f32> {
    let e1 = tr.e1.xyz;
    let e2 = tr.e2.xyz;
    let p = cross(d, e2);
    let det = dot(e1, p);
    let inv_det = 1.0 / det;
    let s = o - tr.v0.xyz;
    let u = dot(s, p) * inv_det;
    let q = cross(s, e1);
    let v = dot(d, q) * inv_det;
    let t = dot(e2, q) * inv_det;
    let take = abs(det) > 1e-20 && u >= 0.0 && v >= 0.0 && u + v <= 1.0 && t > 0.0;
    return vec3<f32>(select(BIG, t, take), u, v);
}

// Closest hit below tmax.
// Stackless pre-order traversal with skip links (no private arrays: fast on lavapipe too).
fn trace(o: vec3<f32>, d: vec3<f32>, tmax_in: f32) -> Hit {
    var hit = Hit(tmax_in, NO_HIT, 0.0, 0.0);
    let w = walk_setup(o, d);
    var node = w.node;
    var finished = false;
    // Two phases per round, so that lanes of a SIMD group (CPU drivers run both sides of every
    // branch under a mask) do not pay for a triangle test at every inner node: first walk the
    // nodes to the next two leaves the ray enters, then test their triangles. Two leaves per
    // round: a lane that finds its first leaf early walks on instead of idling until the whole
    // group has one (−2.7% instructions; the second walk uses the older, longer tmax).
    loop {
        var leaves = vec4<u32>(0u); // first leaf's triangles [x, y), second's [z, w)
        while (node < w.end) {
            if (walk_step(&node, &leaves, w.scale, w.offset, w.neg, hit.t)) { break; }
        }
        if (leaves.x == leaves.y) {
            if (node < w.end) { cut = true; } // the walk stopped before the end: cut short
            finished = true;
            break;
        }
        let n1 = leaves.y - leaves.x;
        let total = n1 + (leaves.w - leaves.z);
        for (var k = 0u; k < total; k = k + 1u) {
            let i = select(leaves.z + (k - n1), leaves.x + k, k < n1);
            let tr = tri_at(i);
            let r = tri_test(tr, o, d);
            var take = r.x < hit.t;
            // Alpha: a MASK/BLEND triangle lets the ray through where it is transparent.
            if (HAS_TEXTURES && HAS_ALPHA && take && (bitcast<u32>(tr.v0.w) & ALPHA_BIT) != 0u) {
                take = !see_through(i, tr, r.y, r.z);
            }
            if (take) { hit = Hit(r.x, i, r.y, r.z); }
        }
    }
    if (!finished) { cut = true; } // left the loop without its `break`: cut short
    return hit;
}

// Whether anything opaque lies on the ray before tmax (shadow rays): an any-hit walk that stops
// at the first such triangle, with no closest-hit bookkeeping (its tmax never shrinks).
fn occluded(o: vec3<f32>, d: vec3<f32>, tmax: f32) -> bool {
    let w = walk_setup(o, d);
    var node = w.node;
    var blocked = false;
    var finished = false;
    loop {
        var leaves = vec4<u32>(0u);
        while (node < w.end) {
            if (walk_step(&node, &leaves, w.scale, w.offset, w.neg, tmax)) { break; }
        }
        if (leaves.x == leaves.y) {
            if (node < w.end) { cut = true; }
            finished = true;
            break;
        }
        let n1 = leaves.y - leaves.x;
        let total = n1 + (leaves.w - leaves.z);
        for (var k = 0u; k < total; k = k + 1u) {
            let i = select(leaves.z + (k - n1), leaves.x + k, k < n1);
            let tr = tri_at(i);
            let r = tri_test(tr, o, d);
            var take = r.x < tmax;
            if (HAS_TEXTURES && HAS_ALPHA && take && (bitcast<u32>(tr.v0.w) & ALPHA_BIT) != 0u) {
                take = !see_through(i, tr, r.y, r.z);
            }
            if (take) { blocked = true; break; }
        }
        if (blocked) { finished = true; break; }
    }
    if (!finished) { cut = true; }
    return blocked;
}

// ---------------- textures ----------------
// The RGB bytes of an RGBA8 texel, decoded from sRGB by the table in the globals: a gather from
// a uniform buffer per channel costs lavapipe far less than a `pow` (a log2 and an exp2).
fn srgb_to_linear(texel: u32) -> vec3<f32> {
    return vec3<f32>(
        globals.srgb[texel & 0xffu].x,
        globals.srgb[(texel >> 8u) & 0xffu].x,
        globals.srgb[(texel >> 16u) & 0xffu].x,
    );
}

// i mod n in [0, n) without integer division, which CPU drivers run lane by lane as scalar
// divisions: exact for |i| < 2^24 (the floor estimate corrected by one step either way).
fn modulo(i: i32, n: i32) -> i32 {
    var r = i - n * i32(floor(f32(i) / f32(n)));
    r = select(r, r + n, r < 0);
    return select(r, r - n, r >= n);
}

// Texel index along one axis for wrap mode 0 repeat, 1 clamp, 2 mirrored repeat (branch-free).
fn wrap_coord(i: i32, n: i32, mode: u32) -> i32 {
    let m = modulo(i, 2 * n);
    let mirrored = select(m, 2 * n - 1 - m, m >= n);
    let r = select(select(modulo(i, n), mirrored, mode == 2u), i, mode == 1u);
    return clamp(r, 0, n - 1);
}

fn texel(info: vec4<u32>, ix: i32, iy: i32, srgb: bool) -> vec4<f32> {
    let p = texels[info.x + u32(iy * i32(info.y) + ix)];
    let c = unpack4x8unorm(p);
    if (srgb) {
        return vec4<f32>(srgb_to_linear(p), c.w);
    }
    return c;
}

// Bilinear lookup at the texture's UV set (uv0 or uv1) after its KHR_texture_transform;
// uv (0,0) is the top-left of the image, as in glTF.
fn sample_tex(index: i32, uv0: vec2<f32>, uv1: vec2<f32>, srgb: bool) -> vec4<f32> {
    if (index < 0) { return vec4<f32>(1.0); }
    let tx = textures[index];
    let st = vec3<f32>(select(uv0, uv1, tx.u_row.w > 0.5), 1.0);
    let uv = vec2<f32>(dot(tx.u_row.xyz, st), dot(tx.v_row.xyz, st));
    let info = tx.info;
    let p = clamp(uv * vec2<f32>(f32(info.y), f32(info.z)) - 0.5, vec2<f32>(-1e7), vec2<f32>(1e7));
    let f = floor(p);
    let t = p - f;
    let x = i32(f.x);
    let y = i32(f.y);
    // Each wrapped coordinate once (not once per texel).
    let w = i32(info.y);
    let h = i32(info.z);
    let x0 = wrap_coord(x, w, info.w & 0xffu);
    let x1 = wrap_coord(x + 1, w, info.w & 0xffu);
    let y0 = wrap_coord(y, h, (info.w >> 8u) & 0xffu);
    let y1 = wrap_coord(y + 1, h, (info.w >> 8u) & 0xffu);
    let a = mix(texel(info, x0, y0, srgb), texel(info, x1, y0, srgb), t.x);
    let b = mix(texel(info, x0, y1, srgb), texel(info, x1, y1, srgb), t.x);
    return mix(a, b, t.y);
}

// A triangle's second UV set at barycentrics (u, v) (0 without an attribute record).
fn hit_uv1(tr: Tri, u: f32, v: f32) -> vec2<f32> {
    let ai = bitcast<u32>(tr.e1.w);
    if (ai == 0u) { return vec2<f32>(0.0); }
    let a0 = attrs[ai - 1u].uva;
    let a1 = attrs[ai - 1u].uvb;
    return a0.xy * (1.0 - u - v) + a0.zw * u + a1.xy * v;
}

fn hit_uv0(sh: Shade, u: f32, v: f32) -> vec2<f32> {
    return vec2<f32>(sh.n0.w, sh.n1.w) * (1.0 - u - v) + vec2<f32>(sh.n2.w, sh.extra.x) * u + sh.extra.yz * v;
}

// Whether a ray passes through triangle i (material MASK or BLEND) at barycentrics (u, v):
// alpha = base colour alpha × vertex colour alpha × base texture alpha; MASK is transparent below
// its cutoff, BLEND with probability 1 − alpha (a hash of `alpha_key` and the triangle).
fn see_through(i: u32, tr: Tri, u: f32, v: f32) -> bool {
    let m = material_at(bitcast<u32>(tr.v0.w) & MATERIAL_MASK);
    // KHR_materials_unlit (spec_tint.w): seen by camera rays only, as Blender's importer does.
    if (m.spec_tint.w > 0.5) {
        if (!camera_trace) { return true; }
        if (m.ext.z < 0.5) { return false; }
    }
    var a = m.base.w;
    let ai = bitcast<u32>(tr.e1.w);
    if (ai > 0u) {
        let k = ai - 1u;
        a = a * (attrs[k].c0.w * (1.0 - u - v) + attrs[k].c1.w * u + attrs[k].c2.w * v);
    }
    if (m.tex.x >= 0) {
        a = a * sample_tex(m.tex.x, hit_uv0(shade_at(i), u, v), hit_uv1(tr, u, v), false).w;
    }
    if (m.ext.z < 1.5) { return a < m.ext.w; }
    let r = f32(pcg_hash(alpha_key ^ pcg_hash(i)) >> 8u) * (1.0 / 16777216.0);
    return r >= a;
}

// The normal n tilted by a tangent-space normal-map texel c (glTF: +X along the tangent, +Y
// along the bitangent cross(n, t) × sign, each of x, y scaled by `scale`).
fn perturb_normal(n: vec3<f32>, t4: vec4<f32>, c: vec3<f32>, scale: f32) -> vec3<f32> {
    let tn = vec3<f32>((c.xy * 2.0 - 1.0) * scale, c.z * 2.0 - 1.0);
    let tp = t4.xyz - n * dot(n, t4.xyz);
    let tl = length(tp);
    if (tl < 1e-6) { return n; }
    let t = tp / tl;
    let b = cross(n, t) * select(1.0, -1.0, t4.w < 0.0);
    let p = t * tn.x + b * tn.y + n * tn.z;
    let pl = length(p);
    if (pl < 1e-6) { return n; }
    return p / pl;
}

// Equirectangular environment, Blender's world orientation (glTF +Y up).
fn environment(d: vec3<f32>) -> vec3<f32> {
    let info = globals.env_info;
    if (info.x == 0u) { return globals.env_color.xyz; }
    let u = 0.5 + atan2(d.z, d.x) / (2.0 * PI);
    let v = acos(clamp(d.y, -1.0, 1.0)) / PI;
    let x = min(u32(clamp(u, 0.0, 1.0) * f32(info.y)), info.y - 1u);
    let y = min(u32(clamp(v, 0.0, 1.0) * f32(info.z)), info.z - 1u);
    return env_texels[y * info.y + x].xyz * globals.env_color.w;
}

// ---------------- BRDF ----------------
struct Surface {
    p: vec3<f32>,
    n: vec3<f32>,   // shading normal, on the side of the incoming ray
    ng: vec3<f32>,  // geometric normal, same side
    diffuse: vec3<f32>,
    f0: vec3<f32>,   // Fresnel of the specular lobe: mix(dielectric, base colour, metallic)
    f90: f32,
    f0_d: vec3<f32>, // the dielectric's own Fresnel, which the diffuse lies under
    f90_d: f32,
    alpha: f32,
    rough: f32,
    p_spec: f32,
    // Layers over the base (zero: none; `set_layers`), and the probability of sampling each.
    nc: vec3<f32>,   // clearcoat normal, on the side of the incoming ray
    coat: f32,
    coat_alpha: f32,
    p_coat: f32,
    sheen: vec3<f32>,
    sheen_rough: f32,
    sheen_max: f32,
    p_sheen: f32,
    sheen_e0: vec4<f32>,
    sheen_e1: vec4<f32>,
}

fn luminance(c: vec3<f32>) -> f32 { return dot(c, vec3<f32>(0.2126, 0.7152, 0.0722)); }

// x⁵ by multiplication: `pow` is exp2(log2(x)·y) on CPU drivers, tens of instructions.
fn pow5(x: f32) -> f32 {
    let x2 = x * x;
    return x2 * x2 * x;
}

fn fresnel(f0: vec3<f32>, f90: f32, c: f32) -> vec3<f32> {
    let k = pow5(clamp(1.0 - c, 0.0, 1.0));
    return f0 + (vec3<f32>(f90) - f0) * k;
}

fn ggx_d(nh: f32, a2: f32) -> f32 {
    let d = nh * nh * (a2 - 1.0) + 1.0;
    return a2 / (PI * d * d);
}
fn smith_g1(nv: f32, a2: f32) -> f32 {
    return 2.0 * nv / (nv + sqrt(a2 + (1.0 - a2) * nv * nv));
}

// f(wo, wi) * cos(wi) and the sampling pdf (solid angle) for a direction wi.
struct Eval { f_cos: vec3<f32>, pdf: f32 }

// The base BSDF (metallic-roughness) below any clearcoat or sheen layer.
fn eval_base(s: Surface, wo: vec3<f32>, wi: vec3<f32>) -> Eval {
    let nl = dot(s.n, wi);
    let nv = dot(s.n, wo);
    if (nl <= 0.0 || nv <= 0.0 || dot(s.ng, wi) <= 0.0) { return Eval(vec3<f32>(0.0), 0.0); }
    let h = normalize(wo + wi);
    let nh = max(dot(s.n, h), 0.0);
    let vh = max(dot(wo, h), 0.0);
    let a2 = s.alpha * s.alpha;
    let f = fresnel(s.f0, s.f90, vh);
    let d = ggx_d(nh, a2);
    let g1v = smith_g1(nv, a2);
    let spec = f * d * g1v * smith_g1(nl, a2) / (4.0 * nv * nl);
    // Burley (Disney) diffuse, as in Blender's Principled BSDF that glTF materials import to;
    // at roughness 0.4 its normal-incidence albedo equals Lambert's.
    let fd90 = 0.5 + 2.0 * s.rough * vh * vh;
    let fl = 1.0 + (fd90 - 1.0) * pow5(1.0 - nl);
    let fv = 1.0 + (fd90 - 1.0) * pow5(1.0 - nv);
    // glTF's mix(dielectric, metal, metallic): Schlick is linear in (F0, F90), so one specular
    // lobe with the mixed F0/F90 is exactly the mix of the two; the diffuse (weighted 1 − metallic)
    // is under the dielectric's specular layer, so only the dielectric Fresnel takes from it.
    let fd = fresnel(s.f0_d, s.f90_d, vh);
    let diff = s.diffuse / PI * fl * fv * (1.0 - max(fd.x, max(fd.y, fd.z)));
    let pdf_spec = d * g1v / (4.0 * nv);
    let pdf_diff = nl / PI;
    return Eval((spec + diff) * nl, mix(pdf_diff, pdf_spec, s.p_spec));
}

fn onb(n: vec3<f32>) -> mat3x3<f32> {
    let sgn = select(-1.0, 1.0, n.z >= 0.0);
    let a = -1.0 / (sgn + n.z);
    let b = n.x * n.y * a;
    let t = vec3<f32>(1.0 + sgn * n.x * n.x * a, sgn * b, -sgn * n.x);
    let bt = vec3<f32>(b, sgn + n.y * n.y * a, -n.y);
    return mat3x3<f32>(t, bt, n);
}

// Samples wi for the base BSDF: GGX visible normals (Heitz 2018) or cosine-weighted hemisphere.
fn sample_base(s: Surface, wo: vec3<f32>) -> vec3<f32> {
    let frame = onb(s.n);
    let u1 = rand();
    let u2 = rand();
    // Shared by both lobes (both sides of a branch run under a mask on CPU drivers).
    let r = sqrt(u1);
    let phi = 2.0 * PI * u2;
    let cos_phi = cos(phi);
    let sin_phi = sin(phi);
    if (rand() < s.p_spec) {
        let wl = transpose(frame) * wo;
        let vh = normalize(vec3<f32>(s.alpha * wl.x, s.alpha * wl.y, wl.z));
        let lensq = vh.x * vh.x + vh.y * vh.y;
        let t1v = select(vec3<f32>(1.0, 0.0, 0.0), vec3<f32>(-vh.y, vh.x, 0.0) / sqrt(lensq), lensq > 1e-12);
        let t2v = cross(vh, t1v);
        let t1 = r * cos_phi;
        let sv = 0.5 * (1.0 + vh.z);
        let t2 = (1.0 - sv) * sqrt(max(0.0, 1.0 - t1 * t1)) + sv * r * sin_phi;
        let nh = t1 * t1v + t2 * t2v + sqrt(max(0.0, 1.0 - t1 * t1 - t2 * t2)) * vh;
        let hl = normalize(vec3<f32>(s.alpha * nh.x, s.alpha * nh.y, max(1e-6, nh.z)));
        let h = frame * hl;
        return reflect(-wo, h);
    }
    let l = vec3<f32>(r * cos_phi, r * sin_phi, sqrt(max(0.0, 1.0 - u1)));
    return frame * l;
}

// ---------------- layers (KHR_materials_clearcoat, KHR_materials_sheen) ----------------
const MIN_SHEEN_ROUGHNESS: f32 = 0.07; // src/scene/gltf_load.rs: narrower Charlie lobes overflow f32

// The whole BSDF: the base, under glTF's sheen layer, under its clearcoat layer.
fn eval_brdf(s: Surface, wo: vec3<f32>, wi: vec3<f32>) -> Eval {
    let b = eval_base(s, wo, wi);
    if (!HAS_TEXTURES || (s.coat <= 0.0 && s.sheen_max <= 0.0)) { return b; }
    return eval_layers(s, wo, wi, b);
}

fn sample_brdf(s: Surface, wo: vec3<f32>) -> vec3<f32> {
    if (HAS_TEXTURES && s.p_coat + s.p_sheen > 0.0) {
        let u = rand();
        if (u < s.p_coat) {
            let frame = onb(s.nc);
            let u1 = rand();
            let u2 = rand();
            return reflect(-wo, frame * sample_vndf(transpose(frame) * wo, s.coat_alpha, u1, u2));
        }
        if (u < s.p_coat + s.p_sheen) {
            let u1 = rand();
            let phi = 2.0 * PI * rand();
            let r = sqrt(u1);
            return onb(s.n) * vec3<f32>(r * cos(phi), r * sin(phi), sqrt(max(0.0, 1.0 - u1)));
        }
    }
    return sample_base(s, wo);
}

// The clearcoat's Fresnel weight (glTF: F0 0.04, ior 1.5) at the angle to its own normal.
fn coat_fresnel(c: f32) -> f32 {
    return 0.04 + 0.96 * pow5(clamp(1.0 - abs(c), 0.0, 1.0));
}

// Directional albedo of the sheen lobe at cos θ = mu, from the material's table (linear in mu).
fn sheen_albedo(s: Surface, mu: f32) -> f32 {
    var e = array<f32, 8>(s.sheen_e0.x, s.sheen_e0.y, s.sheen_e0.z, s.sheen_e0.w, s.sheen_e1.x, s.sheen_e1.y, s.sheen_e1.z, s.sheen_e1.w);
    let x = clamp(mu, 0.0, 1.0) * 7.0;
    let i = min(u32(x), 6u);
    return mix(e[i], e[i + 1u], x - f32(i));
}

// Charlie sheen (Estevez–Kulla distribution, α = roughness²) with Neubelt's visibility, times
// cos θi, for unit colour; `sheen_f_cos` in src/scene/gltf_load.rs is the same.
fn sheen_f_cos(r: f32, nv: f32, nl: f32, nh: f32) -> f32 {
    let inv = 1.0 / (r * r);
    let sin2 = max(0.0, 1.0 - nh * nh);
    let d = (2.0 + inv) * pow(sin2, 0.5 * inv) / (2.0 * PI);
    return d / (4.0 * (nl + nv - nl * nv)) * nl;
}

// glTF's layering: sheen = sheen_brdf + base × (1 − max(sheen colour) × max(E(n·v), E(n·l)));
// coated = mix(sheen layer, coat GGX, clearcoat × F_coat(n_c·v)). Neither layer adds energy
// beyond what it takes from below. The pdf mixes the lobes by their sampling probabilities.
fn eval_layers(s: Surface, wo: vec3<f32>, wi: vec3<f32>, b: Eval) -> Eval {
    var f = b.f_cos;
    var pdf = (1.0 - s.p_coat - s.p_sheen) * b.pdf;
    let nl = dot(s.n, wi);
    let nv = dot(s.n, wo);
    let above = dot(s.ng, wi) > 0.0;
    if (s.sheen_max > 0.0 && nl > 0.0 && nv > 0.0 && above) {
        let scale = 1.0 - s.sheen_max * max(sheen_albedo(s, nv), sheen_albedo(s, nl));
        let nh = dot(s.n, normalize(wo + wi));
        f = f * scale + s.sheen * sheen_f_cos(s.sheen_rough, nv, nl, nh);
        pdf = pdf + s.p_sheen * nl / PI;
    }
    if (s.coat > 0.0) {
        let cv = dot(s.nc, wo);
        let fc = s.coat * coat_fresnel(cv);
        f = f * (1.0 - fc);
        let cl = dot(s.nc, wi);
        if (cl > 0.0 && cv > 0.0 && above) {
            let a2 = s.coat_alpha * s.coat_alpha;
            let d = ggx_d(max(dot(s.nc, normalize(wo + wi)), 0.0), a2);
            let g1v = smith_g1(cv, a2);
            f = f + vec3<f32>(fc * d * g1v * smith_g1(cl, a2) / (4.0 * cv));
            pdf = pdf + s.p_coat * d * g1v / (4.0 * cv);
        }
    }
    return Eval(f, pdf);
}

// Fills the clearcoat and sheen fields of the surface (factors × textures; the coat's normal is
// the interpolated one, or its own normal map) and the lobes' sampling probabilities, by their
// weights seen from wo (`base_w`: the base's).
fn set_layers(s: ptr<function, Surface>, m: Material, sh: Shade, tr: Tri, hu: f32, hv: f32, uv: vec2<f32>, uv1: vec2<f32>, flip: bool, wo: vec3<f32>, base_w: f32) {
    let bw = 1.0 - hu - hv;
    if (m.coat.x > 0.0) {
        var coat = m.coat.x;
        if (m.coat.z >= 0.0) { coat = coat * sample_tex(i32(m.coat.z), uv, uv1, false).x; }
        var cr = m.coat.y;
        if (m.coat.w >= 0.0) { cr = cr * sample_tex(i32(m.coat.w), uv, uv1, false).y; }
        var nc = normalize(sh.n0.xyz * bw + sh.n1.xyz * hu + sh.n2.xyz * hv);
        let ai = bitcast<u32>(tr.e1.w);
        if (m.layer_tex.x >= 0.0 && ai > 0u) {
            let k = ai - 1u;
            let t4 = attrs[k].t0 * bw + attrs[k].t1 * hu + attrs[k].t2 * hv;
            nc = perturb_normal(nc, t4, sample_tex(i32(m.layer_tex.x), uv, uv1, false).xyz, m.layer_tex.y);
        }
        if (flip) { nc = -nc; }
        if (dot(nc, (*s).ng) <= 0.0) { nc = (*s).ng; }
        (*s).nc = nc;
        (*s).coat = coat;
        (*s).coat_alpha = max(cr * cr, 1e-3);
    }
    var sheen = m.sheen.xyz;
    if (max(sheen.x, max(sheen.y, sheen.z)) > 0.0) {
        if (m.layer_tex.z >= 0.0) { sheen = sheen * sample_tex(i32(m.layer_tex.z), uv, uv1, true).xyz; }
        var sr = m.sheen.w;
        if (m.layer_tex.w >= 0.0) { sr = sr * sample_tex(i32(m.layer_tex.w), uv, uv1, false).w; }
        (*s).sheen = sheen;
        (*s).sheen_rough = max(sr, MIN_SHEEN_ROUGHNESS);
        (*s).sheen_max = max(sheen.x, max(sheen.y, sheen.z));
        (*s).sheen_e0 = m.sheen_e0;
        (*s).sheen_e1 = m.sheen_e1;
    }
    let fc = (*s).coat * coat_fresnel(dot((*s).nc, wo));
    let es = (*s).sheen_max * sheen_albedo(*s, dot((*s).n, wo));
    let wb = (1.0 - fc) * (1.0 - es) * base_w;
    let total = fc + (1.0 - fc) * es + wb;
    if (total > 0.0) {
        (*s).p_coat = fc / total;
        (*s).p_sheen = (1.0 - fc) * es / total;
    }
}

// ---------------- transmission (KHR_materials_transmission, KHR_materials_volume) ----------------
// The `last_pdf` of a vertex whose BSDF was only sampled (glass, or inside an absorbing volume):
// no light sample was taken there, so an emitter hit next takes the full MIS weight (≈ 1).
const DELTA_PDF: f32 = 1e15;

// Unpolarised Fresnel reflectance of a dielectric interface: c = cos of the incident angle,
// eta = n_incident / n_transmitted; 1 under total internal reflection.
fn fresnel_dielectric(c: f32, eta: f32) -> f32 {
    let s2 = eta * eta * max(0.0, 1.0 - c * c);
    if (s2 >= 1.0) { return 1.0; }
    let ct = sqrt(1.0 - s2);
    let rs = (eta * c - ct) / (eta * c + ct);
    let rp = (c - eta * ct) / (c + eta * ct);
    return 0.5 * (rs * rs + rp * rp);
}

// A GGX visible normal (Heitz 2018) for wl in the local frame (z up): as in `sample_brdf`.
fn sample_vndf(wl_in: vec3<f32>, alpha: f32, u1: f32, u2: f32) -> vec3<f32> {
    let wl = normalize(vec3<f32>(wl_in.xy, max(wl_in.z, 1e-4)));
    let vh = normalize(vec3<f32>(alpha * wl.x, alpha * wl.y, wl.z));
    let lensq = vh.x * vh.x + vh.y * vh.y;
    let t1v = select(vec3<f32>(1.0, 0.0, 0.0), vec3<f32>(-vh.y, vh.x, 0.0) / sqrt(lensq), lensq > 1e-12);
    let t2v = cross(vh, t1v);
    let r = sqrt(u1);
    let phi = 2.0 * PI * u2;
    let t1 = r * cos(phi);
    let sv = 0.5 * (1.0 + vh.z);
    let t2 = (1.0 - sv) * sqrt(max(0.0, 1.0 - t1 * t1)) + sv * r * sin(phi);
    let nh = t1 * t1v + t2 * t2v + sqrt(max(0.0, 1.0 - t1 * t1 - t2 * t2)) * vh;
    return normalize(vec3<f32>(alpha * nh.x, alpha * nh.y, max(1e-6, nh.z)));
}

struct GlassSample { wi: vec3<f32>, weight: vec3<f32>, through: bool }

// Samples the glass lobe, a GGX rough dielectric (smooth at roughness 0, alpha 1e-3): a visible
// microfacet normal h, then reflection with probability F(wo·h) (exact Fresnel, so total internal
// reflection reflects everything), else refraction through h tinted by the base colour (glTF's
// specular BTDF). VNDF sampling and the Fresnel choice leave the weight G1(wi): no energy is
// gained, and at roughness 0 none is lost. Thin-walled (no volume): the transmitted ray is the
// reflected one mirrored through the surface (glTF's thin-walled BTDF), straight on at roughness 0.
fn sample_glass(n: vec3<f32>, wo: vec3<f32>, alpha: f32, ior: f32, thin: bool, entering: bool, tint: vec3<f32>) -> GlassSample {
    let frame = onb(n);
    let u1 = rand();
    let u2 = rand();
    let h = frame * sample_vndf(transpose(frame) * wo, alpha, u1, u2);
    let eta = select(ior, 1.0 / ior, entering || thin);
    let f = fresnel_dielectric(clamp(dot(wo, h), 0.0, 1.0), eta);
    let r = reflect(-wo, h);
    var wi = r;
    let through = rand() >= f;
    if (through) {
        wi = select(refract(-wo, h, eta), r - 2.0 * n * dot(n, r), thin);
    }
    let nl = dot(n, wi);
    if (nl == 0.0 || (nl < 0.0) != through) { return GlassSample(wi, vec3<f32>(0.0), through); }
    let g = smith_g1(abs(nl), alpha * alpha);
    return GlassSample(wi, select(vec3<f32>(g), tint * g, through), through);
}

// ---------------- lights ----------------
fn tri_emission(light: Light, tr: Tri, m: Material, u: f32, v: f32) -> vec3<f32> {
    var e = m.emissive.xyz;
    if (HAS_TEXTURES && m.tex.z >= 0) {
        // hit_uv0 with the light's copy of the triangle's UVs.
        let uv0 = light.uv.xy * (1.0 - u - v) + light.uv.zw * u + light.pos.yz * v;
        e = e * sample_tex(m.tex.z, uv0, hit_uv1(tr, u, v), true).xyz;
    }
    return e;
}

fn pick_light(u: f32) -> u32 {
    var lo = 0u;
    var hi = globals.counts.x - 1u;
    while (lo < hi) {
        let mid = (lo + hi) / 2u;
        if (u < light_at(mid).info.y) { hi = mid; } else { lo = mid + 1u; }
    }
    if (lo < hi) { cut = true; }
    return lo;
}

fn offset_origin(p: vec3<f32>, n: vec3<f32>) -> vec3<f32> {
    let scale = max(1.0, max(abs(p.x), max(abs(p.y), abs(p.z))));
    return p + n * (1e-4 * scale);
}

fn unoccluded(o: vec3<f32>, d: vec3<f32>, dist: f32) -> bool {
    return !occluded(o, d, dist);
}

// One light sample with MIS weight (emissive triangles) or plain NEE (punctual lights).
// At the last vertex (`mis` false) no BSDF ray follows, so the light sample takes full weight.
fn next_event(s: Surface, wo: vec3<f32>, mis: bool) -> vec3<f32> {
    let li = pick_light(rand());
    let light = light_at(li);
    let kind = u32(light.info.x);
    let pick = light.info.z;
    let o = offset_origin(s.p, s.ng);
    let u1 = rand();
    let u2 = rand();
    if (kind == LIGHT_TRIANGLE) {
        let tr = Tri(light.dir, light.color, light.cone); // the triangle's record, copied (gltf_load.rs)
        let su = sqrt(u1);
        let bu = su * (1.0 - u2);
        let bv = su * u2;
        let q = tr.v0.xyz + tr.e1.xyz * bu + tr.e2.xyz * bv;
        let c = cross(tr.e1.xyz, tr.e2.xyz);
        let area2 = length(c);
        if (area2 <= 0.0) { return vec3<f32>(0.0); }
        let nl = c / area2;
        let to = q - o;
        let dist2 = dot(to, to);
        let dist = sqrt(dist2);
        let wi = to / dist;
        var cos_l = -dot(wi, nl);
        let m = material_at(bitcast<u32>(tr.v0.w) & MATERIAL_MASK);
        if (m.emissive.w > 0.5) { cos_l = abs(cos_l); }
        if (cos_l <= 1e-6) { return vec3<f32>(0.0); }
        let ev = eval_brdf(s, wo, wi);
        if (ev.pdf <= 0.0) { return vec3<f32>(0.0); }
        let pdf_l = pick * dist2 / (cos_l * 0.5 * area2);
        if (!unoccluded(o, wi, dist * (1.0 - 1e-3))) { return vec3<f32>(0.0); }
        let w = select(1.0, pdf_l * pdf_l / (pdf_l * pdf_l + ev.pdf * ev.pdf), mis);
        return ev.f_cos * tri_emission(light, tr, m, bu, bv) * (w / pdf_l);
    }
    if (!HAS_PUNCTUAL) { return vec3<f32>(0.0); }
    var wi: vec3<f32>;
    var dist = BIG;
    var radiance = light.color.xyz;
    if (kind == LIGHT_POINT || kind == LIGHT_SPOT) {
        let to = light.pos.xyz - o;
        let dist2 = max(dot(to, to), 1e-12);
        dist = sqrt(dist2);
        wi = to / dist;
        radiance = radiance / dist2;
        if (kind == LIGHT_SPOT) {
            // Cycles' spot (what Blender renders of an imported glTF spot): cos θ, times a
            // smoothstep over the blend ring just inside the outer cone, 0 outside it.
            let c = dot(-wi, light.dir.xyz);
            let x = c - light.cone.x;
            let ring = select(1.0, smoothstep(0.0, light.cone.y, x), x < light.cone.y);
            radiance = radiance * select(0.0, c * ring, x > 0.0);
        }
    } else {
        wi = -light.dir.xyz;
    }
    let ev = eval_brdf(s, wo, wi);
    if (ev.pdf <= 0.0 || max(radiance.x, max(radiance.y, radiance.z)) <= 0.0) { return vec3<f32>(0.0); }
    if (!unoccluded(o, wi, dist * (1.0 - 1e-4))) { return vec3<f32>(0.0); }
    return ev.f_cos * radiance / pick;
}

// ---------------- path ----------------
fn is_bad(v: vec3<f32>) -> bool {
    let b = bitcast<vec3<u32>>(v) & vec3<u32>(0x7f800000u);
    return any(b == vec3<u32>(0x7f800000u));
}

fn camera_ray(px: u32, py: u32) -> array<vec3<f32>, 2> {
    let fw = f32(params.frame.x);
    let fh = f32(params.frame.y);
    let sx = 2.0 * (f32(px) + rand()) / fw - 1.0;
    let sy = 1.0 - 2.0 * (f32(py) + rand()) / fh;
    let g = globals;
    let aspect = fw / fh;
    if (g.cam_params.z > 0.5) {
        // Orthographic: scale_y = max(xmag, ymag) is half the longer side (Blender's sensor
        // fit Auto); the shorter side follows the image's aspect, so pixels stay square.
        let hw = g.cam_params.x * min(aspect, 1.0);
        let hh = g.cam_params.x * min(1.0 / aspect, 1.0);
        let o = g.cam_pos.xyz + g.cam_right.xyz * (sx * hw) + g.cam_up.xyz * (sy * hh);
        return array<vec3<f32>, 2>(o, g.cam_fwd.xyz);
    }
    let d = g.cam_fwd.xyz + g.cam_right.xyz * (sx * aspect * g.cam_params.x) + g.cam_up.xyz * (sy * g.cam_params.x);
    return array<vec3<f32>, 2>(g.cam_pos.xyz, normalize(d));
}

// A path in flight: the ray to trace next and what it carries so far.
struct Path {
    o: vec3<f32>,
    d: vec3<f32>,
    throughput: vec3<f32>,
    l: vec3<f32>,
    last_pdf: f32,
    depth: u32,
    key: u32, // the sample's hash of (pixel, sample, seed): seeds `rng` and `alpha_key`
    sigma: vec3<f32>, // absorption of the volume the ray travels in (0: none)
}

fn start_path(px: u32, py: u32, sample: u32) -> Path {
    let key = pcg_hash(px ^ pcg_hash(py ^ pcg_hash(sample ^ pcg_hash(params.seed.x ^ pcg_hash(params.seed.y)))));
    rng = key;
    let ray = camera_ray(px, py);
    return Path(ray[0], ray[1], vec3<f32>(1.0), vec3<f32>(0.0), 0.0, 0u, key, vec3<f32>(0.0));
}

// Extends the path by one vertex. Returns true when the path has ended (its radiance is `l`).
fn path_vertex(path: ptr<function, Path>) -> bool {
    let max_bounces = params.samples.z;
    let have_lights = globals.counts.x > 0u;
    let o = (*path).o;
    let d = (*path).d;
    let depth = (*path).depth;
    var throughput = (*path).throughput;
    var l = (*path).l;
    let last_pdf = (*path).last_pdf;
    {
        if (HAS_TEXTURES) {
            alpha_key = pcg_hash((*path).key + 2u * depth);
            camera_trace = depth == 0u;
        }
        let h = trace(o, d, BIG);
        // Inside an absorbing volume (KHR_materials_volume): Beer–Lambert over the segment; a ray
        // that leaves an open mesh from inside never leaves the medium.
        let sigma = (*path).sigma;
        let in_volume = HAS_TEXTURES && any(sigma > vec3<f32>(0.0));
        if (in_volume) {
            if (h.tri == NO_HIT) { return true; }
            throughput = throughput * exp(-sigma * h.t);
        }
        if (h.tri == NO_HIT) {
            (*path).l = l + throughput * environment(d);
            return true;
        }
        let tr = tri_at(h.tri);
        let sh = shade_at(h.tri);
        let m = material_at(bitcast<u32>(tr.v0.w) & MATERIAL_MASK);
        let c = cross(tr.e1.xyz, tr.e2.xyz);
        let area2 = length(c);
        var ng = c / max(area2, 1e-30);
        let bw = 1.0 - h.u - h.v;
        var n = normalize(sh.n0.xyz * bw + sh.n1.xyz * h.u + sh.n2.xyz * h.v);
        let uv = vec2<f32>(sh.n0.w, sh.n1.w) * bw + vec2<f32>(sh.n2.w, sh.extra.x) * h.u + sh.extra.yz * h.v;
        // Attribute record: the second UV set, vertex colours, and the normal map's tangents.
        var uv1 = vec2<f32>(0.0);
        var vcol = vec4<f32>(1.0);
        if (HAS_TEXTURES) {
            let ai = bitcast<u32>(tr.e1.w);
            if (ai > 0u) {
                let k = ai - 1u;
                uv1 = hit_uv1(tr, h.u, h.v);
                vcol = attrs[k].c0 * bw + attrs[k].c1 * h.u + attrs[k].c2 * h.v;
                if (m.ext.x >= 0.0) {
                    let t4 = attrs[k].t0 * bw + attrs[k].t1 * h.u + attrs[k].t2 * h.v;
                    let tn = sample_tex(i32(m.ext.x), uv, uv1, false).xyz;
                    n = perturb_normal(n, t4, tn, m.ext.y);
                }
            }
        }
        let front = dot(ng, d) < 0.0;
        if (!front) { ng = -ng; n = -n; }
        if (dot(n, ng) <= 0.0) { n = ng; }

        // Emission (MIS against the light sample taken at the previous vertex).
        if (front || m.emissive.w > 0.5) {
            var e = m.emissive.xyz;
            if (HAS_TEXTURES && m.tex.z >= 0) { e = e * sample_tex(m.tex.z, uv, uv1, true).xyz; }
            if (max(e.x, max(e.y, e.z)) > 0.0) {
                var w = 1.0;
                if (depth > 0u && have_lights) {
                    let cos_l = abs(dot(ng, d));
                    let pdf_l = sh.extra.w * h.t * h.t / max(cos_l * 0.5 * area2, 1e-30);
                    w = last_pdf * last_pdf / (last_pdf * last_pdf + pdf_l * pdf_l);
                }
                l = l + throughput * e * w;
            }
        }
        // Material.
        var base = m.base.xyz;
        if (HAS_TEXTURES) { base = base * vcol.xyz; }
        if (HAS_TEXTURES && m.tex.x >= 0) { base = base * sample_tex(m.tex.x, uv, uv1, true).xyz; }
        // Unlit: the base colour as radiance, unshaded (only camera rays reach it).
        if (HAS_TEXTURES && m.spec_tint.w > 0.5) {
            (*path).l = l + throughput * base;
            return true;
        }
        var metallic = m.pbr.x;
        var rough = m.pbr.y;
        if (HAS_TEXTURES && m.tex.y >= 0) {
            let mr = sample_tex(m.tex.y, uv, uv1, false);
            rough = rough * mr.y;
            metallic = metallic * mr.z;
        }
        // KHR_materials_transmission: the glass lobe is picked with probability transmission ×
        // (1 − metallic), its share of the mix; otherwise the opaque BSDF, its metallic renormalised
        // to its share of the rest. (Only transmissive materials draw this number.)
        var glass = false;
        if (HAS_TEXTURES && m.trans.x > 0.0) {
            var transmission = m.trans.x;
            if (m.trans.y >= 0.0) { transmission = transmission * sample_tex(i32(m.trans.y), uv, uv1, false).x; }
            let p_glass = transmission * (1.0 - metallic);
            glass = rand() < p_glass;
            if (!glass) { metallic = metallic / max(1.0 - p_glass, 1e-6); }
        }
        let alpha = max(rough * rough, 1e-3);
        // KHR_materials_specular textures: alpha scales the factor, sRGB colour the tint.
        var spec_k = 1.0;
        var spec_c = vec3<f32>(1.0);
        if (HAS_TEXTURES && m.tex.w >= 0) { spec_k = sample_tex(m.tex.w, uv, uv1, false).w; }
        if (HAS_TEXTURES && m.atten.w >= 0.0) { spec_c = sample_tex(i32(m.atten.w), uv, uv1, true).xyz; }
        let f0_d = min(vec3<f32>(m.pbr.z * spec_k) * m.spec_tint.xyz * spec_c, vec3<f32>(1.0));
        var s: Surface;
        s.p = o + d * h.t;
        s.n = n;
        s.ng = ng;
        s.diffuse = base * (1.0 - metallic);
        s.f0 = mix(f0_d, base, metallic);
        s.f90 = mix(m.pbr.w * spec_k, 1.0, metallic);
        s.f0_d = f0_d;
        s.f90_d = m.pbr.w * spec_k;
        s.alpha = alpha;
        s.rough = rough;
        let wo = -d;
        let spec_w = luminance(fresnel(s.f0, s.f90, max(dot(n, wo), 0.0)));
        let diff_w = luminance(s.diffuse);
        if (spec_w <= 0.0) {
            s.p_spec = 0.0;
        } else if (diff_w <= 0.0) {
            s.p_spec = 1.0;
        } else {
            s.p_spec = clamp(spec_w / (spec_w + diff_w), 0.1, 0.9);
        }
        // Glass: sampled only (no light sample; shadow rays treat glass as opaque, see README).
        if (HAS_TEXTURES && glass) {
            (*path).l = l;
            if (depth == max_bounces) { return true; }
            let g = sample_glass(n, wo, alpha, m.trans.z, m.trans.w > 0.5, front, base);
            if (max(g.weight.x, max(g.weight.y, g.weight.z)) <= 0.0 || (dot(g.wi, ng) < 0.0) != g.through) { return true; }
            if (g.through && m.trans.w < 0.5) {
                (*path).sigma = select(vec3<f32>(0.0), m.atten.xyz, front); // entering or leaving the volume
            }
            throughput = throughput * g.weight;
            (*path).last_pdf = DELTA_PDF;
            (*path).o = offset_origin(s.p, select(ng, -ng, g.through));
            (*path).d = g.wi;
            (*path).depth = depth + 1u;
            if (depth >= 2u) {
                let q = min(max(throughput.x, max(throughput.y, throughput.z)), 0.95);
                if (rand() >= q) { return true; }
                throughput = throughput / q;
            }
            (*path).throughput = throughput;
            return false;
        }
        if (HAS_TEXTURES && (m.coat.x > 0.0 || max(m.sheen.x, max(m.sheen.y, m.sheen.z)) > 0.0)) {
            set_layers(&s, m, sh, tr, h.u, h.v, uv, uv1, !front, wo, spec_w + diff_w);
        }

        // Inside an absorbing volume the light sample would need its own attenuation: skip it.
        if (have_lights && !in_volume) {
            if (HAS_TEXTURES) {
                alpha_key = pcg_hash((*path).key + 2u * depth + 1u);
                camera_trace = false;
            }
            l = l + throughput * next_event(s, wo, depth < max_bounces);
        }
        (*path).l = l;
        // max_bounces counts indirect bounces (as Cycles does): 0 = direct light only.
        if (depth == max_bounces) { return true; }

        let wi = sample_brdf(s, wo);
        let ev = eval_brdf(s, wo, wi);
        if (ev.pdf <= 0.0) { return true; }
        throughput = throughput * ev.f_cos / ev.pdf;
        (*path).last_pdf = select(ev.pdf, DELTA_PDF, in_volume);
        (*path).o = offset_origin(s.p, ng);
        (*path).d = wi;
        (*path).depth = depth + 1u;
        if (depth >= 2u) {
            let q = min(max(throughput.x, max(throughput.y, throughput.z)), 0.95);
            if (rand() >= q) { return true; }
            throughput = throughput / q;
        }
        (*path).throughput = throughput;
    }
    return false;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let lx = gid.x;
    let ly = gid.y + params.frame.z;
    if (lx >= params.tile.z || gid.y >= params.frame.w || ly >= params.tile.w) { return; }
    let px = params.tile.x + lx;
    let py = params.tile.y + ly;
    let idx = ly * params.tile.z + lx;
    // accum.w counts the samples summed so far. A pixel goes on from its own count (after a
    // cut dispatch it lags behind the others) for at most samples.w samples, up to samples.y.
    var acc = vec3<f32>(0.0);
    var sample = 0u;
    if (params.samples.x > 0u) {
        let prev = accum[idx];
        acc = prev.xyz;
        sample = u32(prev.w);
    }
    let end = min(params.samples.y, sample + params.samples.w);
    // One loop over path vertices; a lane whose path ends starts its pixel's next sample at
    // once, so lanes of a SIMD group (CPU drivers) do not idle while others finish long paths.
    // Samples still finish in index order, so the sum is the same however work is split.
    if (sample < end) {
        var path = start_path(px, py, sample);
        loop {
            if (path_vertex(&path)) {
                // A loop of this sample was cut short (lavapipe's limit): drop the sample; every
                // later loop of this dispatch ends at once, and the host goes on from `sample`.
                if (cut) { break; }
                acc = acc + select(path.l, vec3<f32>(0.0), is_bad(path.l));
                sample = sample + 1u;
                if (sample >= end) { break; }
                path = start_path(px, py, sample);
            }
        }
    }
    accum[idx] = vec4<f32>(acc, f32(sample));
}
