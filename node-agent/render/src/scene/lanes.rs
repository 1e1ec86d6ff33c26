//! SIMD lane utilisation of the shader's closest-hit walk, simulated on the CPU (a measurement
//! for the wavefront question of issue 13, not a check):
//!
//!     cargo test --release -p tessera-render --lib lane_utilisation -- --ignored --nocapture
//!
//! llvmpipe runs 8 invocations in lockstep: each loop of `trace` runs until the group's slowest
//! lane is done. This replays the walk of `trace` (rounds of "walk to the next two entered
//! leaves, then test their triangles", on the octant copy of the ray's direction, skipping the
//! root for rays from inside it) per ray, and charges a group of 8 rays, round by round, the
//! longest walk and the longest triangle loop of its lanes. Groups are formed three ways:
//! - `megakernel`: what the shader does now, eight neighbouring pixels of a row, each lane on
//!   its own path (path regeneration: a lane whose path ends starts its next sample at once);
//! - `wavefront`: all rays of one bounce depth, compacted (no idle lanes), in pixel order;
//! - `by octant`: the same rays binned by direction octant, pixel order kept within a bin;
//! - `sorted`: the same rays sorted by direction octant and a Morton code of the origin (what a
//!   wavefront with a sort between dispatches would trace).

use super::bvh::{children, ordered_for, slab, tri_hit, BvhNode};
use super::math::{cross, dot, sub};

type V3 = [f32; 3];

/// Per round of one ray's walk: (node visits, triangle tests).
type Rounds = Vec<(u32, u32)>;

const LANES: usize = 8;

/// The rounds of `trace` for one ray on an octant copy; also the hit (t, triangle).
fn walk_rounds(nodes: &[BvhNode], tris: &[[V3; 3]], o: V3, d: V3) -> (Rounds, Option<(f32, u32)>) {
    let inv = [1.0 / d[0], 1.0 / d[1], 1.0 / d[2]];
    let root = &nodes[0];
    let inside = (0..3).all(|a| o[a] >= root.min[a] && o[a] <= root.max[a]);
    let mut ni = usize::from(inside && nodes.len() > 1);
    let mut best: Option<(f32, u32)> = None;
    let mut rounds = Rounds::new();
    loop {
        let tmax = best.map_or(f32::INFINITY, |b| b.0);
        let (mut steps, mut leaves) = (0u32, Vec::new());
        while ni < nodes.len() && leaves.len() < 2 {
            let n = &nodes[ni];
            steps += 1;
            let entered = slab(n, o, inv, tmax);
            let leaf = n.count > 0;
            ni = if !entered && !leaf {
                n.index as usize
            } else {
                ni + 1
            };
            if entered && leaf {
                leaves.push((n.index, n.count));
            }
        }
        let mut tests = 0;
        for &(first, count) in &leaves {
            for t in first..first + count {
                tests += 1;
                if let Some(h) = tri_hit(&tris[t as usize], o, d) {
                    if h < best.map_or(f32::INFINITY, |b| b.0) {
                        best = Some((h, t));
                    }
                }
            }
        }
        rounds.push((steps, tests));
        if leaves.is_empty() {
            return (rounds, best);
        }
    }
}

/// The rounds of the same walk if each node record held its children's boxes (two per 32-byte
/// record, so a node of k children costs ⌈k/2⌉ loop iterations), with an ideal free stack:
/// per round (32-byte record fetches, triangle tests), and the box tests made. Entered leaf
/// children come with their parent's record (no iteration of their own); their boxes are tested
/// with the tmax of that moment, as a stack walk would.
fn walk_rounds_children_in_parent(
    nodes: &[BvhNode],
    tris: &[[V3; 3]],
    o: V3,
    d: V3,
) -> (Rounds, u64) {
    let inv = [1.0 / d[0], 1.0 / d[1], 1.0 / d[2]];
    let root = &nodes[0];
    let inside = (0..3).all(|a| o[a] >= root.min[a] && o[a] <= root.max[a]);
    let mut stack: Vec<usize> = Vec::new();
    if inside || slab(root, o, inv, f32::INFINITY) {
        stack.push(0);
    }
    let mut best: Option<f32> = None;
    let (mut rounds, mut boxes) = (Rounds::new(), 0u64);
    loop {
        let tmax = best.unwrap_or(f32::INFINITY);
        let (mut fetches, mut leaves) = (0u32, Vec::new());
        while leaves.len() < 2 {
            let Some(ni) = stack.pop() else { break };
            let n = &nodes[ni];
            if n.count > 0 {
                leaves.push((n.index, n.count));
                continue;
            }
            let children = children(nodes, ni);
            fetches += children.len().div_ceil(2) as u32;
            boxes += children.len() as u64;
            let entered: Vec<usize> = children
                .into_iter()
                .filter(|&c| slab(&nodes[c], o, inv, tmax))
                .collect();
            stack.extend(entered.into_iter().rev());
        }
        let mut tests = 0;
        for &(first, count) in &leaves {
            for t in first..first + count {
                tests += 1;
                if let Some(h) = tri_hit(&tris[t as usize], o, d) {
                    if h < best.unwrap_or(f32::INFINITY) {
                        best = Some(h);
                    }
                }
            }
        }
        rounds.push((fetches, tests));
        if leaves.is_empty() {
            return (rounds, boxes);
        }
    }
}

