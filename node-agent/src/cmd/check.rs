//! `node-agent check SCENE [--frames 1-48] [--output json]`: loads a scene on the CPU only (no
//! Vulkan) at the first and last frame and says what it holds and whether it would render.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use tessera_render::{Environment, FrameRate, LoadOptions, Scene, SceneError};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scene: .glb, .gltf (files beside it) or .tar bundle.
    pub scene: PathBuf,
    /// Frames to check, as FIRST-LAST or one FRAME: the scene is loaded at the first and the
    /// last (default: frame 1 to the animation's last frame at 24 fps).
    #[arg(long, value_parser = parse_frames)]
    pub frames: Option<(u32, u32)>,
    /// Camera as for `render` (node/camera name, index, or "auto").
    #[arg(long)]
    pub camera: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

fn parse_frames(s: &str) -> Result<(u32, u32), String> {
    let num = |p: &str| p.trim().parse::<u32>().map_err(|e| format!("{p:?}: {e}"));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(s)?, num(s)?),
    };
    if a > b {
        return Err(format!("first frame {a} after last frame {b}"));
    }
    Ok((a, b))
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let report = check(&args);
    let ok = report["ok"] == json!(true);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Text => print!("{}", text(&report)),
    }
    if !ok {
        match args.output {
            // The report on stdout is for programs: say it all on stderr too.
            Output::Json => bail!(
                "{} would not render: {}",
                args.scene.display(),
                report["error"].as_str().unwrap_or("load error")
            ),
            Output::Text => bail!("{} would not render", args.scene.display()),
        }
    }
    Ok(())
}

/// Loads the scene at the first and last frame and builds the report (`"ok": false` with the
/// error and its problems when a load fails).
pub fn check(args: &CheckArgs) -> Value {
    let rate = FrameRate::DEFAULT;
    let load = |frame: u32| {
        let opts = LoadOptions {
            camera: args.camera.clone(),
            ..LoadOptions::at_frame(frame, rate)
        };
        Scene::from_path_with(&args.scene, &opts)
    };
    let first_frame = args.frames.map_or(FrameRate::FRAME_AT_ZERO, |f| f.0);
    let first = match load(first_frame) {
        Ok(s) => s,
        Err(e) => return failure(&args.scene, first_frame, &e),
    };
    let last_frame = args
        .frames
        .map_or(first.animation_frames(rate), |f| f.1)
        .max(first_frame);
    // A static scene is the same at every frame: one load tells all.
    let last = if first.is_animated() && last_frame != first_frame {
        match load(last_frame) {
            Ok(s) => Some(s),
            Err(e) => return failure(&args.scene, last_frame, &e),
        }
    } else {
        None
    };

    let mut warnings: Vec<&str> = Vec::new();
    for w in first
        .warnings()
        .iter()
        .chain(last.iter().flat_map(|s| s.warnings()))
    {
        if !warnings.contains(&w.as_str()) {
            warnings.push(w);
        }
    }
    let cameras: Vec<Value> = first
        .cameras()
        .iter()
        .map(|c| json!({"node": c.node, "name": c.name}))
        .collect();
    let camera = match first.camera_index() {
        None => "auto".to_owned(),
        Some(i) => camera_label(&first, i),
    };
    let extensions: Vec<Value> = first
        .extensions()
        .iter()
        .map(|(name, status)| json!({"name": name, "status": status.as_str()}))
        .collect();
    let environment = match first.environment() {
        Environment::Black => "black",
        Environment::Color(_) => "color",
        Environment::Image { .. } => "image",
    };
    json!({
        "ok": true,
        "scene": args.scene.display().to_string(),
        "frames_checked": if last.is_some() { vec![first_frame, last_frame] } else { vec![first_frame] },
        "triangles": first.triangle_count(),
        "textures": first.texture_count(),
        "texture_bytes": first.texture_bytes(),
        "lights": {
            "punctual": first.punctual_light_count(),
            "emissive_triangles": first.emissive_triangle_count(),
        },
        "cameras": cameras,
        "camera": camera,
        "environment": environment,
        "animated": first.is_animated(),
        "animation_seconds": first.animation_duration(),
        "animation_frames": first.animation_frames(rate),
        "fps": rate.fps(),
        "extensions": extensions,
        "warnings": warnings,
    })
}

