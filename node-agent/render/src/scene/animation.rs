//! Which instant a frame shows, and glTF node animation channels sampled at that instant.
//!
//! Everything here is plain f32/f64 arithmetic over the document's channels in document order,
//! so the same bundle and time give the same pose on every machine with the same libm.

use super::gltf_load::accessor_view;
use super::math::V3;
use crate::error::SceneError;
use gltf::accessor::{DataType, Dimensions};
use gltf::animation::{Interpolation, Property};

/// A rational frame rate, `num / den` frames per second (24/1, 25/1, 30000/1001, …).
///
/// Frame [`FrameRate::FRAME_AT_ZERO`] (1, as Blender numbers and exports frames) shows the
/// scene at t = 0; frame N shows it at `(N − 1) · den / num` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
    /// 24 frames per second, the rate every job renders at for now.
    pub const DEFAULT: FrameRate = FrameRate { num: 24, den: 1 };
    /// The frame number that shows t = 0.
    pub const FRAME_AT_ZERO: u32 = 1;

    /// `None` when either part is zero.
    pub fn new(num: u32, den: u32) -> Option<FrameRate> {
        (num > 0 && den > 0).then_some(FrameRate { num, den })
    }

    /// Frames per second as a float.
    pub fn fps(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Seconds from t = 0 to `frame` (negative for frames before [`Self::FRAME_AT_ZERO`]).
    /// The product is an exact integer in f64, so the result is one correctly rounded division.
    pub fn time_of(&self, frame: u32) -> f64 {
        (frame as f64 - Self::FRAME_AT_ZERO as f64) * self.den as f64 / self.num.max(1) as f64
    }
}

impl Default for FrameRate {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::str::FromStr for FrameRate {
    type Err = String;

    /// "24", "25" or "30000/1001"; both parts above 0.
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, d) = s.split_once('/').unwrap_or((s, "1"));
        n.trim()
            .parse()
            .ok()
            .zip(d.trim().parse().ok())
            .and_then(|(num, den)| FrameRate::new(num, den))
            .ok_or_else(|| format!("not a frame rate: {s:?} (e.g. 24, 25 or 30000/1001)"))
    }
}

impl std::fmt::Display for FrameRate {
    /// "24" for whole rates, "30000/1001" otherwise: what [`FromStr`](std::str::FromStr) reads.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.den {
            1 => write!(f, "{}", self.num),
            d => write!(f, "{}/{d}", self.num),
        }
    }
}

/// How a sampler fills the time between two keyframes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interp {
    Step,
    Linear,
    /// Hermite spline; the values hold (in-tangent, value, out-tangent) per key.
    CubicSpline,
}

impl From<Interpolation> for Interp {
    fn from(i: Interpolation) -> Self {
        match i {
            Interpolation::Step => Interp::Step,
            Interpolation::Linear => Interp::Linear,
            Interpolation::CubicSpline => Interp::CubicSpline,
        }
    }
}

/// Finds the segment holding `t`: `Err(key)` when `t` is at or outside the ends (or on a single
/// key), the key whose value holds there; `Ok((k, s))` for `times[k] <= t < times[k + 1]` with
/// `s ∈ [0, 1)` the fraction of the way.
fn segment(times: &[f32], t: f64) -> Result<(usize, f64), usize> {
    let last = times.len() - 1;
    if t <= times[0] as f64 {
        return Err(0);
    }
    if t >= times[last] as f64 {
        return Err(last);
    }
    // First key after t; 1 ≤ after ≤ last because times[0] < t < times[last].
    let after = times.partition_point(|&k| (k as f64) <= t);
    let k = after - 1;
    let (t0, t1) = (times[k] as f64, times[after] as f64);
    Ok((k, (t - t0) / (t1 - t0)))
}

