//! Bounded, deterministic fuzzing of the scene loader: mutated .glb, .gltf and tar bundles must
//! give an error or a scene, never a panic, and stay within bounded time and memory.
//!
//! A hand-rolled mutator (no dependency), seeded per case, so every case is reproducible by its
//! number: `FUZZ_CASE=N cargo test -p tessera-render --test fuzz -- --nocapture` runs case N
//! alone and prints what it did; `FUZZ_CASES=N` changes how many cases run (default 1500).

mod common;
use common::*;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tessera_render::{FrameRate, LoadOptions, Scene, STANDARD_SCENE_GLB};

// ---- peak-memory accounting for this test binary ----

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new) };
        if !q.is_null() {
            if new >= layout.size() {
                let now =
                    CURRENT.fetch_add(new - layout.size(), Ordering::Relaxed) + new - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Most memory one load of a mutated bundle may take above what was allocated before it. The
/// seeds are tiny: a loader that sizes anything from an absurd count before checking it
/// against the data would blow far past this.
const MAX_CASE_BYTES: usize = 256 << 20;
/// Most time one load may take (generous: the machine is shared and this is a debug build).
const MAX_CASE_TIME: Duration = Duration::from_secs(5);

// ---- deterministic random numbers (splitmix64) ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---- seeds: small valid bundles that reach every part of the loader ----

/// A seed: the glTF JSON, its binary buffer and the external files a tar bundle carries.
#[derive(Clone)]
struct Seed {
    json: Value,
    bin: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x * 60) as u8, (y * 60) as u8, 128, 255])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Splits a .glb into its JSON and BIN chunks.
fn split_glb(glb: &[u8]) -> (Value, Vec<u8>) {
    let u32_at = |i: usize| u32::from_le_bytes(glb[i..i + 4].try_into().unwrap()) as usize;
    let jl = u32_at(12);
    let json = serde_json::from_slice(&glb[20..20 + jl]).unwrap();
    let b = 20 + jl;
    let bin = if b + 8 <= glb.len() {
        glb[b + 8..b + 8 + u32_at(b)].to_vec()
    } else {
        Vec::new()
    };
    (json, bin)
}

fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();

    // The Cornell box.
    let (json, bin) = split_glb(STANDARD_SCENE_GLB);
    out.push(Seed {
        json,
        bin,
        files: vec![],
    });

    // Textures (external and embedded in a buffer view), emission, lights, two cameras,
    // an animated cube with a morph target.
    let mut b = Builder::default();
    b.images.push(json!({"uri": "tex.png"}));
    b.textures.push(json!({"source": 0, "sampler": 0}));
    let tex = b.material(
        json!({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
        "metallicRoughnessTexture": {"index": 0}, "metallicFactor": 0.5},
        "emissiveTexture": {"index": 0}, "emissiveFactor": [0.1, 0.1, 0.1]}),
    );
    b.floor(1.0, tex);
    let glow = b.material(json!({"emissiveFactor": [1.0, 0.5, 0.2],
        "extensions": {"KHR_materials_emissive_strength": {"emissiveStrength": 3.0}}}));
    let cube = b.cube(0.25, glow);
    b.morph_target(cube, &[0.1; 72], None);
    b.animate(cube, "translation", "LINEAR", &[0.0, 1.0], &[0.0; 6]);
    b.animate(
        cube,
        "rotation",
        "CUBICSPLINE",
        &[0.0, 1.0],
        &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0].repeat(2),
    );
    b.animate(cube, "weights", "STEP", &[0.0, 0.5], &[0.0, 1.0]);
    b.perspective([0.0, 0.5, 3.0], 0.8);
    b.ortho_down([0.0, 2.0, 0.0], 1.5);
    b.point_light([0.0, 2.0, 0.0], 100.0);
    b.lights.push(json!({"type": "spot", "intensity": 50.0,
        "spot": {"innerConeAngle": 0.2, "outerConeAngle": 0.6}}));
    b.node(json!({"translation": [1.0, 2.0, 0.0], "extensions": {"KHR_lights_punctual": {"light": 1}}}));
    b.extensions.push("KHR_materials_emissive_strength");
    let mut json = b.json(Some("scene.bin"));
    json["samplers"] = json!([{"wrapS": 33648, "wrapT": 33071}]);
    out.push(Seed {
        json,
        bin: b.bin.clone(),
        files: vec![("tex.png".into(), png(4, 3))],
    });

    // A skinned strip on two bones, one of them animated, and an environment colour.
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let pos: Vec<f32> = [0.0f32, 1.0, 2.0]
        .iter()
        .flat_map(|&x| [x, 0.0, -0.1, x, 0.0, 0.1])
        .collect();
    let p = b.floats(&pos, "VEC3", 3);
    let i = b.indices(&[0, 1, 3, 0, 3, 2, 2, 3, 5, 2, 5, 4]);
    let j = b.ushorts(&[0, 1, 0, 0].repeat(6), "VEC4", 4);
    let w = b.floats(
        &[
            1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0,
        ]
        .iter()
        .chain(&[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
        .copied()
        .collect::<Vec<f32>>(),
        "VEC4",
        4,
    );
    b.meshes.push(
        json!({"primitives": [{"attributes": {"POSITION": p, "JOINTS_0": j, "WEIGHTS_0": w},
        "indices": i, "material": m}]}),
    );
    let bone1 = b.node(json!({"translation": [1.0, 0.0, 0.0]}));
    let bone0 = b.node(json!({"children": [bone1]}));
    #[rustfmt::skip]
    let ibm = b.floats(&[
        1.0, 0.0, 0.0, 0.0,  0.0, 1.0, 0.0, 0.0,  0.0, 0.0, 1.0, 0.0,  0.0, 0.0, 0.0, 1.0,
        1.0, 0.0, 0.0, 0.0,  0.0, 1.0, 0.0, 0.0,  0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 1.0,
    ], "MAT4", 16);
    b.skins
        .push(json!({"joints": [bone0, bone1], "inverseBindMatrices": ibm}));
    b.node(json!({"mesh": 0, "skin": 0}));
    let h = std::f32::consts::FRAC_1_SQRT_2;
    b.animate(
        bone1,
        "rotation",
        "LINEAR",
        &[0.0, 1.0],
        &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, h, h],
    );
    b.scene_extras = Some(json!({"tessera_environment": {"color": [0.2, 0.3, 0.4]}}));
    out.push(Seed {
        json: b.json(None),
        bin: b.bin.clone(),
        files: vec![],
    });
    out
}

// ---- mutations ----

const NUMBERS: [f64; 16] = [
    0.0,
    1.0,
    -1.0,
    2.0,
    3.0,
    255.0,
    65535.0,
    65536.0,
    2147483647.0,
    4294967295.0,
    4294967296.0,
    1e15,
    1e20,
    -1e20,
    1e308,
    0.5,
];
const STRINGS: [&str; 10] = [
    "SCALAR",
    "VEC2",
    "VEC4",
    "MAT4",
    "STEP",
    "CUBICSPLINE",
    "weights",
    "data:application/octet-stream;base64,AAAA",
    "../escape.bin",
    "",
];