/// (lane-iterations charged to the groups, useful lane-iterations), for node steps and
/// triangle tests, of rays traced in lockstep groups.
#[derive(Default, Clone, Copy)]
struct Cost {
    node: [u64; 2],
    tri: [u64; 2],
}

impl Cost {
    fn add_group(&mut self, group: &[&Rounds]) {
        let most = group.iter().map(|r| r.len()).max().unwrap_or(0);
        for k in 0..most {
            let at = |r: &&Rounds| r.get(k).copied().unwrap_or((0, 0));
            let steps = group.iter().map(|r| at(r).0).max().unwrap_or(0);
            let tests = group.iter().map(|r| at(r).1).max().unwrap_or(0);
            self.node[0] += LANES as u64 * steps as u64;
            self.tri[0] += LANES as u64 * tests as u64;
        }
        for r in group {
            self.node[1] += r.iter().map(|x| x.0 as u64).sum::<u64>();
            self.tri[1] += r.iter().map(|x| x.1 as u64).sum::<u64>();
        }
    }
    fn line(&self, name: &str) -> String {
        let pct = |x: [u64; 2]| 100.0 * x[1] as f64 / x[0].max(1) as f64;
        format!(
            "{name}: group node steps {}, useful {:.0}%; group tri tests {}, useful {:.0}%",
            self.node[0] / LANES as u64,
            pct(self.node),
            self.tri[0] / LANES as u64,
            pct(self.tri)
        )
    }
}

/// One traced ray of a path: its origin, direction and walk.
struct Ray {
    o: V3,
    d: V3,
    rounds: Rounds,
    /// The same ray's walk with children-in-parent records, and its box tests.
    cip: (Rounds, u64),
}

fn octant(d: V3) -> usize {
    (d[0] < 0.0) as usize | ((d[1] < 0.0) as usize) << 1 | ((d[2] < 0.0) as usize) << 2
}

/// 10 bits per axis of p in [lo, hi], interleaved.
fn morton(p: V3, lo: V3, hi: V3) -> u64 {
    let mut key = 0u64;
    let q: Vec<u64> = (0..3)
        .map(|a| (((p[a] - lo[a]) / (hi[a] - lo[a]).max(1e-20)).clamp(0.0, 1.0) * 1023.0) as u64)
        .collect();
    for bit in (0..10).rev() {
        for v in &q {
            key = key << 1 | (v >> bit & 1);
        }
    }
    key
}

/// The rays of each pixel's paths, in trace order: camera ray, then cosine-sampled diffuse
/// bounces until a miss, `max_bounces`, or Russian roulette (survival 0.7 from depth 2).
fn paths(
    scene: &crate::Scene,
    copies: &[Vec<BvhNode>],
    tris: &[[V3; 3]],
    w: u32,
    h: u32,
    spp: u32,
) -> Vec<Vec<(u32, Ray)>> {
    let max_bounces = 6;
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let mut rng = (y * w + x).wrapping_mul(2654435761) ^ 0x9e37_79b9;
            let mut rnd = || {
                rng = rng.wrapping_mul(747796405).wrapping_add(2891336453);
                (rng >> 8) as f32 / 16_777_216.0
            };
            let mut rays = Vec::new();
            for _ in 0..spp {
                let (mut o, mut d) = scene.camera().ray(x as f32 + rnd(), y as f32 + rnd(), w, h);
                for depth in 0..=max_bounces {
                    let (rounds, hit) = walk_rounds(&copies[octant(d)], tris, o, d);
                    let cip = walk_rounds_children_in_parent(&copies[octant(d)], tris, o, d);
                    rays.push((depth, Ray { o, d, rounds, cip }));
                    let Some((t, i)) = hit else { break };
                    if depth == max_bounces || (depth >= 2 && rnd() >= 0.7) {
                        break;
                    }
                    let tr = &tris[i as usize];
                    let mut n = cross(sub(tr[1], tr[0]), sub(tr[2], tr[0]));
                    let l = dot(n, n).sqrt().max(1e-30);
                    n = [n[0] / l, n[1] / l, n[2] / l];
                    if dot(n, d) > 0.0 {
                        n = [-n[0], -n[1], -n[2]];
                    }
                    let p = [o[0] + d[0] * t, o[1] + d[1] * t, o[2] + d[2] * t];
                    let s = p.iter().fold(1.0f32, |m, v| m.max(v.abs())) * 1e-4;
                    o = [p[0] + n[0] * s, p[1] + n[1] * s, p[2] + n[2] * s];
                    d = cosine_dir(n, rnd(), rnd());
                }
            }
            out.push(rays);
        }
    }
    out
}