/// Samples a vector track (translation, scale, weights) at `t`.
/// `values` holds one element per key, or three (in, value, out) for [`Interp::CubicSpline`].
pub fn sample_vec<const N: usize>(
    interp: Interp,
    times: &[f32],
    values: &[[f32; N]],
    t: f64,
) -> [f32; N] {
    let value = |k: usize| match interp {
        Interp::CubicSpline => values[3 * k + 1],
        _ => values[k],
    };
    let (k, s) = match segment(times, t) {
        Err(k) => return value(k),
        Ok(v) => v,
    };
    match interp {
        Interp::Step => value(k),
        Interp::Linear => {
            let (a, b) = (value(k), value(k + 1));
            let s = s as f32;
            std::array::from_fn(|i| a[i] + (b[i] - a[i]) * s)
        }
        Interp::CubicSpline => {
            let dt = times[k + 1] - times[k];
            hermite(
                values[3 * k + 1],
                values[3 * k + 2],
                values[3 * (k + 1)],
                values[3 * (k + 1) + 1],
                dt,
                s as f32,
            )
        }
    }
}

/// Samples a rotation track (unit quaternions x, y, z, w) at `t`: LINEAR is a shortest-path
/// slerp, CUBICSPLINE the Hermite spline of the components; the result is normalised.
pub fn sample_rotation(interp: Interp, times: &[f32], values: &[[f32; 4]], t: f64) -> [f32; 4] {
    let q = match (interp, segment(times, t)) {
        (Interp::Linear, Ok((k, s))) => slerp(values[k], values[k + 1], s as f32),
        _ => sample_vec(interp, times, values, t),
    };
    normalize4(q)
}

/// glTF's cubic Hermite spline between keys k and k+1: `v0` with out-tangent `b0`, `v1` with
/// in-tangent `a1`, the tangents scaled by the keyframe delta `dt`, at fraction `s`.
pub fn hermite<const N: usize>(
    v0: [f32; N],
    b0: [f32; N],
    a1: [f32; N],
    v1: [f32; N],
    dt: f32,
    s: f32,
) -> [f32; N] {
    let (s2, s3) = (s * s, s * s * s);
    let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
    let h10 = s3 - 2.0 * s2 + s;
    let h01 = -2.0 * s3 + 3.0 * s2;
    let h11 = s3 - s2;
    std::array::from_fn(|i| h00 * v0[i] + h10 * dt * b0[i] + h01 * v1[i] + h11 * dt * a1[i])
}

/// Spherical linear interpolation along the shorter arc (the glTF specification's reference).
pub fn slerp(a: [f32; 4], b: [f32; 4], s: f32) -> [f32; 4] {
    let mut d: f32 = (0..4).map(|i| a[i] * b[i]).sum();
    let mut b = b;
    if d < 0.0 {
        b = b.map(|c| -c);
        d = -d;
    }
    let (wa, wb) = if d > 0.9995 {
        // Nearly parallel: the arc is a straight line to float precision.
        (1.0 - s, s)
    } else {
        let theta0 = d.acos();
        let theta = s * theta0;
        let (sin_t, sin_t0) = (theta.sin(), theta0.sin());
        (theta.cos() - d * sin_t / sin_t0, sin_t / sin_t0)
    };
    normalize4(std::array::from_fn(|i| wa * a[i] + wb * b[i]))
}

fn normalize4(q: [f32; 4]) -> [f32; 4] {
    let l = q.iter().map(|c| c * c).sum::<f32>().sqrt();
    if l.is_finite() && l > 1e-20 {
        q.map(|c| c / l)
    } else {
        [0.0, 0.0, 0.0, 1.0]
    }
}

/// A node's local transform as translation, rotation (x, y, z, w) and scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trs {
    pub translation: V3,
    pub rotation: [f32; 4],
    pub scale: V3,
}

impl Trs {
    /// The column-major matrix, computed exactly as `gltf` does for a static node.
    pub fn matrix(&self) -> [[f32; 4]; 4] {
        gltf::scene::Transform::Decomposed {
            translation: self.translation,
            rotation: self.rotation,
            scale: self.scale,
        }
        .matrix()
    }
}