/// Every value in the document, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// One structure-aware change to the JSON: an absurd number, another string, a key removed,
/// an element duplicated, or a field added where loaders look for it.
fn mutate_json(rng: &mut Rng, json: &mut Value, log: &mut Vec<String>) {
    let mut all = Vec::new();
    pointers(json, String::new(), &mut all);
    let at = rng.pick(&all).clone();
    let target = json.pointer_mut(&at).unwrap();
    match rng.below(6) {
        0 | 1 => {
            let n = *rng.pick(&NUMBERS);
            log.push(format!("{at} = {n}"));
            *target = json!(n);
        }
        2 => {
            let s = *rng.pick(&STRINGS);
            log.push(format!("{at} = {s:?}"));
            *target = json!(s);
        }
        3 => {
            // Remove a key of the parent object, or an element of the parent array.
            if let Some((parent, key)) = at.rsplit_once('/') {
                let key = key.replace("~1", "/").replace("~0", "~");
                match json.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&key);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
                log.push(format!("remove {at}"));
            }
        }
        4 => {
            if let Value::Array(a) = target {
                if let Some(first) = a.first().cloned() {
                    let times = 1 + rng.below(3);
                    for _ in 0..times {
                        a.push(first.clone());
                    }
                    log.push(format!("{at}: first element repeated {times}×"));
                }
            }
        }
        _ => {
            if let Value::Object(m) = target {
                let stride = *rng.pick(&[0.0, 1.0, 4.0, 252.0, 256.0, 1e9]);
                let number = *rng.pick(&NUMBERS);
                let mode = *rng.pick(&[0.0, 1.0, 5.0, 6.0, 7.0]);
                let (k, v) = rng.pick(&[
                    ("byteStride", json!(stride)),
                    ("byteOffset", json!(number)),
                    ("count", json!(number)),
                    ("normalized", json!(true)),
                    ("sparse", json!({"count": 1, "indices": {"bufferView": 0, "componentType": 5125}, "values": {"bufferView": 0}})),
                    ("matrix", json!(vec![0.0; 16])),
                    ("scale", json!([0.0, 0.0, 0.0])),
                    ("rotation", json!([0.0, 0.0, 0.0, 0.0])),
                    ("weights", json!([1e30, -1.0])),
                    ("targets", json!([{"POSITION": 0}])),
                    ("children", json!([0])),
                    ("mode", json!(mode)),
                ])
                .clone();
                log.push(format!("{at}/{k} = {v}"));
                m.insert(k.to_string(), v);
            }
        }
    }
}

const WORDS: [u32; 10] = [
    0,
    1,
    0x7fff_ffff,
    0xffff_ffff,
    0x8000_0000,
    0x7f80_0000, // +∞
    0x7fc0_0000, // NaN
    0xff80_0000, // −∞
    0x7f7f_ffff, // f32::MAX
    0x0000_ffff,
];

/// One change to raw bytes: bit flips, an absurd 32-bit word, a cut, or bytes appended.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, log: &mut Vec<String>) {
    if bytes.is_empty() {
        bytes.push(0);
    }
    match rng.below(5) {
        0 | 1 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            log.push(format!("{n} bit flips"));
        }
        2 => {
            let i = rng.below(bytes.len()) & !3;
            let w = *rng.pick(&WORDS);
            let end = (i + 4).min(bytes.len());
            bytes[i..end].copy_from_slice(&w.to_le_bytes()[..end - i]);
            log.push(format!("word {w:#x} at {i}"));
        }
        3 => {
            let n = rng.below(bytes.len());
            bytes.truncate(n);
            log.push(format!("cut to {n} bytes"));
        }
        _ => {
            let n = 1 + rng.below(64);
            bytes.extend((0..n).map(|_| rng.next() as u8));
            log.push(format!("{n} bytes appended"));
        }
    }
}