fn cosine_dir(n: V3, u1: f32, u2: f32) -> V3 {
    let sgn = if n[2] >= 0.0 { 1.0 } else { -1.0 };
    let a = -1.0 / (sgn + n[2]);
    let b = n[0] * n[1] * a;
    let t = [1.0 + sgn * n[0] * n[0] * a, sgn * b, -sgn * n[0]];
    let bt = [b, sgn + n[1] * n[1] * a, -n[1]];
    let (r, phi) = (u1.sqrt(), 2.0 * std::f32::consts::PI * u2);
    let l = [r * phi.cos(), r * phi.sin(), (1.0 - u1).max(0.0).sqrt()];
    [0, 1, 2].map(|k| t[k] * l[0] + bt[k] * l[1] + n[k] * l[2])
}

#[test]
#[ignore]
fn lane_utilisation() {
    let spp = std::env::var("LANES_SPP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let (w, h) = (160, 90);
    let cornell: (&str, fn() -> Vec<u8>) = ("cornell", || crate::STANDARD_SCENE_GLB.to_vec());
    for (name, make) in crate::bench_scenes::SCENES.into_iter().chain([cornell]) {
        let scene = crate::Scene::from_bundle(&make()).unwrap();
        let tris: Vec<[V3; 3]> = scene.tris.iter().map(super::tri_vertices).collect();
        let copies: Vec<Vec<BvhNode>> = (0..8u32)
            .map(|k| {
                let sign = |bit: u32| if k & bit != 0 { -1.0 } else { 1.0 };
                ordered_for(&scene.nodes, [sign(1), sign(2), sign(4)], 0)
            })
            .collect();
        let px = paths(&scene, &copies, &tris, w, h, spp);
        // Megakernel: 8 neighbouring pixels of a row, the k-th trace of each lane together.
        // `full`: only while every lane has a ray (without the tail of a dispatch, whose cost
        // grows with the spread of the lanes' path lengths and shrinks with samples per dispatch).
        let (mut mega, mut full, mut cip) = (Cost::default(), Cost::default(), Cost::default());
        for row in px.chunks(w as usize) {
            for group in row.chunks(LANES) {
                let most = group.iter().map(|p| p.len()).max().unwrap_or(0);
                let least = group.iter().map(|p| p.len()).min().unwrap_or(0);
                for k in 0..most {
                    let g: Vec<&Rounds> = group
                        .iter()
                        .filter_map(|p| p.get(k))
                        .map(|r| &r.1.rounds)
                        .collect();
                    mega.add_group(&g);
                    let c: Vec<&Rounds> = group
                        .iter()
                        .filter_map(|p| p.get(k))
                        .map(|r| &r.1.cip.0)
                        .collect();
                    cip.add_group(&c);
                    if k < least && g.len() == LANES {
                        full.add_group(&g);
                    }
                }
            }
        }
        // Wavefront: all rays of one depth, compacted in pixel order, then sorted.
        let (root_lo, root_hi) = (scene.nodes[0].min, scene.nodes[0].max);
        let (mut wave, mut binned, mut sorted) =
            (Cost::default(), Cost::default(), Cost::default());
        for depth in 0..=6u32 {
            let mut rays: Vec<&Ray> = px
                .iter()
                .flatten()
                .filter(|r| r.0 == depth)
                .map(|r| &r.1)
                .collect();
            for g in rays.chunks(LANES) {
                wave.add_group(&g.iter().map(|r| &r.rounds).collect::<Vec<_>>());
            }
            // Binned by octant only (what eight atomic counters would do), order kept within.
            rays.sort_by_key(|r| octant(r.d));
            for g in rays.chunks(LANES) {
                binned.add_group(&g.iter().map(|r| &r.rounds).collect::<Vec<_>>());
            }
            rays.sort_by_key(|r| (octant(r.d) as u64) << 30 | morton(r.o, root_lo, root_hi));
            for g in rays.chunks(LANES) {
                sorted.add_group(&g.iter().map(|r| &r.rounds).collect::<Vec<_>>());
            }
        }
        let rays: usize = px.iter().map(|p| p.len()).sum();
        println!("{name} ({rays} rays, {w}x{h}, {spp} spp):");
        println!("  {}", mega.line("megakernel"));
        println!("  {}", full.line("megakernel, lanes all busy"));
        let boxes_now: u64 = px
            .iter()
            .flatten()
            .map(|r| r.1.rounds.iter().map(|x| x.0 as u64).sum::<u64>())
            .sum();
        let boxes_cip: u64 = px.iter().flatten().map(|r| r.1.cip.1).sum();
        println!(
            "  {}",
            cip.line("children-in-parent (32-byte records, free stack)")
        );
        println!(
            "  box tests now {boxes_now}, children-in-parent {boxes_cip}; charged node iterations now {}, children-in-parent {} ({:.3}x; counting each 32-byte iteration as 1.44 of today's: {:.3}x)",
            mega.node[0],
            cip.node[0],
            cip.node[0] as f64 / mega.node[0] as f64,
            1.44 * cip.node[0] as f64 / mega.node[0] as f64
        );
        println!("  {}", wave.line("wavefront "));
        println!("  {}", binned.line("by octant "));
        println!("  {}", sorted.line("sorted    "));
    }
}