/// Every animated node's state at one instant, indexed by node; `None` where no channel
/// drives the node (its static transform or weights hold).
pub struct Pose {
    pub trs: Vec<Option<Trs>>,
    /// Morph target weights, one per target of the node's mesh.
    pub weights: Vec<Option<Vec<f32>>>,
    /// The first and last keyframe times (seconds) over every channel that drives a node.
    pub range: Option<(f64, f64)>,
}

impl Pose {
    /// Whether any channel drives any node.
    pub fn moves_anything(&self) -> bool {
        self.trs.iter().any(Option::is_some) || self.weights.iter().any(Option::is_some)
    }
}

/// Node local transforms and morph weights at time `t` (seconds). All animations in the
/// document play together; when two channels drive the same property of a node, the later one
/// in document order wins (with a warning). `weights` channels on nodes whose mesh has no morph
/// targets are ignored with a warning.
pub fn pose(
    doc: &gltf::Document,
    buffers: &[Vec<u8>],
    t: f64,
    warnings: &mut Vec<String>,
) -> Result<Pose, SceneError> {
    let n_nodes = doc.nodes().len();
    let mut pose: Vec<Option<Trs>> = vec![None; n_nodes];
    let mut weights: Vec<Option<Vec<f32>>> = vec![None; n_nodes];
    let mut driven = vec![[false; 4]; n_nodes];
    let mut weights_ignored = false;
    let mut range: Option<(f64, f64)> = None;
    let get = |b: gltf::Buffer| buffers.get(b.index()).map(Vec::as_slice);
    for anim in doc.animations() {
        for channel in anim.channels() {
            let node = channel.target().node();
            let what = || {
                format!(
                    "animation {} channel {} (node {})",
                    anim.index(),
                    channel.index(),
                    node.index()
                )
            };
            let prop = channel.target().property();
            let slot = match prop {
                Property::Translation => 0,
                Property::Rotation => 1,
                Property::Scale => 2,
                Property::MorphTargetWeights => 3,
            };
            // Morph targets per key for a weights channel (all primitives of a mesh have as many).
            let n_targets = node
                .mesh()
                .and_then(|m| m.primitives().next())
                .map_or(0, |p| p.morph_targets().count());
            if prop == Property::MorphTargetWeights && n_targets == 0 {
                weights_ignored = true;
                continue;
            }
            let sampler = channel.sampler();
            let interp = Interp::from(sampler.interpolation());
            let (input, output) = (sampler.input(), sampler.output());
            check_accessor(buffers, &input, Dimensions::Scalar, &[DataType::F32])?;
            let allowed: &[DataType] = match prop {
                Property::Rotation | Property::MorphTargetWeights => &[
                    DataType::F32,
                    DataType::I8,
                    DataType::U8,
                    DataType::I16,
                    DataType::U16,
                ],
                _ => &[DataType::F32],
            };
            let (dims, per_element) = match prop {
                Property::Rotation => (Dimensions::Vec4, 1),
                Property::MorphTargetWeights => (Dimensions::Scalar, n_targets),
                _ => (Dimensions::Vec3, 1),
            };
            check_accessor(buffers, &output, dims, allowed)?;
            if output.data_type() != DataType::F32 && !output.normalized() {
                return Err(SceneError::data(
                    what(),
                    "integer outputs must be normalized",
                ));
            }
            let per_key = if interp == Interp::CubicSpline { 3 } else { 1 };
            if Some(output.count()) != input.count().checked_mul(per_key * per_element) {
                return Err(SceneError::data(
                    what(),
                    format!(
                        "{} keys but {} outputs ({per_key} per key for {interp:?}, times {per_element})",
                        input.count(),
                        output.count()
                    ),
                ));
            }
            let reader = channel.reader(get);
            let times: Vec<f32> = reader
                .read_inputs()
                .ok_or_else(|| SceneError::data(what(), "unreadable keyframe times"))?
                .collect();
            if times.len() != input.count()
                || times.iter().any(|k| !k.is_finite())
                || times.windows(2).any(|w| w[1] < w[0])
            {
                return Err(SceneError::data(
                    what(),
                    "keyframe times must be finite and increasing",
                ));
            }
            let (first, last) = (times[0] as f64, times[times.len() - 1] as f64);
            range = Some(range.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
            let outputs = reader
                .read_outputs()
                .ok_or_else(|| SceneError::data(what(), "unreadable keyframe values"))?;
            use gltf::animation::util::ReadOutputs;
            if let ReadOutputs::MorphTargetWeights(it) = outputs {
                let v: Vec<f32> = it.into_f32().collect();
                if v.len() != output.count() {
                    return Err(SceneError::data(what(), "short output"));
                }
                if driven[node.index()][slot] {
                    warnings.push(format!(
                        "{}: weights of node {} are driven by more than one channel; the last in document order wins",
                        what(),
                        node.index()
                    ));
                }
                driven[node.index()][slot] = true;
                weights[node.index()] = Some(sample_weights(interp, &times, &v, n_targets, t));
                continue;
            }
            let base =
                match pose[node.index()] {
                    Some(p) => p,
                    None => match node.transform() {
                        gltf::scene::Transform::Decomposed {
                            translation,
                            rotation,
                            scale,
                        } => Trs {
                            translation,
                            rotation,
                            scale,
                        },
                        gltf::scene::Transform::Matrix { .. } => return Err(SceneError::data(
                            what(),
                            "animated node has a matrix (glTF allows only TRS on animated nodes)",
                        )),
                    },
                };
            let mut p = base;
            let count_ok = |n: usize| n == output.count();
            match outputs {
                ReadOutputs::Translations(it) => {
                    let v: Vec<[f32; 3]> = it.collect();
                    if !count_ok(v.len()) {
                        return Err(SceneError::data(what(), "short output"));
                    }
                    p.translation = sample_vec(interp, &times, &v, t);
                }
                ReadOutputs::Scales(it) => {
                    let v: Vec<[f32; 3]> = it.collect();
                    if !count_ok(v.len()) {
                        return Err(SceneError::data(what(), "short output"));
                    }
                    p.scale = sample_vec(interp, &times, &v, t);
                }
                ReadOutputs::Rotations(it) => {
                    let v: Vec<[f32; 4]> = it.into_f32().collect();
                    if !count_ok(v.len()) {
                        return Err(SceneError::data(what(), "short output"));
                    }
                    p.rotation = sample_rotation(interp, &times, &v, t);
                }
                ReadOutputs::MorphTargetWeights(_) => unreachable!("handled above"),
            }
            if driven[node.index()][slot] {
                warnings.push(format!(
                    "{}: {prop:?} of node {} is driven by more than one channel; the last in document order wins",
                    what(),
                    node.index()
                ));
            }
            driven[node.index()][slot] = true;
            pose[node.index()] = Some(p);
        }
    }
    if weights_ignored {
        warnings
            .push("weights channels on nodes whose mesh has no morph targets are ignored".into());
    }
    Ok(Pose {
        trs: pose,
        weights,
        range,
    })
}

/// Samples a weights track of `n` targets: each output element is a group of `n` scalars.
pub fn sample_weights(interp: Interp, times: &[f32], values: &[f32], n: usize, t: f64) -> Vec<f32> {
    (0..n)
        .map(|j| {
            let track: Vec<[f32; 1]> = values.chunks_exact(n).map(|e| [e[j]]).collect();
            sample_vec(interp, times, &track, t)[0]
        })
        .collect()
}

/// Checks what `gltf`'s reader assumes but does not check: a dense accessor with at least one
/// element, of the expected shape and component type, lying inside its buffer.
fn check_accessor(
    buffers: &[Vec<u8>],
    acc: &gltf::Accessor,
    dims: Dimensions,
    types: &[DataType],
) -> Result<(), SceneError> {
    let what = format!("accessor {}", acc.index());
    if acc.dimensions() != dims || !types.contains(&acc.data_type()) {
        return Err(SceneError::data(
            what,
            format!(
                "animation data must be {dims:?} of {types:?}, found {:?} of {:?}",
                acc.dimensions(),
                acc.data_type()
            ),
        ));
    }
    if acc.count() == 0 {
        return Err(SceneError::data(what, "animation sampler without keys"));
    }
    accessor_view(buffers, acc).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close<const N: usize>(a: [f32; N], b: [f32; N], eps: f32) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= eps)
    }

    #[test]
    fn frame_one_is_time_zero_at_rational_rates() {
        let r = FrameRate::default();
        assert_eq!(r, FrameRate { num: 24, den: 1 });
        assert_eq!(r.time_of(1), 0.0);
        assert_eq!(r.time_of(25), 1.0);
        assert_eq!(r.time_of(0), -1.0 / 24.0);
        let ntsc = FrameRate::new(30000, 1001).unwrap();
        assert_eq!(ntsc.time_of(30001), 1001.0);
        assert!((ntsc.time_of(31) - 1.001).abs() < 1e-12);
        assert!((ntsc.fps() - 29.97002997).abs() < 1e-6);
        assert_eq!(FrameRate::new(0, 1), None);
        assert_eq!(FrameRate::new(24, 0), None);
    }

    #[test]
    fn linear_step_clamp_and_segment_ends() {
        let times = [1.0, 2.0, 4.0];
        let v = [[0.0f32], [10.0], [30.0]];
        let lin = |t| sample_vec(Interp::Linear, &times, &v, t)[0];
        let step = |t| sample_vec(Interp::Step, &times, &v, t)[0];
        assert_eq!(lin(0.0), 0.0, "before the first key: the first value");
        assert_eq!(lin(9.0), 30.0, "after the last key: the last value");
        assert_eq!(lin(1.5), 5.0);
        assert_eq!(lin(2.0), 10.0);
        assert_eq!(lin(3.0), 20.0);
        assert_eq!(step(1.99), 0.0);
        assert_eq!(step(2.0), 10.0);
        assert_eq!(step(3.99), 10.0);
        assert_eq!(step(4.0), 30.0);
        // A single key holds everywhere.
        assert_eq!(sample_vec(Interp::Linear, &[3.0], &[[7.0f32]], 0.0)[0], 7.0);
        assert_eq!(sample_vec(Interp::Linear, &[3.0], &[[7.0f32]], 5.0)[0], 7.0);
    }

    #[test]
    fn cubic_spline_is_hermite_with_tangents_scaled_by_the_key_delta() {
        // Keys at 0 and 2 with values 0 and 1; out-tangent of key 0 = 1, in-tangent of key 1 = 0.
        let times = [0.0, 2.0];
        let v = [[9.0f32], [0.0], [1.0], [0.0], [1.0], [9.0]];
        let at = |t| sample_vec(Interp::CubicSpline, &times, &v, t)[0];
        assert_eq!(at(-1.0), 0.0);
        assert_eq!(at(0.0), 0.0);
        assert_eq!(at(2.0), 1.0);
        assert_eq!(at(3.0), 1.0);
        // s = 0.5: h00 = 0.5, h10 = 0.125, h01 = 0.5, h11 = −0.125; dt = 2.
        // 0.5·0 + 0.125·2·1 + 0.5·1 − 0.125·2·0 = 0.75.
        assert!((at(1.0) - 0.75).abs() < 1e-6, "{}", at(1.0));
        // Zero tangents: the smoothstep 3s² − 2s³.
        let flat = [[0.0f32], [0.0], [0.0], [0.0], [1.0], [0.0]];
        let s = 0.25f32;
        let got = sample_vec(Interp::CubicSpline, &times, &flat, 0.5)[0];
        assert!((got - (3.0 * s * s - 2.0 * s * s * s)).abs() < 1e-6);
        // The slope at the start is the out-tangent (units per second), not per segment.
        let eps = 1e-3;
        let slope = (at(eps) - at(0.0)) / eps as f32;
        assert!((slope - 1.0).abs() < 1e-2, "slope {slope}");
    }

    #[test]
    fn slerp_takes_the_short_arc_at_constant_speed() {
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let id = [0.0, 0.0, 0.0, 1.0];
        let y90 = [0.0, h, 0.0, h];
        // Halfway between 0° and 90° about Y is 45°.
        let q = slerp(id, y90, 0.5);
        let a = std::f32::consts::FRAC_PI_8;
        assert!(close(q, [0.0, a.sin(), 0.0, a.cos()], 1e-6), "{q:?}");
        // A quarter of the way: 22.5°.
        let q = slerp(id, y90, 0.25);
        let a = std::f32::consts::PI / 16.0;
        assert!(close(q, [0.0, a.sin(), 0.0, a.cos()], 1e-6), "{q:?}");
        // −q is the same rotation: the shorter arc is taken, so the result is still 45° about +Y.
        let q = slerp(id, y90.map(|c| -c), 0.5);
        let a = std::f32::consts::FRAC_PI_8;
        assert!(close(q, [0.0, a.sin(), 0.0, a.cos()], 1e-6), "{q:?}");
        // Nearly equal quaternions and the ends.
        assert!(close(slerp(id, y90, 0.0), id, 1e-6));
        assert!(close(slerp(id, y90, 1.0), y90, 1e-6));
        let q = slerp(id, [0.0, 1e-4, 0.0, 1.0], 0.5);
        let n: f32 = q.iter().map(|c| c * c).sum();
        assert!((n - 1.0).abs() < 1e-6);
    }

    #[test]
    fn weights_tracks_sample_each_target_from_its_group() {
        // Two targets, keys at 0 and 1: (0, 1) → (1, 0).
        let times = [0.0, 1.0];
        let lin = [0.0, 1.0, 1.0, 0.0];
        assert_eq!(
            sample_weights(Interp::Linear, &times, &lin, 2, 0.25),
            [0.25, 0.75]
        );
        assert_eq!(
            sample_weights(Interp::Step, &times, &lin, 2, 0.75),
            [0.0, 1.0]
        );
        assert_eq!(
            sample_weights(Interp::Linear, &times, &lin, 2, 5.0),
            [1.0, 0.0]
        );
        // CUBICSPLINE groups per key: n in-tangents, n values, n out-tangents.
        let cubic = [9.0, 9.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 9.0, 9.0];
        let w = sample_weights(Interp::CubicSpline, &times, &cubic, 2, 0.5);
        assert!(
            (w[0] - 0.5).abs() < 1e-6 && (w[1] - 0.5).abs() < 1e-6,
            "{w:?}"
        );
    }

    #[test]
    fn rotation_tracks_are_normalised() {
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let times = [0.0, 1.0];
        let keys = [[0.0, 0.0, 0.0, 1.0], [h, 0.0, 0.0, h]];
        for interp in [Interp::Linear, Interp::Step] {
            let q = sample_rotation(interp, &times, &keys, 0.3);
            let n: f32 = q.iter().map(|c| c * c).sum();
            assert!((n - 1.0).abs() < 1e-6);
        }
        // A spline through two rotations, zero tangents: the middle is normalised, about X.
        let z = [0.0; 4];
        let cubic = [z, keys[0], z, z, keys[1], z];
        let q = sample_rotation(Interp::CubicSpline, &times, &cubic, 0.5);
        let n: f32 = q.iter().map(|c| c * c).sum();
        assert!((n - 1.0).abs() < 1e-6);
        assert!(q[1].abs() < 1e-7 && q[2].abs() < 1e-7 && q[0] > 0.0);
        // STEP holds the earlier key.
        assert_eq!(sample_rotation(Interp::Step, &times, &keys, 0.99), keys[0]);
    }
}