/// How a camera is named in the report: its node's name, else its own, else `#index`.
fn camera_label(scene: &Scene, i: usize) -> String {
    let c = &scene.cameras()[i];
    c.node
        .clone()
        .or_else(|| c.name.clone())
        .unwrap_or_else(|| format!("#{i}"))
}

fn failure(path: &Path, frame: u32, e: &SceneError) -> Value {
    let problems: Vec<Value> = e
        .problems()
        .iter()
        .map(|p| json!({"subject": p.subject, "detail": p.detail, "fix": p.fix, "extension": p.extension}))
        .collect();
    let refused: Vec<Value> = e
        .problems()
        .iter()
        .filter_map(|p| p.extension.as_ref())
        .map(|name| json!({"name": name, "status": "refused"}))
        .collect();
    json!({
        "ok": false,
        "scene": path.display().to_string(),
        "frame": frame,
        "error": e.to_string(),
        "problems": problems,
        "extensions": refused,
    })
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The report as aligned lines for people.
fn text(r: &Value) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<12}{v}\n"));
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    line("scene", s(&r["scene"]));
    if r["ok"] != json!(true) {
        line("status", format!("FAILS at frame {}", r["frame"]));
        let problems = r["problems"].as_array().cloned().unwrap_or_default();
        if problems.is_empty() {
            line("error", s(&r["error"]));
        }
        for p in problems {
            let mut t = format!("{}: {}", s(&p["subject"]), s(&p["detail"]));
            if let Some(fix) = p["fix"].as_str() {
                t.push_str(&format!(" — {fix}"));
            }
            line("problem", t);
        }
        return out;
    }
    line("status", "ok (renders)".into());
    let frames: Vec<String> = r["frames_checked"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f.to_string())
        .collect();
    line("frames", format!("{} checked", frames.join(" and ")));
    line("triangles", n(&r["triangles"]).to_string());
    line(
        "textures",
        format!(
            "{} ({} decoded)",
            n(&r["textures"]),
            bytes(n(&r["texture_bytes"]))
        ),
    );
    line(
        "lights",
        format!(
            "{} punctual, {} emissive triangles; environment {}",
            n(&r["lights"]["punctual"]),
            n(&r["lights"]["emissive_triangles"]),
            s(&r["environment"])
        ),
    );
    let cams: Vec<String> = r["cameras"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| match (c["node"].as_str(), c["name"].as_str()) {
            (Some(node), Some(name)) => format!("{node:?} (camera {name:?})"),
            (Some(x), None) | (None, Some(x)) => format!("{x:?}"),
            (None, None) => format!("#{i}"),
        })
        .collect();
    let cams = if cams.is_empty() {
        "none".to_owned()
    } else {
        cams.join(", ")
    };
    line("cameras", format!("{cams}; using {}", s(&r["camera"])));
    line(
        "animation",
        match r["animation_seconds"].as_f64() {
            Some(d) if r["animated"] == json!(true) => format!(
                "{d:.3} s, {} frames at {} fps",
                n(&r["animation_frames"]),
                r["fps"].as_f64().unwrap_or(0.0)
            ),
            _ => "none (static: every frame is the same)".into(),
        },
    );
    let ext: Vec<String> = r["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("{} ({})", s(&e["name"]), s(&e["status"])))
        .collect();
    line(
        "extensions",
        if ext.is_empty() {
            "none".into()
        } else {
            ext.join(", ")
        },
    );
    let warnings = r["warnings"].as_array().cloned().unwrap_or_default();
    if warnings.is_empty() {
        line("warnings", "none".into());
    }
    for w in warnings {
        line("warning", s(&w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_a_range_or_one_frame() {
        assert_eq!(parse_frames("1-48"), Ok((1, 48)));
        assert_eq!(parse_frames("7"), Ok((7, 7)));
        assert!(parse_frames("9-3").is_err());
        assert!(parse_frames("a-3").is_err());
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