fn tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    t.into_inner().unwrap()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            s.push(if k <= c.len() {
                T[(n >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

/// The first buffer of a (possibly mutated) document, when there is one to point somewhere.
fn buffer0(json: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    json.get_mut("buffers")?.get_mut(0)?.as_object_mut()
}

/// The bundle bytes of fuzz case `case`, and what was done to the seed.
fn case_input(seeds: &[Seed], case: u64) -> (Vec<u8>, Vec<String>) {
    let mut rng = Rng(case.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let which = rng.below(seeds.len());
    let mut seed = seeds[which].clone();
    let mut log = vec![format!("seed {which}")];
    for _ in 0..rng.below(4) {
        mutate_json(&mut rng, &mut seed.json, &mut log);
    }
    if rng.below(3) == 0 {
        mutate_bytes(&mut rng, &mut seed.bin, &mut log);
        log.push("(in the BIN buffer)".into());
    }
    if let Some((_, f)) = seed.files.first_mut() {
        if rng.below(4) == 0 {
            mutate_bytes(&mut rng, f, &mut log);
            log.push("(in the texture file)".into());
        }
    }
    // Encode: .glb, .gltf with a data: URI buffer, or a tar with the .gltf and its files.
    let mut bytes = match rng.below(3) {
        0 => {
            log.push("as .glb".into());
            if seed.files.is_empty() {
                if let Some(b) = buffer0(&mut seed.json) {
                    b.remove("uri");
                }
            }
            glb_from(&seed.json, &seed.bin)
        }
        1 => {
            log.push("as .gltf, data: URI".into());
            if let Some(b) = buffer0(&mut seed.json) {
                let uri = format!("data:application/octet-stream;base64,{}", base64(&seed.bin));
                b.insert("uri".into(), json!(uri));
            }
            serde_json::to_vec(&seed.json).unwrap()
        }
        _ => {
            log.push("as tar".into());
            if let Some(b) = buffer0(&mut seed.json) {
                b.insert("uri".into(), json!("scene.bin"));
            }
            let mut files = vec![
                (
                    "s/scene.gltf".to_string(),
                    serde_json::to_vec(&seed.json).unwrap(),
                ),
                ("s/scene.bin".to_string(), seed.bin.clone()),
            ];
            for (n, d) in &seed.files {
                files.push((format!("s/{n}"), d.clone()));
            }
            tar(&files)
        }
    };
    if rng.below(3) == 0 {
        mutate_bytes(&mut rng, &mut bytes, &mut log);
        log.push("(in the bundle)".into());
    }
    (bytes, log)
}

/// Loads one case (at frame 1 and at a later frame), returning its time and peak memory;
/// `quiet` keeps a panic's message (and backtrace) from being printed where it happens.
fn run_case(bytes: &[u8], quiet: bool) -> Result<(Duration, usize), String> {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let t = Instant::now();
    // Quiet the default panic message: the caller reports panics with the case.
    let hook = quiet.then(|| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        hook
    });
    let result = std::panic::catch_unwind(|| {
        let a = Scene::from_bundle(bytes).map(|s| s.triangle_count());
        let opts = LoadOptions::at_frame(13, FrameRate::DEFAULT);
        let b = Scene::from_bundle_with(bytes, &opts).map(|s| s.triangle_count());
        (a.is_ok(), b.is_ok())
    });
    if let Some(hook) = hook {
        std::panic::set_hook(hook);
    }
    let took = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    match result {
        Ok(_) => Ok((took, peak)),
        Err(e) => Err(e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()),
    }
}

#[test]
fn mutated_bundles_never_panic_and_stay_bounded() {
    let seeds = seeds();
    // Every seed loads as it is (so mutations start from valid bundles).
    for s in &seeds {
        let files: Vec<(String, Vec<u8>)> = s.files.clone();
        let mut j = s.json.clone();
        j["buffers"][0]["uri"] = json!("scene.bin");
        let mut all = vec![
            ("s/scene.gltf".to_string(), serde_json::to_vec(&j).unwrap()),
            ("s/scene.bin".to_string(), s.bin.clone()),
        ];
        all.extend(files.into_iter().map(|(n, d)| (format!("s/{n}"), d)));
        Scene::from_bundle(&tar(&all)).expect("seed loads");
    }
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases: Vec<u64> = match env("FUZZ_CASE") {
        Some(c) => vec![c],
        None => (0..env("FUZZ_CASES").unwrap_or(1500)).collect(),
    };
    let verbose = env("FUZZ_CASE").is_some();
    let start = Instant::now();
    let mut failures = Vec::new();
    let (mut slowest, mut largest) = ((Duration::ZERO, 0), (0usize, 0));
    for &case in &cases {
        let (bytes, log) = case_input(&seeds, case);
        if verbose {
            eprintln!("case {case}: {} bytes: {}", bytes.len(), log.join("; "));
        }
        match run_case(&bytes, !verbose) {
            Ok((took, peak)) => {
                if took > slowest.0 {
                    slowest = (took, case);
                }
                if peak > largest.0 {
                    largest = (peak, case);
                }
                if took > MAX_CASE_TIME || peak > MAX_CASE_BYTES {
                    failures.push(format!(
                        "case {case} took {took:?} and {peak} bytes: {}",
                        log.join("; ")
                    ));
                }
            }
            Err(msg) => failures.push(format!("case {case} panicked ({msg}): {}", log.join("; "))),
        }
    }
    eprintln!(
        "{} cases in {:?}; slowest case {} ({:?}); most memory case {} ({} KiB)",
        cases.len(),
        start.elapsed(),
        slowest.1,
        slowest.0,
        largest.1,
        largest.0 >> 10
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
