//! Minimal vector/matrix helpers for scene preparation (the GPU does the heavy math).

pub type V3 = [f32; 3];
/// Column-major 4×4 matrix, as glTF stores it.
pub type M4 = [[f32; 4]; 4];

pub const IDENTITY: M4 = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

pub fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub fn scale(a: V3, s: f32) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
pub fn length(a: V3) -> f32 {
    dot(a, a).sqrt()
}
/// Normalises `a`; returns `None` for zero or non-finite vectors.
pub fn normalize(a: V3) -> Option<V3> {
    let l = length(a);
    (l.is_finite() && l > 1e-20).then(|| scale(a, 1.0 / l))
}
pub fn min3(a: V3, b: V3) -> V3 {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].min(b[2])]
}
pub fn max3(a: V3, b: V3) -> V3 {
    [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])]
}

pub fn mul(a: &M4, b: &M4) -> M4 {
    let mut r = [[0.0f32; 4]; 4];
    for (c, col) in r.iter_mut().enumerate() {
        for (row, v) in col.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[k][row] * b[c][k]).sum();
        }
    }
    r
}
pub fn transform_point(m: &M4, p: V3) -> V3 {
    let mut r = [m[3][0], m[3][1], m[3][2]];
    for (i, v) in r.iter_mut().enumerate() {
        *v += m[0][i] * p[0] + m[1][i] * p[1] + m[2][i] * p[2];
    }
    r
}
pub fn transform_dir(m: &M4, d: V3) -> V3 {
    let mut r = [0.0; 3];
    for (i, v) in r.iter_mut().enumerate() {
        *v = m[0][i] * d[0] + m[1][i] * d[1] + m[2][i] * d[2];
    }
    r
}
/// Column `c` of the upper 3×3 block.
pub fn column(m: &M4, c: usize) -> V3 {
    [m[c][0], m[c][1], m[c][2]]
}
pub fn det3(m: &M4) -> f32 {
    dot(column(m, 0), cross(column(m, 1), column(m, 2)))
}
/// Inverse-transpose of the upper 3×3 block, for normals (columns returned).
pub fn normal_matrix(m: &M4) -> Option<[V3; 3]> {
    let (a, b, c) = (column(m, 0), column(m, 1), column(m, 2));
    let det = det3(m);
    if !det.is_finite() || det.abs() < 1e-30 {
        return None;
    }
    // Inverse transpose = cofactor matrix / det; its columns are cross products of the columns.
    let inv = 1.0 / det;
    Some([
        scale(cross(b, c), inv),
        scale(cross(c, a), inv),
        scale(cross(a, b), inv),
    ])
}
pub fn apply3(cols: &[V3; 3], v: V3) -> V3 {
    add(
        add(scale(cols[0], v[0]), scale(cols[1], v[1])),
        scale(cols[2], v[2]),
    )
}
pub fn luminance(c: V3) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}
